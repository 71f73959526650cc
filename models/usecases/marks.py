"""Supervisors' marks: deductions, bonuses and fines (`/扣分 /加分` and the rubric's
shortcuts), and revoking an entry (`/撤销`, which also accepts its open appeal) (SPEC §3, §4).

    mark(s, MarkRequest)     -> Marked    one entry per person named, all or none
    revoke(s, RevokeRequest) -> Revoked
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy.orm import Session

from .. import ledger
from ..appeals import accept_for_entry
from ..ledger import Refused, ensure_open, get_entry, month_score, recent_same, write_entry
from ..periods import current_period, looks_like_period, parse_period, utcnow
from ..rights import SELF_MARK, SELF_REVOKE, refuse_self
from ..roster import account_on
from ..rubric import Item, Rubric
from ..scoring import MemberScore
from ..settlement import rules_in_force
from ..tables import Member
from ..words import find_fines, is_number, looks_numeric, note_of, parse_days
from .base import (
    Actor,
    EntryRef,
    Person,
    Policy,
    Word,
    entry_id_of,
    require_supervisor,
)
from .targets import Where, name_them, not_an_agent, resolve, where_for

REPEAT_SECONDS = 120  # SPEC §3: the same mark again within this is probably sent twice


@dataclass(frozen=True)
class EntryView:
    """An entry as a reply shows it (plain values)."""

    id: int
    member_id: int
    item_key: str
    quantity: int | Fraction
    fine_cents: int
    period: str


@dataclass(frozen=True)
class MarkRequest:
    team_id: int
    actor: Actor
    words: tuple[Word, ...]  # after the command: targets, item, count or fine, note, month
    sign: int  # -1 a deduction, +1 a bonus
    item_key: str | None = None  # fixed by a rubric shortcut (`/迟到`), else named in `words`
    people: Mapping[str, Person] = field(default_factory=dict)  # looked up by the chat layer
    quoted: str | None = None  # the sender of the message replied to
    source: str | None = None  # the chat message's key (`Entry.source`)
    # A note given apart from the words (the web's form): the words then hold the targets,
    # the count or fine and the month only, so nothing in the note is read as one of them.
    note: str | None = None


@dataclass(frozen=True)
class MarkLine:
    entry: EntryView
    member_name: str
    score: MemberScore  # the member's month with this entry
    repeat_of: int | None  # the same mark by the same person within 2 minutes


@dataclass(frozen=True)
class Marked:
    item: Item
    period: str
    current: bool  # `period` is this month
    quantity: int | Fraction
    lines: list[MarkLine]
    rubric: Rubric | None = None  # the month's rules the lines were scored with


def mark(s: Session, req: MarkRequest, policy: Policy) -> Marked:
    """Log the item for every person named; all or none (SPEC §3)."""
    p = policy
    rub = p.rubric
    speaker = require_supervisor(s, req.team_id, req.actor, p)
    sign = req.sign
    item = rub.item(req.item_key) if req.item_key else None
    valid = [i for i in rub.supervisor_items() if (i.points or 0) * sign > 0]

    def names_item(w: Word) -> bool:
        return item is None and rub.find_item(w.norm) is not None

    words, named = _without_item(list(req.words), None if item is not None else names_item)
    where = where_for(req, p)
    found = resolve(s, where, words, is_end=names_item)
    targets, used = found.members, found.used
    rest = words[used:]
    if later := [w for w in rest if w.mention is not None]:
        # SPEC §3: an @ after the item, the count or the note is a target all the same
        # (and a reply's quoted sender stands in only when nobody is named at all)
        more = resolve(s, where, later, found=found).members
        first = targets if used else []
        targets = first + [m for m in more if all(m.id != x.id for x in first)]
        rest = [w for w in rest if w.mention is None]
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
        raise Refused(_no_target(where, item, list(req.words), rest, named))
    refuse_self(req.actor.key, speaker.id if speaker else None, targets, SELF_MARK)
    people = req.people
    if bad := [
        f"{m.name} 是{why}"
        for m in targets
        if (why := not_an_agent(m, found, people, p.admins_are_supervisors))
    ]:
        raise Refused(f"{'；'.join(bad)}，不参与考核。本次没有记录任何内容")
    period, quantity, fine_cents, note = split_rest(
        item, rest, rub.limits.supervisor_max_quantity, rub.limits.fine_max, p
    )
    if req.note is not None:
        if note:  # a form field that is not a count, fine or month
            raise Refused(f"看不懂“{note}”：次数写整数，罚款写金额（元），月份写 2026-11")
        note = note_of(req.note)
    now_period = current_period(p.tz)
    period = period or now_period
    if period > now_period:
        raise Refused(f"不能登记未来的月份 {period}")
    ensure_open(s, req.team_id, period)
    month_rubric, month_base = rules_of(s, p, req.team_id, period)
    lines = []
    for m in targets:
        now = utcnow()
        values = {
            "team_id": req.team_id,
            "member_id": m.id,
            "period": period,
            "item_key": item.key,
            "quantity": quantity,
            "fine_cents": fine_cents,
            "link": None,
            "note": note,
            "image_url": None,
            "image_file": None,
            "created_at": now,
            "created_by": req.actor.key,
            "created_by_name": req.actor.name,
            "source": req.source,
        }
        entry_id = write_entry(s, values, req.actor.channel)
        score = month_score(s, month_rubric, req.team_id, m.id, period, month_base)
        first = recent_same(s, entry_id, values, now - timedelta(seconds=REPEAT_SECONDS))
        view = EntryView(entry_id, m.id, item.key, quantity, fine_cents, period)
        lines.append(MarkLine(view, m.name, score, first))
    return Marked(item, period, period == now_period, quantity, lines, month_rubric)


def rules_of(s: Session, p: Policy, team_id: int, period: str) -> tuple[Rubric, Decimal | None]:
    """The rubric and base of a team's month: `p` holds this month's (`bot.runtime.in_force`);
    an earlier month has its own (its snapshot once settled, else its version), as the
    settlement scores it."""
    if period == current_period(p.tz):
        return p.rubric, p.commission_base
    rub, base = p.fallback or (p.rubric, p.commission_base)
    return rules_in_force(s, team_id, period, rub, base)


def score_in_month(s: Session, p: Policy, team_id: int, member_id: int, period: str) -> MemberScore:
    """A member's month as a write's reply shows it, under that month's own rules
    (`rules_of`): a backdated mark or a revoke of an earlier entry included."""
    rub, base = rules_of(s, p, team_id, period)
    return month_score(s, rub, team_id, member_id, period, base)


def _no_target(
    where: Where, item: Item, typed: list[Word], rest: list[Word], named: Word | None
) -> str:
    """Why a mark names nobody, as helpfully as the words allow: a number where numbers name
    no one (official QQ, Feishu, WeCom); a word typed before the item (`/扣分 老王 迟到`),
    which can only have been meant as a name; else how to name people here."""
    ask = name_them(where, f"要登记{item.name}的人")
    first = next((w for w in rest if w.mention is None and w.norm), None)
    if first is None:
        return ask
    if looks_numeric(first.norm) and not where.typed_ids:
        return f"本平台不能用号码指定人（没有 QQ 号）。{ask}"
    if named is not None and first in typed and typed.index(first) < typed.index(named):
        return f"“{first.norm}”不是成员名单上的名字。{ask}"
    return ask


def split_rest(
    item: Item, words: list[Word], max_qty: int, fine_max: Decimal, policy: Policy
) -> tuple[str | None, int | Fraction, int, str | None]:
    """After the targets (and the item): a count (or, for a fine item, the fine), a note, and
    a month anywhere. For a fine item the first number is the fine, even one that could
    also read as a month (`100000`, `202611` yuan): its month is written as a month
    (`2026-11`, `11月`, `上月`), and such a word before the fine does not hide it. An item
    without a fine refuses one marked as money (SPEC §3, decided)."""
    words = list(words)
    quantity: int | Fraction = 1
    fine_cents, words = _fine_of(item, words, fine_max, policy)
    first = words[0].text if words else None
    if not item.fine and first is not None:
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
    period = None
    rest = []
    for w in words:
        if looks_like_period(w.norm):
            period = parse_period(w.norm, policy.tz)
            if period is None:
                raise Refused(f"月份 {w.text} 无效")
        else:
            rest.append(w)
    if fine_cents is None:
        raise Refused(f"{item.name}需要写罚款金额（元），例如 200")
    note = note_of(" ".join(w.text for w in rest))
    return period, quantity, fine_cents, note


def _fine_of(
    item: Item, words: list[Word], fine_max: Decimal, policy: Policy
) -> tuple[int | None, list[Word]]:
    """The fine among the words, in cents (None: a fine item without one), and the words
    without it. SPEC §1: yuan with at most two decimals, 0–`fine_max`; SPEC §3, decided:
    one fine per command, and only on an item that takes one."""
    months = [looks_like_period(w.norm) and not is_number(w.norm) for w in words]
    bare_at = months.index(False) if item.fine and False in months else None
    found = find_fines([w.text for w in words], bare_at)
    said = [" ".join(w.text for w in words[start:end]) for start, end, _ in found]
    if found and not item.fine:
        takes = "、".join(i.name for i in policy.rubric.supervisor_items() if i.fine)
        where = f"要罚款请用{takes}" if takes else "考核表里没有带罚款的项目"
        raise Refused(f"{item.name}不带罚款，没有登记（收到 {said[0]}）。{where}")
    if len(found) > 1:
        raise Refused(f"写了 {len(found)} 个罚款金额（{'、'.join(said)}），请只写一个")
    if not found:
        return None if item.fine else 0, words
    [(start, end, money)] = found
    if not 0 <= money <= fine_max:
        raise Refused(f"罚款金额必须在 0–{fine_max} 元之间，收到 {said[0]}")
    if money * 100 % 1:
        raise Refused(f"罚款金额最多两位小数（到分），收到 {said[0]}")
    return int(money * 100), words[:start] + words[end:]


def _without_item(words: list[Word], names_item) -> tuple[list[Word], Word | None]:
    """SPEC §3 "What people type": the item may come anywhere. When the command does not fix
    it (`/扣分`), the first word naming one, taken out of the words."""
    if names_item is not None:
        for i, w in enumerate(words):
            if w.mention is None and names_item(w):
                return words[:i] + words[i + 1 :], w
    return words, None


@dataclass(frozen=True)
class CapBite:
    """What the category's cap or floor did to a mark (SPEC §3, decided: said with ⚠)."""

    meant: Fraction  # points × quantity
    gained: Fraction  # what the category's score changed by
    end: str  # "top": it is (still) above its max; "floor": it is (still) below 0


def cap_bite(
    rub: Rubric, score: MemberScore, item: Item, quantity: int | Fraction
) -> CapBite | None:
    """How the category's cap or its floor of 0 cut a mark of `item` × `quantity` (None when
    it counts in full), and which end did: a bonus on a category below 0 before the floor
    is cut by the floor, not by the cap; a deduction after bonuses above the max by the
    cap, not by the floor."""
    c = score.category(item.category)
    base = c.max if rub.category(item.category).kind == "deduction" else Fraction(0)
    after = base + sum((i.points for i in c.items), Fraction(0))
    meant = Fraction(item.points or 0) * quantity
    gained = _within(after, c.max) - _within(after - meant, c.max)
    if gained == meant:
        return None
    if meant > 0:
        end = "top" if after > c.max else "floor"
    else:
        end = "floor" if after < 0 else "top"
    return CapBite(meant, gained, end)


def _within(x: Fraction, top: Fraction) -> Fraction:
    return max(Fraction(0), min(top, x))


# ---- /撤销 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokeRequest:
    team_id: int
    actor: Actor
    entry_id: int | EntryRef
    reason: str | None = None


@dataclass(frozen=True)
class Revoked:
    entry: EntryView
    member_name: str
    member_user_id: str | None  # their account on the speaker's platform, to @
    reason: str | None
    score: MemberScore  # the member's month without the entry
    appeal_accepted: bool  # it had an open appeal, accepted by this revoke


def revoke(s: Session, req: RevokeRequest, policy: Policy) -> Revoked:
    """Revoke an entry of the team (a supervisor, never their own: SPEC §2); an open appeal
    against it is accepted (SPEC §4)."""
    p = policy
    speaker = require_supervisor(s, req.team_id, req.actor, p)
    wanted = entry_id_of(s, req.team_id, req.entry_id)
    entry = get_entry(s, wanted)
    if entry is None or entry.team_id != req.team_id:
        raise Refused(f"本团队没有 #{wanted}")
    member = s.get(Member, entry.member_id)
    assert member is not None
    refuse_self(req.actor.key, speaker.id if speaker else None, [member], SELF_REVOKE)
    ledger.revoke(s, entry, req.actor.key, req.actor.name, req.reason, req.actor.channel)
    appeal = accept_for_entry(s, entry, req.actor.key, req.reason, req.actor.channel)
    score = score_in_month(s, p, req.team_id, entry.member_id, entry.period)
    handle = account_on(s, member, req.actor.platform)
    return Revoked(_view(entry), member.name, handle, req.reason, score, appeal is not None)


def _view(entry) -> EntryView:
    return EntryView(
        entry.id, entry.member_id, entry.item_key, entry.quantity, entry.fine_cents, entry.period
    )
