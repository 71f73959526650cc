"""Supervisors log deductions, bonuses and fines, revoke entries and read the audit log:
/扣分 /加分 and the rubric's shortcuts (/投诉 /严重投诉 /迟到 …), /撤销, /审计 (SPEC §3).
The rules are `models.usecases.marks`; here the message becomes its request and the
result its reply."""

from fractions import Fraction

from bot.commands import COMMANDS, plugin_meta, rubric_commands, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import Call, kpi_command, rubric_command
from bot.format import cat_line, entry_points, item_name, local_time
from bot.parse import Args, note_of
from bot.replies import Part, at
from bot.runtime import rubric, rubric_now
from bot.targets import actor_of, entry_ref, people_of
from models.ledger import Refused
from models.periods import parse_period
from models.rubric import Item, Rubric
from models.scoring import MemberScore, fmt_points, fmt_signed, fmt_total
from models.usecases.audit import AuditLine, AuditRead, audit_log
from models.usecases.marks import (
    Marked,
    MarkRequest,
    Revoked,
    RevokeRequest,
    cap_bite,
    mark,
    revoke,
)


def _marks(ctx: Ctx, args: Args, item: Item | None, sign: int) -> Call:
    """`/扣分 /加分` and the shortcuts: the request of `models.usecases.marks.mark`."""
    request = MarkRequest(
        team_id=ctx.team_id,
        actor=actor_of(ctx),
        words=tuple(args.tokens),
        sign=sign,
        item_key=item.key if item is not None else None,
        people=people_of(ctx),
        quoted=ctx.quoted_user_id,
        source=ctx.message_key,
    )
    return Call(mark, request, _marked)


def _marked(done: Marked) -> str:
    rub = done.rubric or rubric_now()  # the month's rules (a backdated mark: its month's)
    item, quantity = done.item, done.quantity
    when = "本月" if done.current else f"{done.period} "
    times = f" ×{quantity}" if quantity != 1 else ""
    lines = []
    for one in done.lines:
        e = one.entry
        line = (
            f"✅ #{e.id} {one.member_name} {item_name(rub, item.key)}{times} {entry_points(rub, e)}"
            f"（{when}{cat_line(one.score, item.category)}，总分 {fmt_total(one.score.total)}）"
        )
        line += _cap_note(rub, one.score, item, quantity)
        if one.repeat_of is not None:
            line += (
                f"\n⚠ 2 分钟内已给 {one.member_name} 登记过{item.name}（#{one.repeat_of}），"
                f"如是重复请 /撤销 #{e.id}"
            )
        lines.append(line)
    return "\n".join(lines)


# (a bonus?, the end that cut it, cut whole?) → the warning, by category name and what counted
_CAP_NOTES = {
    (True, "top", True): "{c}已满分，这次加分不改变得分",
    (True, "top", False): "{c}满分 {max}，这次实际 {gained}",
    (True, "floor", True): "{c}仍低于 0 分（按 0 分计），这次加分不改变得分",
    (True, "floor", False): "{c}原低于 0 分（按 0 分计），这次实际 {gained}",
    (False, "top", True): "{c}加分超出满分的部分抵掉了这次扣分，得分不变",
    (False, "top", False): "{c}加分超出满分的部分抵掉一部分，这次实际 {gained}",
    (False, "floor", True): "{c}已扣到 0 分，这次扣分不改变得分",
    (False, "floor", False): "{c}最低 0 分，这次实际 {gained}",
}


def _cap_note(rub: Rubric, score: MemberScore, item: Item, quantity: int | Fraction) -> str:
    """SPEC §3 "Replies in plain words": a bonus or deduction that the category's cap (or
    its floor of 0) makes ineffective, or partly, says so, naming the end that cut it."""
    bite = cap_bite(rub, score, item, quantity)
    if bite is None:
        return ""
    c = score.category(item.category)
    note = _CAP_NOTES[bite.meant > 0, bite.end, bite.gained == 0]
    return "\n⚠ " + note.format(c=c.name, max=fmt_points(c.max), gained=fmt_signed(bite.gained))


@kpi_command(COMMANDS["deduct"])
def deduct(ctx: Ctx, args: Args) -> Call:
    return _marks(ctx, args, None, -1)


@kpi_command(COMMANDS["bonus"])
def bonus(ctx: Ctx, args: Args) -> Call:
    return _marks(ctx, args, None, +1)


@rubric_command(lambda cmd: cmd.role == "supervisor")
def _shortcut_of(item: Item):
    """The handler of a deduction or bonus item's own commands (`/迟到`), for any rubric
    version."""

    def _handle(ctx: Ctx, args: Args) -> Call:
        return _marks(ctx, args, item, 1 if item.is_bonus else -1)

    return _handle


SHORTCUTS = [(i, c) for i, c in rubric_commands(rubric()) if c.role == "supervisor"]


@kpi_command(COMMANDS["revoke"])
def revoke_cmd(ctx: Ctx, args: Args) -> Call:
    ref, words = entry_ref(ctx, args.words, "请写要撤销的编号，例如 /撤销 #123 录错了")
    reason = note_of(" ".join(words), limit=200, what="原因")
    return Call(revoke, RevokeRequest(ctx.team_id, actor_of(ctx), ref, reason), revoked_parts)


def revoked_parts(done: Revoked) -> list[Part] | str:
    """The reply to `/撤销`; one that accepts an appeal tells the agent by @ (SPEC §4), and
    the dashboard's 受理 posts it in the group."""
    rub = rubric_now()
    e = done.entry
    item = rub.item(e.item_key)
    line = (
        f"✅ 已撤销 #{e.id} {done.member_name} {item_name(rub, e.item_key)} {entry_points(rub, e)}"
    )
    if done.reason:
        line += f"（原因：{done.reason}）"
    if item is not None:
        line += f"\n{e.period} {cat_line(done.score, item.category)}，总分 {fmt_total(done.score.total)}"
    if not done.appeal_accepted:
        return line
    who = at(done.member_user_id, done.member_name)
    return [line + "\n", who, f"你对 #{e.id} 的申诉已受理，扣分已撤销"]


@kpi_command(COMMANDS["audit"])
def audit_cmd(ctx: Ctx, args: Args) -> Call:
    tz = get_config().tz
    period = parse_period(args.words[0], tz) if args.words else None
    if args.words and period is None:
        raise Refused(f"月份 {args.words[0]} 无效，可写 2026-11、202611、十一月、本月、上月")
    rub = rubric_now()
    names = {i.key: item_name(rub, i.key) for i in rub.items}

    def reply(found: list[AuditLine]) -> str:
        if not found:
            return f"{period} 没有操作记录" if period else "还没有操作记录"
        lines = [f"🧾 {period + ' ' if period else ''}最近 {len(found)} 条操作"]
        lines += [f"{local_time(one.at, tz)} {one.said}"[:160] for one in found]
        return "\n".join(lines)

    return Call(audit_log, AuditRead(ctx.team_id, period, names), reply)


__plugin_meta__ = plugin_meta(
    "主管登记",
    "扣分、加分、罚款、撤销、审计",
    [*usages("deduct", "bonus"), *(c.usage for _, c in SHORTCUTS), *usages("revoke", "audit")],
)
