"""/帮助 and /考核表: generated from the command table and the rubric, so they never drift.
They read nothing stored: each handler returns its text, and the dispatcher answers it
without opening a session (`bot.dispatch`)."""

from fractions import Fraction

from bot.commands import COMMANDS, plugin_meta, rubric_commands, self_report_examples, usages
from bot.context import Ctx
from bot.dispatch import kpi_command
from bot.parse import Args, clip_echo
from bot.runtime import rubric_now
from bot.targets import actor_of
from models.scoring import fmt_points, fmt_signed

__plugin_meta__ = plugin_meta("帮助", "命令说明与考核表", usages("help", "rubric"))


@kpi_command(COMMANDS["help"], anywhere=True)
def help_cmd(ctx: Ctx, args: Args) -> str:
    rub = rubric_now()  # the version in force this month (the dispatcher just read it)
    from_rubric = [c for _, c in rubric_commands(rub)]
    if args.words:
        word = args.words[0].lstrip("/").lower()
        for c in [*COMMANDS.values(), *from_rubric]:
            if word in {n.lower() for n in c.names}:
                return f"{c.title}\n{c.does}"
        return f"❌ 没有命令 {clip_echo(args.words[0])}。发 /帮助 查看全部命令\n用法：/帮助 [命令]"
    if ctx.binding is None and ctx.group_id is not None:
        examples = "、".join(self_report_examples(rub))
        return (
            "本群还没有绑定团队。群主或超级管理员发 /绑定 新团队名 即可开始使用；"
            "要加入已有团队，请超级管理员或该团队的主管来绑定。\n"
            f"绑定后：客服用 {examples} 自报；主管用 /扣分 @某人 项目 登记。"
        )
    lines = ["📖 KPI 机器人命令（/帮助 命令名 看详细用法）", "【自报】"]
    lines += [c.title for c in from_rubric if c.role != "supervisor"]
    lines += [c.usage for c in COMMANDS.values() if c.group == "客服" and c.alias != "help"]
    lines.append("【主管】")
    lines += [c.usage for c in COMMANDS.values() if c.group == "主管"]
    lines.append("快捷：" + " ".join(f"/{c.name}" for c in from_rubric if c.role == "supervisor"))
    lines.append("【管理】")
    lines += [c.usage for c in COMMANDS.values() if c.group == "管理"]
    lines.append(f"月份可写 2026-11、202611、十一月、本月、上个月；{_naming(ctx)}")
    lines.append(
        "回复某人的消息再发命令（如 /投诉 回复慢），就是对这个人；先贴截图再写命令也算证据"
    )
    return "\n".join(lines)


@kpi_command(COMMANDS["rubric"])
def rubric_cmd(ctx: Ctx, args: Args) -> str:
    rub = rubric_now()
    lines = [f"📑 {rub.name}（满分 100，版本 {rub.version[:8]}）"]
    for cat in rub.categories:
        lines.append(f"【{cat.name} {fmt_points(Fraction(cat.max))}分】")
        parts = []
        for i in rub.items_of(cat.key):
            if i.points is not None:
                unit = f"/{i.unit}" if i.unit != "次" else ""
                fine = "+罚款" if i.fine else ""
                parts.append(f"{i.name}{fmt_signed(Fraction(i.points))}{unit}{fine}")
            else:
                parts.append(f"{i.label} {i.target}{i.unit}={fmt_points(Fraction(i.weight))}分")
        lines.append(" · ".join(parts))
    grades = " ".join(f"{g.name}≥{fmt_points(Fraction(g.min))}" for g in rub.grades)
    lines.append(f"等级：{grades}")
    return "\n".join(lines)


def _naming(ctx: Ctx) -> str:
    """How people are named on this platform (SPEC §2): QQ numbers only where they exist,
    roster names everywhere; no @ where an @ never reaches the bot (WeCom)."""
    actor = actor_of(ctx)
    if not actor.mentions:
        return "指定某人请写成员名单上的名字（@ 不会传给机器人）"
    return "@某人 也可写 QQ 号或成员姓名" if actor.typed_ids else "@某人 也可写成员姓名"
