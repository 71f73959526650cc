"""Supervisors log deductions, bonuses and fines, revoke entries and read the audit log:
/扣分 /加分 and the rubric's shortcuts (/投诉 /严重投诉 /迟到 …), /撤销, /审计 (SPEC §3)."""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from bot.commands import COMMANDS, Cmd, plugin_meta, rubric_commands, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import kpi_command
from bot.format import cat_line, entry_points, item_name, local_time
from bot.parse import Args, Token, find_fine, looks_numeric, note_of, parse_days
from bot.replies import Mention, Part
from bot.runtime import rubric
from bot.targets import named_entry, not_an_agent, resolve_targets
from models.appeals import accept_for_entry
from models.ledger import (
    Refused,
    add_entry,
    ensure_open,
    entry_by_id,
    member_month_score,
    recent_same,
    revoke,
)
from models.periods import (
    current_period,
    looks_like_period,
    month_start_utc,
    parse_period,
    shift_period,
    utcnow,
)
from models.rights import SELF_MARK, SELF_REVOKE, refuse_self
from models.roster import audit_rows, audit_sentences
from models.rubric import Item, Rubric
from models.scoring import MemberScore, fmt_points, fmt_signed, fmt_total
from models.tables import Entry, Member


def _split_rest(item: Item, tokens: list[Token], max_qty: int, fine_max: Decimal):
    """After the targets (and the item): a count (or, for a fine item, the fine), a note, and
    a month anywhere. A first word that is a valid count or fine is one, even if it could
    also read as a month (`100000` yuan); otherwise a month word is the month."""
    words = list(tokens)
    quantity: int | Fraction = 1
    fine_cents, fine_given = 0, False
    first = words[0].text if words else None
    if item.fine:
        found = find_fine([t.text for t in words])
        if found is not None:
            start, end, money = found
            said = " ".join(t.text for t in words[start:end])
            if 0 <= money <= fine_max:
                fine_cents, fine_given = int(money * 100), True
                words = words[:start] + words[end:]
            elif not (start == 0 and looks_like_period(said)):
                raise Refused(f"罚款金额必须在 0–{fine_max} 元之间，收到 {said}")
    elif first is not None:
        n = parse_days(first)
        step = Fraction(item.step) if item.step is not None else Fraction(1)
        if n is not None and step <= n <= max_qty and n % step == 0:
            quantity = n
            words = words[1:]
        elif n is not None and step < 1 and not looks_like_period(first):
            raise Refused(
                f"{item.unit}数必须是 0.5–{max_qty} 之间的整数或半{item.unit}，收到 {first}"
            )
        elif (n is not None or looks_numeric(words[0].norm)) and not looks_like_period(first):
            raise Refused(f"次数必须是 1–{max_qty} 的整数，收到 {first}")
    tz = get_config().tz
    period = None
    rest = []
    for t in words:
        if looks_like_period(t.norm):
            period = parse_period(t.norm, tz)
            if period is None:
                raise Refused(f"月份 {t.text} 无效")
        else:
            rest.append(t)
    if item.fine and not fine_given:
        raise Refused(f"{item.name}需要写罚款金额（元），例如 200")
    note = note_of(" ".join(t.text for t in rest))
    return period, quantity, fine_cents, note


async def log_marks(ctx: Ctx, args: Args, item: Item | None, sign: int) -> str | None:
    """Log `item` (or the item named after the targets) for every person named; all or none."""
    rub = rubric()
    cfg = get_config()
    valid = [i for i in rub.supervisor_items() if (i.points or 0) * sign > 0]
    s = ctx.s

    def names_item(t: Token) -> bool:
        return item is None and rub.find_item(t.norm) is not None

    tokens, named = _without_item(args.tokens, None if item is not None else names_item)
    targets, used = await resolve_targets(ctx, s, tokens, is_end=names_item)
    rest = tokens[used:]
    if later := [t for t in rest if t.mention is not None]:
        # SPEC §3: an @ after the item, the count or the note is a target all the same
        # (and a reply's quoted sender stands in only when nobody is named at all)
        more, _ = await resolve_targets(ctx, s, later)
        first = targets if used else []
        targets = first + [m for m in more if all(m.id != x.id for x in first)]
        rest = [t for t in rest if t.mention is None]
    if item is None:
        if named is not None:
            word, rest = named.text, [named, *rest]
        else:
            word = rest[0].text if rest and rest[0].mention is None else ""
        item = rub.find_item(word) if word else None
        kind = "扣分" if sign < 0 else "加分"
        choices = "、".join(i.name for i in valid)
        if item is None:
            raise Refused(
                f"请写{kind}项目" if not word else f"“{word}”不是{kind}项目。可用：{choices}"
            )
        if rub.who_logs(item) == "self":
            raise Refused(f"{item.name}是客服自报项目，不能{kind}。可用：{choices}")
        if item not in valid:
            raise Refused(f"{item.name}不是{kind}项目。可用：{choices}")
        rest = rest[1:]
    if not targets:
        raise Refused(f"请 @ 要登记{item.name}的人")
    refuse_self(ctx.actor, _own_id(ctx), targets, SELF_MARK)
    if bad := [f"{m.name} 是{why}" for m in targets if (why := not_an_agent(ctx, m))]:
        raise Refused(f"{'；'.join(bad)}，不参与考核。本次没有记录任何内容")
    period, quantity, fine_cents, note = _split_rest(
        item, rest, rub.limits.supervisor_max_quantity, rub.limits.fine_max
    )
    now_period = current_period(cfg.tz)
    period = period or now_period
    if period > now_period:
        raise Refused(f"不能登记未来的月份 {period}")
    await ensure_open(s, ctx.team_id, period)
    lines = []
    for m in targets:
        e = await add_entry(
            s,
            Entry(
                team_id=ctx.team_id,
                member_id=m.id,
                period=period,
                item_key=item.key,
                quantity=quantity,
                fine_cents=fine_cents,
                note=note,
                created_at=utcnow(),
                created_by=ctx.actor,
                created_by_name=ctx.sender_name,
                source=ctx.message_key,
            ),
            ctx.sender_name,
        )
        score = await member_month_score(s, rub, ctx.team_id, m.id, period, cfg.kpi_commission_base)
        when = "本月" if period == now_period else f"{period} "
        times = f" ×{quantity}" if quantity != 1 else ""
        line = (
            f"✅ #{e.id} {m.name} {item_name(rub, item.key)}{times} {entry_points(rub, e)}"
            f"（{when}{cat_line(score, item.category)}，总分 {fmt_total(score.total)}）"
        )
        line += _cap_note(rub, score, item, quantity)
        first = await recent_same(s, e, e.created_at - timedelta(seconds=REPEAT_SECONDS))
        if first is not None:
            line += f"\n⚠ 2 分钟内已给 {m.name} 登记过{item.name}（#{first.id}），如是重复请 /撤销 #{e.id}"
        lines.append(line)
    return "\n".join(lines)


REPEAT_SECONDS = 120  # SPEC §3: the same mark again within this is probably sent twice


def _cap_note(rub: Rubric, score: MemberScore, item: Item, quantity: int | Fraction) -> str:
    """SPEC §3 "Replies in plain words": a bonus or deduction that the category's cap (or
    its floor of 0) makes ineffective, or partly, says so."""
    c = score.category(item.category)
    base = c.max if rub.category(item.category).kind == "deduction" else Fraction(0)
    after = base + sum((i.points for i in c.items), Fraction(0))
    meant = Fraction(item.points or 0) * quantity
    gained = _within(after, c.max) - _within(after - meant, c.max)
    if gained == meant:
        return ""
    if gained == 0 and meant > 0:
        return f"\n⚠ {c.name}已满分，这次加分不改变得分"
    if gained == 0:
        return f"\n⚠ {c.name}已扣到 0 分，这次扣分不改变得分"
    if meant > 0:
        return f"\n⚠ {c.name}满分 {fmt_points(c.max)}，这次实际 {fmt_signed(gained)}"
    return f"\n⚠ {c.name}最低 0 分，这次实际 {fmt_signed(gained)}"


def _within(x: Fraction, top: Fraction) -> Fraction:
    return max(Fraction(0), min(top, x))


def _without_item(
    tokens: list[Token], names_item: Callable[[Token], bool] | None
) -> tuple[list[Token], Token | None]:
    """SPEC §3 "What people type": the item may come anywhere. When the command does not fix
    it (`/扣分`), the first word naming one, taken out of the tokens."""
    if names_item is not None:
        for i, t in enumerate(tokens):
            if t.mention is None and names_item(t):
                return tokens[:i] + tokens[i + 1 :], t
    return tokens, None


def _own_id(ctx: Ctx) -> int | None:
    """The speaker's membership of the group's team, if any (read with the context)."""
    return ctx.member.id if ctx.member is not None else None


@kpi_command(COMMANDS["deduct"])
async def deduct(ctx: Ctx, args: Args) -> str | None:
    return await log_marks(ctx, args, None, -1)


@kpi_command(COMMANDS["bonus"])
async def bonus(ctx: Ctx, args: Args) -> str | None:
    return await log_marks(ctx, args, None, +1)


def _register(item: Item, cmd: Cmd) -> None:
    @kpi_command(cmd)
    async def _handle(ctx: Ctx, args: Args) -> str | None:
        return await log_marks(ctx, args, item, 1 if item.is_bonus else -1)


SHORTCUTS = [(i, c) for i, c in rubric_commands(rubric()) if c.role == "supervisor"]
for _item, _cmd in SHORTCUTS:
    _register(_item, _cmd)


@kpi_command(COMMANDS["revoke"])
async def revoke_cmd(ctx: Ctx, args: Args) -> list[Part] | str | None:
    s = ctx.s
    wanted, words = await named_entry(
        ctx, s, args.words, "请写要撤销的编号，例如 /撤销 #123 录错了"
    )
    reason = note_of(" ".join(words), limit=200, what="原因")
    rub = rubric()
    cfg = get_config()
    entry = await entry_by_id(s, wanted)
    if entry is None or entry.team_id != ctx.team_id:
        raise Refused(f"本团队没有 #{wanted}")
    member = await s.get(Member, entry.member_id)
    refuse_self(ctx.actor, _own_id(ctx), [member], SELF_REVOKE)
    await revoke(s, entry, ctx.actor, ctx.sender_name, reason)
    appeal = await accept_for_entry(s, entry, ctx.actor, reason)
    score = await member_month_score(
        s, rub, ctx.team_id, entry.member_id, entry.period, cfg.kpi_commission_base
    )
    item = rub.item(entry.item_key)
    line = f"✅ 已撤销 #{entry.id} {member.name} {item_name(rub, entry.item_key)} {entry_points(rub, entry)}"
    if reason:
        line += f"（原因：{reason}）"
    if item is not None:
        line += f"\n{entry.period} {cat_line(score, item.category)}，总分 {fmt_total(score.total)}"
    if appeal is None:
        return line
    return [line + "\n", Mention(member.user_id), f"你对 #{entry.id} 的申诉已受理，扣分已撤销"]


@kpi_command(COMMANDS["audit"])
async def audit_cmd(ctx: Ctx, args: Args) -> str:
    tz = get_config().tz
    period = parse_period(args.words[0], tz) if args.words else None
    if args.words and period is None:
        raise Refused(f"月份 {args.words[0]} 无效，可写 2026-11、202611、十一月、本月、上月")
    since = until = None
    if period:
        since, until = month_start_utc(period, tz), month_start_utc(shift_period(period, 1), tz)
    s = ctx.s
    rows = await audit_rows(s, ctx.team_id, since, until)
    if not rows:
        return f"{period} 没有操作记录" if period else "还没有操作记录"
    rub = rubric()
    names = {i.key: item_name(rub, i.key) for i in rub.items}
    lines = [f"🧾 {period + ' ' if period else ''}最近 {len(rows)} 条操作"]
    for r, said in zip(rows, await audit_sentences(s, ctx.team_id, rows, names), strict=True):
        lines.append(f"{local_time(r.at, tz)} {said}"[:160])
    return "\n".join(lines)


__plugin_meta__ = plugin_meta(
    "主管登记",
    "扣分、加分、罚款、撤销、审计",
    [*usages("deduct", "bonus"), *(c.usage for _, c in SHORTCUTS), *usages("revoke", "audit")],
)
