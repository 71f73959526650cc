"""Read commands as use cases, run through `bot.door.read` (read-only): `/成员`,
`/申诉列表`, `/未报` (SPEC §2, §4), `/状态`.

    members(s, TeamRead)       -> Roster
    appeals(s, TeamRead)       -> list[OpenAppeal]
    missing(s, MissingRead)    -> list[(Agent, [Gap])]
    status(s, StatusRead)      -> StatusFacts   `/状态` (SPEC §5)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..appeals import open_appeal_rows
from ..nudges import Gap, missing_on
from ..roster import Agent, team_roster
from ..tables import Member, Post, Team
from .base import Policy
from .marks import EntryView, _view


@dataclass(frozen=True)
class TeamRead:
    team_id: int


@dataclass(frozen=True)
class MemberView:
    name: str
    user_id: str
    role: str
    joined_on: date
    left_on: date | None
    platform: str = "qq"  # of `user_id`: a QQ number on "qq", an openid or userid elsewhere


@dataclass(frozen=True)
class Roster:
    team_name: str
    members: list[MemberView]


def members(s: Session, req: TeamRead, policy: Policy) -> Roster:
    team = s.get(Team, req.team_id)
    assert team is not None
    people = [
        MemberView(m.name, m.user_id, m.role, m.joined_on, m.left_on, m.platform)
        for m in team_roster(s, req.team_id)
    ]
    return Roster(team.name, people)


@dataclass(frozen=True)
class OpenAppeal:
    entry: EntryView
    member_name: str
    reason: str


def appeals(s: Session, req: TeamRead, policy: Policy) -> list[OpenAppeal]:
    rows = open_appeal_rows(s, req.team_id)
    ids = {a.member_id for a, _ in rows}
    names = (
        dict(s.execute(select(Member.id, Member.name).where(Member.id.in_(ids))).all())
        if ids
        else {}
    )
    return [OpenAppeal(_view(e), names[a.member_id], a.reason) for a, e in rows]


@dataclass(frozen=True)
class MissingRead:
    team_id: int
    day: date


def missing(s: Session, req: MissingRead, policy: Policy) -> list[tuple[Agent, list[Gap]]]:
    return missing_on(s, policy.rubric, req.team_id, req.day, policy.tz)


@dataclass(frozen=True)
class StatusRead:
    default_reminder: str | None  # KPI_DAILY_REMINDER
    sqlite: bool  # the database is a file (its size is read from the disk, not here)
    held: tuple[str, ...]  # the states of a post held back (`bot.status.HELD`)


@dataclass(frozen=True)
class StatusFacts:
    """What `/状态` reads from the database (SPEC §5 Operations)."""

    reminders: set[str]  # every team's reminder time in force ("HH:MM")
    held: list[tuple[str, str, str, bool]]  # (team, month, status, to a person) held/failed
    size: int | None  # PostgreSQL's size of the database (None on SQLite)


def status(s: Session, req: StatusRead, policy: Policy) -> StatusFacts:
    values = {t or req.default_reminder for t in s.execute(select(Team.reminder_time)).scalars()}
    rows = s.execute(
        select(Team.name, Post.period, Post.status, Post.group_id)
        .join(Team, Team.id == Post.team_id)
        .where(Post.status.in_(list(req.held)))
        .order_by(Post.period, Team.name)
    ).all()
    size = None if req.sqlite else s.execute(text("SELECT pg_database_size(current_database())"))
    return StatusFacts(
        {v for v in values if v and v != "off"},
        [(t, p, st, g.startswith("dm:")) for t, p, st, g in rows],
        None if size is None else size.scalar(),
    )
