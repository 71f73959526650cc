"""Logging a self-report (SPEC §3 Agents): the hot path of the bot, so it is written with
as few statements as the rules allow, in SQLAlchemy Core (no ORM objects loaded).

Inside the caller's write transaction (writes of the team already serialised, see
`bot.db`), after the message was claimed:

1. one SELECT reads everything the rules need: is the month settled, is the link already
   logged in the team (and by which entry), how many reports and units the agent has
   logged for the item today (daily caps);
2. one INSERT … RETURNING writes the entry; one INSERT writes its audit row;
3. one SELECT (`GROUP BY item` over the covering index, one member) gives the month's
   score for the reply.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, insert, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from .ledger import Refused, closed_month, member_month_score
from .rubric import Item, Rubric
from .scoring import MemberScore
from .tables import AuditLog, Entry, Settlement


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
    day_start: datetime  # the agent's local day, naive UTC bounds (daily caps)
    day_end: datetime
    actor: str
    source: str


@dataclass(frozen=True)
class Logged:
    entry_id: int
    score: MemberScore
    done: int  # the item's quantity this month, this report included


async def log_self_report(
    session: AsyncSession, rubric: Rubric, r: SelfReport, base: Decimal | None
) -> Logged:
    """Check the rules, write the entry and its audit row, return the month's score."""
    status, duplicate, reports, units = (await session.execute(_checks(r))).one()
    if status == "settled":
        raise Refused(closed_month(r.period))
    if duplicate is not None:
        raise Refused(f"该链接已在 #{duplicate} 记录过")
    item = r.item
    if item.daily_cap is not None and reports >= item.daily_cap:
        raise Refused(
            f"{item.label}每人每天最多报 {item.daily_cap} 次，你今天已报 {reports} 次（{units}{item.unit}）"
        )
    if item.daily_cap_units is not None and units + r.quantity > item.daily_cap_units:
        raise Refused(
            f"{item.label}每人每天最多 {item.daily_cap_units}{item.unit}，你今天已报 {units}{item.unit}"
        )
    entry_id = (
        await session.execute(
            insert(Entry)
            .values(
                team_id=r.team_id,
                member_id=r.member_id,
                period=r.period,
                item_key=item.key,
                quantity=r.quantity,
                fine_cents=0,
                link=r.link,
                note=r.note,
                image_url=r.image_url,
                image_file=r.image_file,
                created_at=r.at,
                created_by=r.actor,
                created_by_name=r.member_name,
                source=r.source,
            )
            .returning(Entry.id)
        )
    ).scalar_one()
    after = {
        "member_id": r.member_id,
        "item": item.key,
        "quantity": r.quantity,
        "fine_cents": 0,
        "period": r.period,
        "by": r.member_name,
    }
    await session.execute(
        insert(AuditLog).values(
            team_id=r.team_id,
            at=r.at,
            actor=r.actor,
            action="entry.create",
            target=f"#{entry_id}",
            after=json.dumps(after, ensure_ascii=False),
        )
    )
    score = await member_month_score(session, rubric, r.team_id, r.member_id, r.period, base)
    return Logged(entry_id, score, score.item(item.key).quantity)


def _checks(r: SelfReport):
    """One row: (settlement status, first active entry with the link, reports, units today)."""
    status = (
        select(Settlement.status)
        .where(Settlement.team_id == r.team_id, Settlement.period == r.period)
        .scalar_subquery()
    )
    duplicate = (
        select(func.min(Entry.id))
        .where(Entry.team_id == r.team_id, Entry.link == r.link, Entry.revoked_at.is_(None))
        .scalar_subquery()
        if r.link is not None
        else literal(None)
    )
    today = and_(
        Entry.member_id == r.member_id,
        Entry.item_key == r.item.key,
        Entry.revoked_at.is_(None),
        Entry.created_at >= r.day_start,
        Entry.created_at < r.day_end,
    )
    reports = select(func.count(Entry.id)).where(today).scalar_subquery()
    units = select(func.coalesce(func.sum(Entry.quantity), 0)).where(today).scalar_subquery()
    return select(status, duplicate, reports, units)
