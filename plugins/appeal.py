"""Appeals: /申诉 (agents), /驳回 and /申诉列表 (supervisors); /撤销 accepts (SPEC §4)."""

from __future__ import annotations

from bot.commands import COMMANDS, plugin_meta, usages
from bot.context import Ctx
from bot.dispatch import kpi_command
from bot.format import entry_points, item_name
from bot.linkcheck import flag_appeal_parts
from bot.parse import Args, note_of
from bot.replies import Mention, Part
from bot.runtime import rubric
from bot.targets import named_entry
from models.appeals import close_appeal, file_appeal, open_appeal_of, open_appeals
from models.ledger import Refused, entry_by_id
from models.linkcheck import appeal_flag
from models.rights import SELF_APPEAL, refuse_self
from models.roster import supervisors
from models.tables import Entry, Member

__plugin_meta__ = plugin_meta(
    "申诉", "客服对扣分申诉，主管驳回或撤销", usages("appeal", "reject", "appeals")
)


async def _team_entry(s, ctx: Ctx, entry_id: int) -> Entry:
    entry = await entry_by_id(s, entry_id)
    if entry is None or entry.team_id != ctx.team_id:
        raise Refused(f"本团队没有 #{entry_id}")
    return entry


@kpi_command(COMMANDS["appeal"])
async def appeal_cmd(ctx: Ctx, args: Args) -> list[Part] | None:
    s = ctx.s
    entry_id, words = await named_entry(ctx, s, args.words)
    reason = note_of(" ".join(words), limit=300, what="申诉理由")
    if not reason:
        raise Refused("请写申诉理由")
    if ctx.member is None:
        raise Refused(f"#{entry_id} 不是你的记录，只能对自己的扣分申诉")
    rub = rubric()
    entry = await _team_entry(s, ctx, entry_id)
    member_id = ctx.member.id
    if await s.run_sync(
        lambda t: appeal_flag(t, ctx.team_id, entry_id, member_id, reason, ctx.actor)
    ):
        return flag_appeal_parts(entry_id, reason, await supervisors(s, ctx.team_id))
    await file_appeal(s, rub, entry, ctx.member.id, reason, ctx.actor)
    bosses = await supervisors(s, ctx.team_id)
    parts: list[Part] = [
        f"✅ 已提交对 #{entry.id} {item_name(rub, entry.item_key)} {entry_points(rub, entry)} 的申诉"
        f"（理由：{reason}）\n"
    ]
    if bosses:
        parts.append("请主管处理：")
        parts += [Mention(b.user_id) for b in bosses]
    else:
        parts.append("请群主或管理员处理")
    parts.append(f"\n同意：/撤销 #{entry.id}；驳回：/驳回 #{entry.id} 理由")
    return parts


@kpi_command(COMMANDS["reject"])
async def reject_cmd(ctx: Ctx, args: Args) -> list[Part] | None:
    s = ctx.s
    entry_id, words = await named_entry(ctx, s, args.words)
    reason = note_of(" ".join(words), limit=300, what="驳回理由")
    entry = await _team_entry(s, ctx, entry_id)
    appeal = await open_appeal_of(s, entry.id)
    if appeal is None:
        raise Refused(f"#{entry_id} 没有待处理的申诉")
    member = await s.get(Member, appeal.member_id)
    refuse_self(ctx.actor, ctx.member.id if ctx.member else None, [member], SELF_APPEAL)
    await close_appeal(s, appeal, "rejected", ctx.actor, reason)
    why = f"（{reason}）" if reason else ""
    return [
        f"✅ 已驳回 #{entry.id} 的申诉{why}\n",
        Mention(member.user_id),
        f"你对 #{entry.id} 的申诉已被驳回，扣分保留",
    ]


@kpi_command(COMMANDS["appeals"])
async def appeals_cmd(ctx: Ctx, args: Args) -> str:
    rub = rubric()
    s = ctx.s
    rows = await open_appeals(s, ctx.team_id)
    names = {m.id: m.name for m in [await s.get(Member, a.member_id) for a, _ in rows]}
    if not rows:
        return "✅ 没有待处理的申诉"
    lines = [f"📮 待处理申诉 {len(rows)} 条："]
    for a, e in rows:
        lines.append(
            f"#{e.id} {names[a.member_id]} {item_name(rub, e.item_key)} {entry_points(rub, e)}"
            f" 理由：{a.reason}"
        )
    lines.append("同意：/撤销 #编号；驳回：/驳回 #编号 理由")
    return "\n".join(lines)
