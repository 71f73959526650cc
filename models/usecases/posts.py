"""What the outbox sends, read as plain values through `bot.door.read` (SPEC §4): a monthly
group post (the settled month's stored scores, what a correction changed, the month's
counts, link checks and the appeals that expired with it) or an agent's own breakdown
(KPI_MONTHLY_DM), and whom to tell about a held post. The chat layer words them.

    post_of(s, PostRead)    -> GroupPost | DirectPost
    alert_of(s, AlertRead)  -> Alert

The binding a post goes through is returned as its row: the sender needs it to pick a
bot of the group (`bot.send`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ledger import month_counts_of
from ..linkcheck import month_summary
from ..roster import accounts_on, group_binding, member_row, team_bindings
from ..rubric import Rubric
from ..settlement import Change, changes_of, rubric_of, settled_scores_of, settlement_row
from ..tables import Appeal, Entry, GroupBinding, Member, Settlement, Team
from .base import Policy
from .scores import Card, CardRead, card


@dataclass(frozen=True)
class PostRead:
    team_id: int
    period: str
    platform: str
    group_id: str  # a group's id, or `dm:<user id>` for an agent's own breakdown
    rubric: Rubric  # the fallback rules (the file's), as `scores.RankRead`
    base: Decimal | None


@dataclass(frozen=True)
class StoredRow:
    """One agent's settled row as the post lists it."""

    rank: int
    name: str
    categories: dict[str, str]  # category key → points, as stored
    total: str
    grade: str
    commission_cents: int | None
    fine_cents: int


@dataclass(frozen=True)
class GroupPost:
    binding: GroupBinding | None  # None: the group is no longer bound to the team
    team_name: str
    period: str
    revision: int
    appeals_accepted: int
    rubric: Rubric  # the rules the month was settled with
    rows: list[StoredRow]  # by rank, then name
    counts: dict[str, int]  # item key → the month's entries
    changes: list[Change]  # what a correction (revision > 1) changed
    checked: str | None  # the month's link checks in words, if any were made
    # (entry id, the agent's account on the group's platform or None, name) of appeals that
    # expired with the month
    expired: list[tuple[int, str | None, str]]


@dataclass(frozen=True)
class DirectPost:
    binding: GroupBinding | None  # a group of the team on the agent's platform; None: none
    user_id: str
    card: Card | None  # None: the account is not a member of the team


def post_of(s: Session, req: PostRead, policy: Policy) -> GroupPost | DirectPost:
    settlement = settlement_row(s, req.team_id, req.period)
    assert settlement is not None
    if req.group_id.startswith("dm:"):
        uid = req.group_id[3:]
        same = [b for b in team_bindings(s, req.team_id) if b.platform == req.platform]
        member = member_row(s, req.team_id, req.platform, uid)
        read = (
            CardRead(req.team_id, member.id, req.period, req.rubric, req.base) if member else None
        )
        return DirectPost(
            same[0] if same else None, uid, card(s, read, policy) if read is not None else None
        )
    binding = group_binding(s, req.platform, req.group_id)
    if binding is not None and binding.team_id != req.team_id:
        binding = None
    team = s.get(Team, req.team_id)
    assert team is not None
    scores = settled_scores_of(s, settlement.id)
    rows = [
        StoredRow(
            sc.rank,
            sc.name,
            json.loads(sc.categories),
            sc.total,
            sc.grade,
            sc.commission_cents,
            sc.fine_cents,
        )
        for sc in sorted(scores, key=lambda x: (x.rank, x.name))
    ]
    checked = month_summary(s, req.team_id, req.period)
    return GroupPost(
        binding,
        team.name,
        req.period,
        settlement.revision,
        settlement.appeals_accepted,
        rubric_of(settlement, req.rubric),
        rows,
        month_counts_of(s, req.team_id, req.period),
        changes_of(s, settlement) if settlement.revision > 1 else [],
        checked.text if checked is not None else None,
        expired_in(s, settlement, binding.platform if binding is not None else None),
    )


def expired_in(
    s: Session, settlement: Settlement, platform: str | None
) -> list[tuple[int, str | None, str]]:
    """The appeals that expired when this settlement was made: (entry id, the agent's
    account on `platform` to @ or None, name)."""
    handles = accounts_on(s, settlement.team_id, platform) if platform else {}
    rows = s.execute(
        select(Appeal.entry_id, Member.id, Member.name)
        .join(Entry, Entry.id == Appeal.entry_id)
        .join(Member, Member.id == Appeal.member_id)
        .where(
            Appeal.team_id == settlement.team_id,
            Entry.period == settlement.period,
            Appeal.status == "expired",
            Appeal.closed_by == "system",
            Appeal.closed_at >= settlement.settled_at,
        )
        .order_by(Appeal.id)
    )
    return [(entry_id, handles.get(member_id), name) for entry_id, member_id, name in rows.all()]


@dataclass(frozen=True)
class AlertRead:
    team_id: int
    platform: str
    group_id: str


@dataclass(frozen=True)
class Alert:
    team_name: str
    binding: GroupBinding | None  # a group of the team on the post's platform
    member_name: str | None  # a DM's agent, when still on the roster


def alert_of(s: Session, req: AlertRead, policy: Policy) -> Alert:
    """What a superuser is told of a held post: the team, a bot to tell them through, whom
    a DM was for."""
    team = s.get(Team, req.team_id)
    assert team is not None
    same = [b for b in team_bindings(s, req.team_id) if b.platform == req.platform]
    member = None
    if req.group_id.startswith("dm:"):
        member = member_row(s, req.team_id, req.platform, req.group_id[3:])
    return Alert(team.name, same[0] if same else None, member.name if member else None)
