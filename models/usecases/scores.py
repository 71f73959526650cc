"""Reading scores as use cases, run through `bot.door.read` (read-only): `/我的绩效`
`/绩效` (one member's card), `/排行` (the team's ranking), `/明细` (one member's entries)
(SPEC §3, §4). Plain values out: the chat layer words them and never sees a row.

    card(s, CardRead)            -> Card          /我的绩效 (and an agent's /绩效)
    card_of(s, TargetRead)       -> Card          /绩效 @某人 [月份]
    ranking(s, RankRead)         -> Ranking       /排行
    details_of(s, TargetRead)    -> NamedDetails  /明细 @某人 [月份]
    preview(s, RankRead)         -> Preview       /月报 [月份]

The rules a month is scored with are its own (`models.settlement.rules_in_force`, its
snapshot once settled), with `rubric` and `base` (the file's and KPI_COMMISSION_BASE) as
the fallback: the request carries them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..appeals import appeal_states_of, open_appeal_rows
from ..ledger import Ranked, Refused, month_counts_of, settlement_row
from ..linkcheck import preview_lines
from ..periods import current_period, parse_period
from ..rubric import Rubric
from ..scoring import MemberScore
from ..settlement import member_score, month_scores, rules_in_force
from ..tables import Entry, Member, Settlement
from .base import Policy, Word
from .targets import Where, name_them, resolve


@dataclass(frozen=True)
class EntryRow:
    """An entry as `/我的绩效` and `/明细` show it (plain values, the fields of `Entry` the
    replies read)."""

    id: int
    created_at: datetime
    item_key: str
    quantity: int | Fraction
    fine_cents: int
    note: str | None
    link: str | None
    created_by_name: str | None
    revoked_at: datetime | None
    revoked_by_name: str | None
    revoke_reason: str | None
    member_id: int = 0


def entry_row(e: Entry) -> EntryRow:
    return EntryRow(
        e.id,
        e.created_at,
        e.item_key,
        e.quantity,
        e.fine_cents,
        e.note,
        e.link,
        e.created_by_name,
        e.revoked_at,
        e.revoked_by_name,
        e.revoke_reason,
        e.member_id,
    )


def _entries(s: Session, team_id: int, member_id: int, period: str) -> list[EntryRow]:
    rows = s.execute(
        select(Entry)
        .where(Entry.team_id == team_id, Entry.member_id == member_id, Entry.period == period)
        .order_by(Entry.id)
    ).scalars()
    return [entry_row(e) for e in rows]


@dataclass(frozen=True)
class Named:
    """A member as a reply names them."""

    id: int
    name: str


@dataclass(frozen=True)
class CardRead:
    team_id: int
    member_id: int
    period: str
    rubric: Rubric  # the fallback rules (the file's), see the module docstring
    base: Decimal | None


@dataclass(frozen=True)
class Card:
    rubric: Rubric
    member: Named
    period: str
    score: MemberScore
    entries: list[EntryRow]


def _settled(s: Session, team_id: int, period: str) -> Settlement | None:
    st = settlement_row(s, team_id, period)
    return st if st is not None and st.status == "settled" else None


def card(s: Session, req: CardRead, policy: Policy) -> Card:
    """One member's month as everyone reads it (`models.settlement.member_score`: the
    stored row once settled, else live)."""
    member = s.get(Member, req.member_id)
    assert member is not None
    rub, score = member_score(s, req.team_id, req.member_id, req.period, req.rubric, req.base)
    entries = _entries(s, req.team_id, req.member_id, req.period)
    return Card(rub, Named(member.id, member.name), req.period, score, entries)


@dataclass(frozen=True)
class RankRead:
    team_id: int
    period: str
    rubric: Rubric
    base: Decimal | None


@dataclass(frozen=True)
class Ranking:
    rubric: Rubric
    ranking: list[Ranked]


def ranking(s: Session, req: RankRead, policy: Policy) -> Ranking:
    """The month's ranking as everyone reads it (SPEC §4 "a settled month is read from its
    stored scores"), else live from its entries (`models.settlement.month_scores`)."""
    rub, ranked, _ = month_scores(s, req.team_id, req.period, req.rubric, req.base)
    return Ranking(rub, ranked)


@dataclass(frozen=True)
class Details:
    rubric: Rubric
    entries: list[EntryRow]
    appeals: dict[int, str]  # entry id → the state of its latest appeal


def details(s: Session, req: CardRead, policy: Policy) -> Details:
    rub, _ = rules_in_force(s, req.team_id, req.period, req.rubric, req.base)
    entries = _entries(s, req.team_id, req.member_id, req.period)
    states = appeal_states_of(s, req.team_id, req.period, req.member_id) if entries else {}
    return Details(rub, entries, states)


def month_of(words: list[str], tz: tzinfo) -> str:
    """The month named in `words` (default: this month in `tz`)."""
    for w in words:
        if (p := parse_period(w, tz)) is not None:
            return p
    if words:
        raise Refused(f"月份 {words[0]} 无效，可写 2026-11、202611、十一月、本月、上月")
    return current_period(tz)


@dataclass(frozen=True)
class TargetRead:
    """`/绩效 @某人 [月份]`, `/明细 @某人 [月份]`: one person named, then maybe a month."""

    where: Where
    words: tuple[Word, ...]
    rubric: Rubric
    base: Decimal | None


def _one_target(
    s: Session, req: TargetRead, policy: Policy, *, agents_only: bool = False
) -> CardRead:
    """The person a supervisor's read names (people who left included; nobody registered)
    and the month after them; `agents_only`: a supervisor is refused, as their own
    `/我的绩效` is (they are not scored)."""
    found = resolve(s, req.where, req.words, register=False, allow_left=True)
    if len(found.members) != 1:
        raise Refused(name_them(req.where, "一个人"))
    [member] = found.members
    if agents_only and member.role == "supervisor":
        raise Refused(f"{member.name} 是主管，不参与考核")
    rest = [w.text for w in req.words[found.used :] if w.mention is None]
    period = month_of(rest, policy.tz)
    return CardRead(req.where.team_id, member.id, period, req.rubric, req.base)


def card_of(s: Session, req: TargetRead, policy: Policy) -> Card:
    """`/绩效 @某人 [月份]` (an agent's)."""
    return card(s, _one_target(s, req, policy, agents_only=True), policy)


@dataclass(frozen=True)
class NamedDetails:
    member: Named
    period: str
    details: Details


def details_of(s: Session, req: TargetRead, policy: Policy) -> NamedDetails:
    """`/明细 @某人 [月份]`."""
    one = _one_target(s, req, policy)
    member = s.get(Member, one.member_id)
    assert member is not None
    return NamedDetails(Named(member.id, member.name), one.period, details(s, one, policy))


@dataclass(frozen=True)
class Preview:
    """`/月报`: the month's ranking, whether it is settled, its counts by item, the ids of
    its open appeals' entries, and the lines of its link checks."""

    rubric: Rubric
    ranking: list[Ranked]
    settled: bool
    counts: dict[str, int]
    appeal_entry_ids: list[int]
    link_lines: list[str]


def preview(s: Session, req: RankRead, policy: Policy) -> Preview:
    r = ranking(s, req, policy)
    names = {i.key: i.name for i in r.rubric.items}
    return Preview(
        r.rubric,
        r.ranking,
        _settled(s, req.team_id, req.period) is not None,
        month_counts_of(s, req.team_id, req.period),
        [e.id for _, e in open_appeal_rows(s, req.team_id, req.period)],
        preview_lines(s, req.team_id, req.period, names),
    )
