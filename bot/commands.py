"""Every built-in chat command, in one table: plugins register from it, `/帮助` is generated
from it, and rubric validation keeps rubric commands from shadowing it (SPEC §3)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Literal

from nonebot.plugin import PluginMetadata

from models.rubric import Item, Rubric
from models.scoring import fmt_signed

Role = Literal["anyone", "member", "supervisor", "owner", "superuser"]


@dataclass(frozen=True)
class Cmd:
    name: str
    alias: str
    usage: str
    does: str
    role: Role = "member"
    group: str = "客服"
    extra: tuple[str, ...] = ()  # more names (a rubric item may list several commands)
    writes: bool = False  # runs in one write transaction that claims the message (dispatch)

    @property
    def names(self) -> set[str]:
        return {self.name, self.alias, *self.extra}

    @property
    def title(self) -> str:
        """The usage line with the English alias: `/软文 <链接> [平台或备注]（/article）`."""
        return self.usage if self.alias == self.name else f"{self.usage}（/{self.alias}）"


_ALL = [
    # agents
    Cmd("报", "report", "/报 <项目> [数量] [链接或备注]", "自报任一推广项目"),
    Cmd("撤回", "undo", "/撤回 [#编号]", "撤回自己刚报的记录（限时）"),
    Cmd("我的绩效", "me", "/我的绩效 [月份]", "查看自己的绩效"),
    Cmd("排行", "rank", "/排行 [月份]", "团队排行"),
    Cmd("考核表", "rubric", "/考核表", "查看当前考核表"),
    Cmd("帮助", "help", "/帮助 [命令]", "命令说明", role="anyone"),
    Cmd("申诉", "appeal", "/申诉 #编号 <理由>", "对扣分提出申诉"),
    Cmd("后台", "dashboard", "/后台", "网页后台的一次性登录链接（私聊发给你）"),
    # supervisors
    Cmd(
        "扣分",
        "deduct",
        "/扣分 @某人… <项目> [次数] [备注] [月份]",
        "登记扣分",
        "supervisor",
        "主管",
    ),
    Cmd(
        "加分",
        "bonus",
        "/加分 @某人… <项目> [次数] [备注] [月份]",
        "登记加分",
        "supervisor",
        "主管",
    ),
    Cmd("撤销", "revoke", "/撤销 #编号 [原因]", "撤销本团队任一记录", "supervisor", "主管"),
    # SPEC §3: anyone may ask; an agent's /绩效 without a target is their own (plugins/scores)
    Cmd("绩效", "score", "/绩效 @某人 [月份]", "查看某人绩效（客服：自己的）", "member", "主管"),
    Cmd("明细", "detail", "/明细 @某人 [月份]", "某人的全部记录", "supervisor", "主管"),
    Cmd("月报", "monthly", "/月报 [月份]", "预览月报（不结算）", "supervisor", "主管"),
    Cmd("结算", "settle", "/结算 [月份]", "立即结算已结束的月份并播报", "supervisor", "主管"),
    Cmd("导出", "export", "/导出 [月份]", "导出 Excel", "supervisor", "主管"),
    Cmd("入职", "join", "/入职 @某人 [姓名]", "登记新成员", "supervisor", "主管"),
    Cmd("离职", "leave", "/离职 @某人", "成员离职（保留历史）", "supervisor", "主管"),
    Cmd("成员", "members", "/成员", "成员名单", "member", "主管"),
    Cmd("未报", "missing", "/未报 [日期]", "今天还没报的人", "supervisor", "主管"),
    Cmd("驳回", "reject", "/驳回 #编号 [理由]", "驳回申诉", "supervisor", "主管"),
    Cmd("申诉列表", "appeals", "/申诉列表", "未处理的申诉", "supervisor", "主管"),
    Cmd("提醒", "remind", "/提醒 HH:MM|关闭", "设置每日未报提醒", "supervisor", "主管"),
    Cmd("审计", "audit", "/审计 [月份]", "最近的操作记录", "supervisor", "主管"),
    Cmd(
        "核查",
        "linkcheck",
        "/核查 [月份]",
        "核查链接：已删除、重复截图、重复文章",
        "supervisor",
        "主管",
    ),
    Cmd("保留", "keep", "/保留 #编号 [备注]", "核实后保留被标记的记录", "supervisor", "主管"),
    Cmd(
        "提成基数",
        "base",
        "/提成基数 <金额>|默认",
        "本团队的提成基数（从本月起）",
        "supervisor",
        "主管",
    ),
    # owners / superusers
    Cmd("主管", "promote", "/主管 @某人", "设为主管", "owner", "管理"),
    Cmd("取消主管", "demote", "/取消主管 @某人", "取消主管", "owner", "管理"),
    Cmd(
        "绑定",
        "bind",
        "/绑定 [团队名]",
        "把本群绑定到团队（新团队：群主；已有团队：超级管理员或该团队主管）",
        "anyone",
        "管理",
    ),
    Cmd("解绑", "unbind", "/解绑", "解除本群绑定", "owner", "管理"),
    Cmd(
        "关联",
        "link",
        "/关联 [关联码 @某人或姓名]",
        "同一个人的另一个平台账号算作一人：本人在新账号发 /关联 取码，超级管理员发 /关联 码 姓名",
        "member",
        "管理",
    ),
    Cmd(
        "取消关联", "unlink", "/取消关联 @某人或姓名", "取消某人关联的其他账号", "superuser", "管理"
    ),
    Cmd("重开", "reopen", "/重开 <月份>", "重开已结算的月份", "superuser", "管理"),
    Cmd(
        "重发",
        "resend",
        "/重发 [月份]",
        "重发中断或失败的月报（先到群里确认没收到）",
        "superuser",
        "管理",
    ),
    Cmd("状态", "status", "/状态", "机器人运行状态：数据库、账号、备份、月报", "anyone", "管理"),
]

WRITES = {
    *("report", "undo", "appeal", "deduct", "bonus", "revoke", "settle", "join", "leave"),
    *("reject", "remind", "promote", "demote", "bind", "unbind", "reopen", "resend"),
    *("dashboard", "base", "keep"),
    *("link", "unlink"),
}
_ALL = [replace(c, writes=c.alias in WRITES) for c in _ALL]
COMMANDS: dict[str, Cmd] = {c.alias: c for c in _ALL}
RESERVED: frozenset[str] = frozenset(n.lower() for c in _ALL for n in c.names)

# SPEC §3 "What people type": words people use for a command, answered with the command's
# usage (`❓ 是不是 /排行？`); not commands themselves.
SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("排名", "排行榜", "榜单", "排位", "ranking"), "排行"),
    **dict.fromkeys(("我的积分", "我的业绩", "我的分数", "我的成绩", "我的排名"), "我的绩效"),
    **dict.fromkeys(("查绩效", "查分", "积分", "业绩", "成绩", "分数", "得分"), "我的绩效"),
    **dict.fromkeys(("命令", "菜单", "说明"), "帮助"),
}


def rubric_commands(rubric: Rubric) -> list[tuple[Item, Cmd]]:
    """The chat commands the rubric's items define (SPEC §1: adding a channel or a penalty
    is an edit of the TOML). One place builds their usage lines, for registering and help."""
    out = []
    for item in rubric.items:
        if not item.commands:
            continue
        head, *more = item.commands
        alias = more[0] if more else head
        if rubric.who_logs(item) == "self":
            arg = {"link": "<链接> [平台或备注]", "count": f"<{item.unit}数> [备注]"}
            usage = f"/{head} {arg.get(item.evidence, '[备注]')}"
            does = f"自报{item.name}（目标 {item.target}{item.unit}/月）"
            cmd = Cmd(head, alias, usage, does, extra=tuple(more[1:]), writes=True)
        else:
            points = fmt_signed(Fraction(item.points))
            if item.fine:
                usage, does = f"/{head} @某人 <罚款金额> [备注]", f"{item.name} {points} 并罚款"
            else:
                usage = f"/{head} @某人… [{item.unit}数] [备注] [月份]"
                does = f"{item.name} {points}/{item.unit}"
            cmd = Cmd(head, alias, usage, does, "supervisor", "主管", tuple(more[1:]), True)
        out.append((item, cmd))
    return out


def self_report_examples(rubric: Rubric) -> list[str]:
    """`/软文 链接`, `/加好友 个数`, `/朋友圈`: the rubric's first self-report command of each
    kind of evidence, for replies and help that show how to report (a company rubric that
    renames or drops a command is never advertised with the old one). `/报 项目` when the
    rubric gives self-report items no command."""
    seen: dict[str, str] = {}
    for item, cmd in rubric_commands(rubric):
        if cmd.role != "supervisor" and item.evidence not in seen:
            arg = {"link": " 链接", "count": f" {item.unit}数"}.get(item.evidence, "")
            seen[item.evidence] = f"/{cmd.name}{arg}"
    return list(seen.values()) or ["/报 项目"]


def plugin_meta(name: str, description: str, usages: list[str]) -> PluginMetadata:
    """Every plugin's `__plugin_meta__`; `/帮助` reads the same command table."""
    return PluginMetadata(
        name=name,
        description=description,
        usage="\n".join(usages),
        type="application",
        supported_adapters={"~onebot.v11", "~onebot.v12"},
    )


def usages(*keys: str) -> list[str]:
    return [COMMANDS[k].usage for k in keys]
