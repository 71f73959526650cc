"""Appeals: /申诉 (agents), /驳回 and /申诉列表 (supervisors); /撤销 accepts (SPEC §4)."""

from __future__ import annotations

from bot.commands import COMMANDS, plugin_meta, usages
from bot.context import Ctx
from bot.dispatch import Call, kpi_command
from bot.format import entry_points, item_name
from bot.linkcheck import flag_appeal_parts
from bot.parse import Args, note_of
from bot.replies import Part, at
from bot.runtime import rubric_now
from bot.targets import actor_of, entry_ref
from models.usecases.appeals import AppealRequest, Filed, Rejected, RejectRequest, file, reject
from models.usecases.reads import OpenAppeal, TeamRead, appeals

__plugin_meta__ = plugin_meta(
    "申诉", "客服对扣分申诉，主管驳回或撤销", usages("appeal", "reject", "appeals")
)


@kpi_command(COMMANDS["appeal"])
def appeal_cmd(ctx: Ctx, args: Args) -> Call:
    ref, words = entry_ref(ctx, args.words)
    reason = note_of(" ".join(words), limit=300, what="申诉理由")
    return Call(file, AppealRequest(ctx.team_id, actor_of(ctx), ref, reason), filed_parts)


def filed_parts(done: Filed) -> list[Part]:
    """The reply to `/申诉`, asking the supervisors by @ (SPEC §4); an appeal filed on the
    dashboard posts the same in the group (`plugins.web.acts.file_appeal`)."""
    rub = rubric_now()
    e = done.entry
    if done.flag:
        return flag_appeal_parts(e.id, done.reason, done.supervisors)
    parts: list[Part] = [
        f"✅ 已提交对 #{e.id} {item_name(rub, e.item_key)} {entry_points(rub, e)} 的申诉"
        f"（理由：{done.reason}）\n"
    ]
    if done.supervisors:
        parts.append("请主管处理：")
        parts += [at(uid, name) for uid, name in done.supervisors]
    else:
        parts.append("请群主或管理员处理")
    parts.append(f"\n同意：/撤销 #{e.id}；驳回：/驳回 #{e.id} 理由")
    return parts


@kpi_command(COMMANDS["reject"])
def reject_cmd(ctx: Ctx, args: Args) -> Call:
    ref, words = entry_ref(ctx, args.words)
    reason = note_of(" ".join(words), limit=300, what="驳回理由")
    return Call(reject, RejectRequest(ctx.team_id, actor_of(ctx), ref, reason), rejected_parts)


def rejected_parts(done: Rejected) -> list[Part]:
    """The reply to `/驳回`, telling the agent by @; the dashboard's 驳回 posts the same."""
    why = f"（{done.reason}）" if done.reason else ""
    return [
        f"✅ 已驳回 #{done.entry_id} 的申诉{why}\n",
        at(done.member_user_id, done.member_name),
        f"你对 #{done.entry_id} 的申诉已被驳回，扣分保留",
    ]


@kpi_command(COMMANDS["appeals"])
def appeals_cmd(ctx: Ctx, args: Args) -> Call:
    return Call(appeals, TeamRead(ctx.team_id), _open_appeals)


def _open_appeals(rows: list[OpenAppeal]) -> str:
    if not rows:
        return "✅ 没有待处理的申诉"
    rub = rubric_now()
    lines = [f"📮 待处理申诉 {len(rows)} 条："]
    for a in rows:
        e = a.entry
        lines.append(
            f"#{e.id} {a.member_name} {item_name(rub, e.item_key)} {entry_points(rub, e)}"
            f" 理由：{a.reason}"
        )
    lines.append("同意：/撤销 #编号；驳回：/驳回 #编号 理由")
    return "\n".join(lines)
