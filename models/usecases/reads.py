"""Read commands as use cases, run through `bot.door.read` (read-only): `/成员`,
`/申诉列表`, `/未报` (SPEC §2, §4).

    members(s, TeamRead)       -> Roster
    appeals(s, TeamRead)       -> list[OpenAppeal]
    missing(s, MissingRead)    -> list[(Agent, [Gap])]
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..appeals import open_appeal_rows
from ..nudges import Gap, missing_on
from ..roster import Agent, team_roster
from ..tables import Member, Team
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


@dataclass(frozen=True)
class Roster:
    team_name: str
    members: list[MemberView]


def members(s: Session, req: TeamRead, policy: Policy) -> Roster:
    team = s.get(Team, req.team_id)
    assert team is not None
    people = [
        MemberView(m.name, m.user_id, m.role, m.joined_on, m.left_on)
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
