"""Entries and the month's scores, aggregated in SQL (SPEC §1, §3, §4)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import String, bindparam, cast, delete, func, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .periods import utcnow
from .quantity import as_quantity
from .roster import Agent, agents_scored, audit, audit_values
from .rubric import Rubric
from .scoring import MemberScore, Tally, score_member, shown_total
from .tables import AuditLog, Entry, ProcessedMessage, Settlement


class Refused(Exception):
    """A request the user must be told ❌ about. Raised, the transaction is rolled back:
    nothing was written. A use case may also *return* a refusal after writing an audit row
    of the attempt (`/绑定` to a team one may not join): that row is kept."""


MAX_ID = 2**31 - 1  # ids are 32-bit on PostgreSQL; a larger number names no row


def get_entry(session: Session, entry_id: int) -> Entry | None:
    """The entry `#entry_id`, or None (also for numbers no id can have)."""
    if not 0 < entry_id <= MAX_ID:
        return None
    return session.get(Entry, entry_id)


def claim_message(session: Session, key: str | None) -> bool:
    """Record that a chat message is handled; False if it already was (a redelivery, or
    another process got it first: SPEC §5 "Several processes").

    The first statement of every write unit, and a transaction of its own for a command
    that reads or was refused: INSERT … ON CONFLICT DO NOTHING."""
    if not key:
        return True
    conn = session.connection()
    claim = _CLAIM[conn.dialect.name]
    return conn.execute(claim, {"key": key, "created_at": utcnow()}).rowcount == 1


def release_message(session: Session, key: str) -> None:
    """Withdraw a claim made on its own (`claim_message`) for a command that then failed
    unexpectedly: the same message delivered again is handled again."""
    session.execute(delete(ProcessedMessage).where(ProcessedMessage.key == key))


_CLAIM = {
    # preserve_rowcount: the rowcount of an INSERT is kept whatever the driver (psycopg)
    name: dialect.insert(ProcessedMessage.__table__)
    .on_conflict_do_nothing()
    .execution_options(preserve_rowcount=True)
    for name, dialect in (("sqlite", sqlite), ("postgresql", postgresql))
}


def settlement_row(session: Session, team_id: int, period: str) -> Settlement | None:
    return session.execute(
        select(Settlement).where(Settlement.team_id == team_id, Settlement.period == period)
    ).scalar_one_or_none()


def closed_month(period: str) -> str:
    return f"{period} 已结算，不能再修改（如需更正请超级管理员 /重开 {period}）"


def refuse_if_settled(status: str | None, period: str) -> None:
    """SPEC §6: a settled month changes only after `/重开`; `status` is its settlement's."""
    if status == "settled":
        raise Refused(closed_month(period))


def month_status(session: Session, team_id: int, period: str) -> str | None:
    """The status of the team's settlement of `period` (None: never settled)."""
    return session.execute(
        select(Settlement.status).where(Settlement.team_id == team_id, Settlement.period == period)
    ).scalar_one_or_none()


def ensure_open(session: Session, team_id: int, period: str) -> None:
    """Refused when the team's month is settled (the one month-open rule; the self-report
    reads the same status in its one SELECT, `models.reports`)."""
    refuse_if_settled(month_status(session, team_id, period), period)


def entry_ids_from(session: Session, team_id: int, source: str) -> list[int]:
    """The entries of the team that one chat message created (its `source` key), oldest
    first: several when a supervisor named several people."""
    q = select(Entry.id).where(Entry.team_id == team_id, Entry.source == source)
    return list(session.execute(q.order_by(Entry.id)).scalars())


def recent_same(session: Session, entry_id: int, values: dict, since: datetime) -> int | None:
    """The first entry since `since`, not revoked, by the same person, about the same
    member, item and month as the entry just written (a mark logged twice in a row, SPEC
    §3; the same mark for another month is no repeat)."""
    q = select(func.min(Entry.id)).where(
        Entry.team_id == values["team_id"],
        Entry.member_id == values["member_id"],
        Entry.item_key == values["item_key"],
        Entry.period == values["period"],
        Entry.created_by == values["created_by"],
        Entry.created_at >= since,
        Entry.revoked_at.is_(None),
        Entry.id != entry_id,
    )
    return session.execute(q).scalar_one_or_none()


def last_entry_by(session: Session, team_id: int, actor: str) -> Entry | None:
    """The newest entry `actor` wrote in the team that is not revoked."""
    return session.execute(
        select(Entry)
        .where(Entry.team_id == team_id, Entry.created_by == actor, Entry.revoked_at.is_(None))
        .order_by(Entry.id.desc())
        .limit(1)
    ).scalar_one_or_none()


ENTRY_KEYS = [
    "team_id",
    "member_id",
    "period",
    "item_key",
    "quantity",
    "fine_cents",
    "link",
    "note",
    "image_url",
    "image_file",
    "created_at",
    "created_by",
    "created_by_name",
    "source",
]


def write_entry(session: Session, values: dict, channel: str = "群聊") -> int:
    """The one writer of an entry and its audit row (SPEC §6): `values` has every key of
    `ENTRY_KEYS`; returns the new entry's id. Nothing is loaded into the session (the
    self-report hot path uses it too): on PostgreSQL one statement (the entry's INSERT in a
    WITH, the audit row's INSERT taking its id), elsewhere two INSERTs."""
    conn = session.connection()
    after = {
        "member_id": values["member_id"],
        "item": values["item_key"],
        "quantity": values["quantity"],
        "fine_cents": values["fine_cents"],
        "period": values["period"],
        "by": values["created_by_name"],
    }
    row = audit_values(
        values["team_id"], values["created_by"], "entry.create", "", None, after, channel,
        at=values["created_at"],
    )  # fmt: skip
    audit = {f"a_{k}": v for k, v in row.items() if k != "target"}  # the target: the new id
    entry = {k: values[k] for k in ENTRY_KEYS}
    if conn.dialect.name == "postgresql":
        return conn.execute(_INSERT_BOTH, {**entry, **audit}).scalar_one()
    [(entry_id,)] = conn.execute(_INSERT_ENTRY, entry).all()
    conn.execute(_INSERT_AUDIT, {**audit, "a_target": f"#{entry_id}"})
    return entry_id


def _inserts():
    audit = AuditLog.__table__
    columns = ["team_id", "at", "actor", "action", "target", "before", "after", "channel"]
    entry = insert(Entry.__table__).returning(Entry.__table__.c.id)
    one_audit = insert(audit).values({c: bindparam(f"a_{c}") for c in columns})
    table = Entry.__table__
    made = (
        insert(table)
        .values({k: bindparam(k, type_=table.c[k].type) for k in ENTRY_KEYS})
        .returning(table.c.id)
        .cte("made")
    )
    # On PostgreSQL: the audit row's target is the id the entry's INSERT returned.
    values = [bindparam(f"a_{c}", type_=audit.c[c].type) for c in columns if c != "target"]
    target = literal("#") + cast(made.c.id, String)
    rows = select(*values[:4], target, *values[4:]).select_from(made)
    both = (
        insert(audit)
        .from_select(columns, rows)
        .returning(select(made.c.id).scalar_subquery())
        .add_cte(made)
    )
    return entry, one_audit, both


_INSERT_ENTRY, _INSERT_AUDIT, _INSERT_BOTH = _inserts()


def revoke(
    session: Session,
    entry: Entry,
    actor: str,
    actor_name: str,
    reason: str | None,
    channel: str = "群聊",
) -> None:
    """Revoke `entry` (SPEC §3): refused when it already is, or its month is settled."""
    if entry.revoked_at is not None:
        raise Refused(f"#{entry.id} 已被撤销过了（{entry.revoked_by_name}）")
    ensure_open(session, entry.team_id, entry.period)
    entry.revoked_at = utcnow()
    entry.revoked_by = actor
    entry.revoked_by_name = actor_name
    entry.revoke_reason = reason
    session.add(entry)
    audit(
        session,
        entry.team_id,
        actor,
        "entry.revoke",
        f"#{entry.id}",
        {"revoked": False},
        {"revoked": True, "reason": reason},
        channel,
    )


@dataclass
class MonthTallies:
    tallies: dict[int, dict[str, Tally]]
    fines: dict[int, int]  # cents


def tally_query(team_id, periods, member_id=None, *, by=Entry.member_id):
    """The one month-tally query (SPEC §1): (`by`, item, Σ quantity, entries, Σ fine cents)
    of a team's month (or months, a list), revoked entries excluded, grouped by `by` (the
    member, or the period for one member's trend) and item; the covering index
    `ix_entry_month_tally` answers it. Values or `bindparam`s."""
    months = (
        Entry.period.in_(periods) if isinstance(periods, list | tuple) else Entry.period == periods
    )
    q = select(
        by,
        Entry.item_key,
        func.sum(Entry.quantity),
        func.count(Entry.id),
        func.sum(Entry.fine_cents),
    ).where(Entry.team_id == team_id, months, Entry.revoked_at.is_(None))
    if member_id is not None:
        q = q.where(Entry.member_id == member_id)
    return q.group_by(by, Entry.item_key)


def read_tallies(rows) -> tuple[dict, dict]:
    """Rows of `tally_query` as ({key: {item: Tally}}, {key: fine cents})."""
    tallies: dict = defaultdict(dict)
    fines: dict = defaultdict(int)
    for key, item, qty, n, fine in rows:
        tallies[key][item] = Tally(as_quantity(qty), int(n))
        fines[key] += int(fine or 0)
    return tallies, fines


def month_tallies(
    session: Session, team_id: int, period: str, member_id: int | None = None
) -> MonthTallies:
    """Σ quantity, count and fines per member and item — one GROUP BY, revoked excluded.

    Pending changes of the session (an entry just revoked) are flushed first: they count."""
    session.flush()
    conn = session.connection()
    if member_id is None:
        rows = conn.execute(tally_query(team_id, period))
    else:
        params = {"team_id": team_id, "period": period, "member_id": member_id}
        rows = conn.execute(MEMBER_TALLY, params)
    return MonthTallies(*read_tallies(rows))


# One member's month: (member, item, Σ quantity, entries, Σ fine cents) per item.
MEMBER_TALLY = tally_query(bindparam("team_id"), bindparam("period"), bindparam("member_id"))


def _score(rubric: Rubric, mt: MonthTallies, member_id: int, base: Decimal | None) -> MemberScore:
    return score_member(
        rubric,
        mt.tallies.get(member_id, {}),
        Fraction(mt.fines.get(member_id, 0), 100),
        base,
    )


def month_score(
    session: Session,
    rubric: Rubric,
    team_id: int,
    member_id: int,
    period: str,
    base: Decimal | None,
) -> MemberScore:
    """One member's score of the month (one GROUP BY)."""
    return _score(rubric, month_tallies(session, team_id, period, member_id), member_id, base)


@dataclass(slots=True)
class Ranked:
    rank: int
    member: Agent
    score: MemberScore


def rank(scored: list[tuple[Agent, MemberScore]]) -> list[Ranked]:
    """Highest total first; equal shown totals share a rank (1, 2, 2, 4): 81.5 and 81.45
    both read 81.5, so they are one place (SPEC §4, `shown_total`)."""
    keyed = [(shown_total(s.total), m, s) for m, s in scored]
    keyed.sort(key=lambda t: (-t[0], t[1].name, t[1].id))
    out: list[Ranked] = []
    for i, (shown, m, s) in enumerate(keyed):
        r = out[-1].rank if out and keyed[i - 1][0] == shown else i + 1
        out.append(Ranked(r, m, s))
    return out


TALLY_BATCH = 20000  # grouped rows fetched at a time while scoring a whole team


def _tallies_by_member(
    session: Session, team_id: int, period: str
) -> Iterator[tuple[int, dict[str, Tally], int]]:
    """(member id, tallies, fine cents) of each member with entries, in member order.

    The month's GROUP BY member, item is streamed in member order (`yield_per`), so only
    one member's tallies are held at a time however large the team (revoked excluded).
    """
    stmt = tally_query(team_id, period).order_by(Entry.member_id)
    rows = session.execute(stmt, execution_options={"yield_per": TALLY_BATCH})
    current, tallies, fines = None, {}, 0
    for part in rows.partitions():
        for mid, key, qty, n, fine in part:
            if mid != current:
                if current is not None:
                    yield current, tallies, fines
                current, tallies, fines = mid, {}, 0
            tallies[key] = Tally(as_quantity(qty), int(n))
            fines += int(fine or 0)
    if current is not None:
        yield current, tallies, fines


def month_ranking(
    session: Session, rubric: Rubric, team_id: int, period: str, base: Decimal | None
) -> list[Ranked]:
    """Every scored agent of the month, ranked. Agents are plain values and tallies are
    streamed, so 10,000 agents / 1,000,000 entries score in little memory."""
    agents = {a.id: a for a in agents_scored(session, team_id, period)}
    scores: dict[int, MemberScore] = {}
    for mid, tallies, fines in _tallies_by_member(session, team_id, period):
        if mid in agents:
            scores[mid] = score_member(rubric, tallies, Fraction(fines, 100), base)
    return rank(
        [(a, scores.pop(a.id, None) or score_member(rubric, {}, 0, base)) for a in agents.values()]
    )


def month_counts_of(session: Session, team_id: int, period: str) -> dict[str, int]:
    """Item key → the month's entries of it (revoked excluded)."""
    rows = session.execute(
        select(Entry.item_key, func.count(Entry.id))
        .where(Entry.team_id == team_id, Entry.period == period, Entry.revoked_at.is_(None))
        .group_by(Entry.item_key)
    )
    return {k: int(n) for k, n in rows.all()}


def categories_json(score: MemberScore) -> str:
    return json.dumps({c.key: f"{c.earned}" for c in score.categories})
