"""`/后台` as a write use case (SPEC §5a): a one-time dashboard login link for the person
asking, stored as its hash (`models.weblogin.new_link`); the link is sent after the
transaction is committed, and withdrawn (`withdraw`) when it could not be delivered.

    dashboard_link(s, LinkRequest) -> Link
    withdraw(s, Withdraw)          -> None
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..rights import is_current
from ..roster import memberships_of
from ..weblogin import drop_link, new_link
from .base import Actor, Policy, speaker


@dataclass(frozen=True)
class LinkRequest:
    actor: Actor
    adapter: str  # the adapter's name, as the web re-checks group rights through it
    team_id: int | None  # the team of the group asked in (or of the private chat)
    group_team_id: int | None  # asked in a group as its owner or admin: that team


@dataclass(frozen=True)
class Link:
    token: str
    login_id: int


def dashboard_link(s: Session, req: LinkRequest, policy: Policy) -> Link:
    """A link for someone the dashboard has a page for (`models.dashboard.viewer_of`): a
    superuser, the owner or admin of the group asked in, or a member of a team whose
    membership has not ended. Refused otherwise, saying when they left if they did."""
    actor = req.actor
    member = speaker(s, req.team_id, actor) if req.team_id is not None else None
    current = any(
        is_current(m, policy.today) for m in memberships_of(s, actor.platform, actor.user_id)
    )
    if not (actor.is_superuser or req.group_team_id is not None or current):
        if member is not None and member.left_on is not None:
            raise Refused(f"你已于 {member.left_on} 离职，网页后台不再对你开放")
        raise Refused("你还不在任何团队里，请先在团队群里报一次或让主管 /入职")
    token, login = new_link(
        s,
        platform=actor.platform,
        adapter=req.adapter,
        user_id=actor.user_id,
        name=member.name if member is not None else actor.name,
        group_team_id=req.group_team_id,
    )
    return Link(token, login.id)


@dataclass(frozen=True)
class Withdraw:
    login_id: int


def withdraw(s: Session, req: Withdraw, policy: Policy) -> None:
    """Forget a link that could not be delivered."""
    drop_link(s, req.login_id)
