"""Logging a self-report (SPEC §3 Agents): the hot path of the bot, so it is written with
as few statements as the rules allow, in SQLAlchemy Core (no ORM objects loaded).

Inside the caller's write transaction (writes of the team already serialised, see
`bot.door`), after the message was claimed:

1. `read_checks`: one SELECT reads the speaker's membership by account and everything the
   rules need: is the month settled, is the link already logged in the team (and by which
   entry), how many reports and units the agent has logged for the item today (daily
   caps); and, joined to it, the agent's month so far (`GROUP BY item` over the covering
   index, one row per item). An agent's first report finds no member and nothing logged;
2. `log_self_report`: the rules, then the entry and its audit row through the one writer,
   `models.ledger.write_entry`;
3. the month's score for the reply is the month so far plus this entry: nothing else can
   change the agent's month in between (writes of a team run one at a time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import and_, bindparam, func, select, true
from sqlalchemy.orm import Session

from .ledger import Refused, refuse_if_settled, tally_query, write_entry
from .quantity import as_quantity
from .roster import MemberRow, member_key
from .rubric import Item, Rubric
from .scoring import MemberScore, Tally, score_member
from .tables import Entry, Member, Settlement


@dataclass(frozen=True)
class SelfReport:
    """What an agent reported, as plain values."""

    team_id: int
    member_id: int
    member_name: str
    item: Item
    quantity: int
    link: str | None
    note: str | None
    image_url: str | None
    image_file: str | None
    period: str
    at: datetime  # naive UTC
    actor: str
    source: str
    channel: str = "群聊"


@dataclass(frozen=True)
class Logged:
    entry_id: int
    score: MemberScore
    done: int  # the item's quantity this month, this report included


@dataclass(frozen=True)
class Checks:
    """What a self-report's rules read, in one SELECT (`read_checks`)."""

    member: MemberRow | None  # the speaker's membership (any tenure), None before their first
    status: str | None  # the month's settlement's
    duplicate: int | None  # the first active entry of the team with the link
    reports: int  # the agent's reports of the item today (daily caps)
    units: int  # …and their units
    tallies: dict[str, Tally]  # the agent's month so far, per item
    fines: int  # …and its fines, cents


def read_checks(
    session: Session,
    team_id: int,
    account: tuple[str, str],
    item_key: str,
    link: str | None,
    period: str,
    day: tuple[datetime, datetime],
) -> Checks:
    """The speaker (by `account`: platform, user id) and the numbers every rule of their
    report of `item_key` needs, the month `period` so far and `day` (naive UTC bounds of
    their local day), in one statement."""
    params = {
        "team_id": team_id,
        "platform": account[0],
        "user_id": account[1],
        "period": period,
        "link": link,
        "item_key": item_key,
        "day_start": day[0],
        "day_end": day[1],
    }
    rows = session.connection().execute(_CHECKS, params).all()
    first = rows[0]
    member = None if first[0] is None else MemberRow(*first[:_M])
    status, duplicate, reports, units = first[_M : _M + 4]
    tallies = {
        key: Tally(as_quantity(qty), int(n)) for *_, key, qty, n, _fine in rows if key is not None
    }
    fines = sum(int(row[-1] or 0) for row in rows)
    return Checks(member, status, duplicate, int(reports), int(units), tallies, fines)


def log_self_report(
    session: Session, rubric: Rubric, r: SelfReport, base: Decimal | None, checks: Checks
) -> Logged:
    """Check the rules against `checks` (read in this transaction, before the speaker was
    registered if this is their first report), write the entry and its audit row, return
    the month's score.

    A plain function of a `Session`: the dispatcher runs the whole command in one hop
    (`bot.door.write`). Its statements are Core statements, compiled once into
    SQLAlchemy's statement cache: nothing on this path is an ORM object."""
    item = r.item
    reports, units = checks.reports, checks.units
    refuse_if_settled(checks.status, r.period)
    if checks.duplicate is not None:
        raise Refused(f"该链接已在 #{checks.duplicate} 记录过")
    if item.daily_cap is not None and reports >= item.daily_cap:
        raise Refused(
            f"{item.label}每人每天最多报 {item.daily_cap} 次，你今天已报 {reports} 次"
            + ("" if item.unit == "次" else f"（{units}{item.unit}）")
        )
    if item.daily_cap_units is not None and units + r.quantity > item.daily_cap_units:
        raise Refused(
            f"{item.label}每人每天最多 {item.daily_cap_units}{item.unit}，你今天已报 {units}{item.unit}"
        )
    entry = {
        "team_id": r.team_id,
        "member_id": r.member_id,
        "period": r.period,
        "item_key": item.key,
        "quantity": r.quantity,
        "fine_cents": 0,
        "link": r.link,
        "note": r.note,
        "image_url": r.image_url,
        "image_file": r.image_file,
        "created_at": r.at,
        "created_by": r.actor,
        "created_by_name": r.member_name,
        "source": r.source,
    }
    entry_id = write_entry(session, entry, r.channel)
    tallies = dict(checks.tallies)
    before = tallies.get(item.key, Tally())
    tallies[item.key] = Tally(before.quantity + r.quantity, before.entries + 1)
    score = score_member(rubric, tallies, Fraction(checks.fines, 100), base)
    return Logged(entry_id, score, tallies[item.key].quantity)


def _build_checks():
    """(the speaker's member columns, or NULLs; settlement status, first active entry with
    the link, reports and units of the item the agent logged today — a NULL link matches
    nothing), joined to the agent's month so far: (member, item, Σ quantity, entries,
    Σ fine cents) per item, or NULLs when empty."""
    me = member_key(bindparam("team_id"), bindparam("platform"), bindparam("user_id"))
    status = (
        select(Settlement.status)
        .where(Settlement.team_id == bindparam("team_id"), Settlement.period == bindparam("period"))
        .scalar_subquery()
    )
    duplicate = (
        select(func.min(Entry.id))
        .where(
            Entry.team_id == bindparam("team_id"),
            Entry.link == bindparam("link"),
            Entry.revoked_at.is_(None),
        )
        .correlate(None)  # its own `entry`, not the daily count's below
        .scalar_subquery()
    )
    today = and_(
        Entry.member_id == me,
        Entry.item_key == bindparam("item_key"),
        Entry.created_at >= bindparam("day_start"),
        Entry.created_at < bindparam("day_end"),
        Entry.revoked_at.is_(None),
    )
    # One pass over the agent's reports of the item today (index ix_entry_member_day); an
    # aggregate without GROUP BY gives its one row even when there are none.
    rules = (
        select(
            status.label("status"),
            duplicate.label("duplicate"),
            func.count(Entry.id).label("reports"),
            func.coalesce(func.sum(Entry.quantity), 0).label("units"),
        )
        .where(today)
        .subquery("rules")
    )
    month = tally_query(bindparam("team_id"), bindparam("period"), me).subquery("month")
    speaker = select(*Member.__table__.c).where(Member.id == me).subquery("speaker")
    joined = rules.outerjoin(speaker, true()).outerjoin(month, true())
    return select(speaker, rules, month).select_from(joined)


_CHECKS = _build_checks()
_M = len(Member.__table__.c)  # the member's columns come first
