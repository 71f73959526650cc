"""Who has not reported today, and what each still lacks this month (SPEC §4 nudges)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .ledger import MonthTallies, month_tallies
from .periods import day_bounds_utc
from .roster import Agent, agents_on
from .rubric import Rubric
from .tables import Entry, Team


@dataclass
class Gap:
    label: str
    unit: str
    remaining: int
    stake: Fraction  # points still to earn

    def __str__(self) -> str:
        return f"{self.remaining} {self.unit}{self.label}"


async def missing_reports(
    session: AsyncSession,
    rubric: Rubric,
    team_id: int,
    day: date,
    tz: ZoneInfo,
    tallies: MonthTallies | None = None,
) -> list[tuple[Agent, list[Gap]]]:
    return await session.run_sync(missing_on, rubric, team_id, day, tz, tallies)


def missing_on(
    session: Session,
    rubric: Rubric,
    team_id: int,
    day: date,
    tz: ZoneInfo,
    tallies: MonthTallies | None = None,
) -> list[tuple[Agent, list[Gap]]]:
    """Active agents with no self-report on `day`, each with their largest gaps this month.

    `tallies`: the month's tallies when the caller already has them (the dashboard)."""
    selfs = rubric.self_items()
    start, end = day_bounds_utc(day, tz)
    reported = set(
        session.execute(
            select(Entry.member_id).where(
                Entry.team_id == team_id,
                Entry.item_key.in_([i.key for i in selfs]),
                Entry.revoked_at.is_(None),
                Entry.created_at >= start,
                Entry.created_at < end,
            )
        ).scalars()
    )
    agents = [m for m in agents_on(session, team_id, day) if m.id not in reported]
    if tallies is None:
        tallies = month_tallies(session, team_id, day.strftime("%Y-%m"))
    targets = [(item, Fraction(item.weight) / item.target) for item in selfs if item.target]
    out = []
    for m in agents:
        mine = tallies.tallies.get(m.id) or {}
        gaps = []
        for item, per_unit in targets:
            done = mine[item.key].quantity if item.key in mine else 0
            if done < item.target:
                left = item.target - done
                gaps.append(Gap(item.label, item.unit, left, per_unit * left))
        gaps.sort(key=lambda g: -g.stake)
        out.append((m, gaps))
    return out


def claim_reminder(session: Session, team_id: int, day: date) -> bool:
    """Mark today's reminder as sent for the team; False if it already was (exactly once)."""
    res = session.execute(
        update(Team)
        .where(
            Team.id == team_id,
            (Team.last_reminded_on.is_(None)) | (Team.last_reminded_on < day),
        )
        .values(last_reminded_on=day)
    )
    return res.rowcount == 1
