"""Binding a group to a team, and unbinding it (SPEC §2 "Binding is guarded", §5 scale-out).

bind(s, BindRequest)     -> Bound | BindRefused (the attempt's audit row is kept)
unbind(s, UnbindRequest) -> Unbound
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..roster import (
    add_binding,
    audit,
    create_team,
    group_binding,
    member_in,
    remove_binding,
    team_named,
)
from ..tables import Team
from .base import Actor, Policy, is_supervisor, speaker


@dataclass(frozen=True)
class BindRequest:
    actor: Actor
    group_id: str
    name: str  # the team's name
    adapter: str
    self_id: str  # the bot account the command came through
    to_me: bool = False  # this account was @-ed


@dataclass(frozen=True)
class Bound:
    team_name: str
    how: str  # new | existing | account (this account serves the group from now on)


@dataclass(frozen=True)
class Silent:
    """The command was for another bot account: nothing to say."""


def bind(s: Session, req: BindRequest, policy: Policy) -> Bound | Refused | Silent:
    """A new team is created by the group owner or a superuser; joining an existing team
    needs a superuser or an explicit, current supervisor of it. A refused attempt on an
    existing team changes nothing but leaves an audit row (returned, not raised). In a
    group bound through another bot account, `@本账号 /绑定` moves it to this account."""
    p = policy
    a = req.actor
    if len(req.name) > 30:
        raise Refused("团队名最长 30 个字")
    current = group_binding(s, a.platform, req.group_id)
    if current is None:
        where = f"{a.platform}:{req.group_id}"
        team = team_named(s, req.name)
        existed = team is not None
        if team is None:
            if not (a.is_superuser or a.group_role == "owner"):
                raise Refused("只有群主或超级管理员可以创建新团队")
            team = create_team(s, req.name, a.key, a.channel)
        elif not a.is_superuser and not _explicit_supervisor(s, team.id, a):
            audit(s, team.id, a.key, "bind.refused", where, None, req.name, a.channel)
            return Refused(
                f"只有超级管理员或「{req.name}」的主管可以把群绑定到这个已有团队；"
                "请找他们来绑定，或换一个新团队名"
            )
        add_binding(s, team, a.platform, req.group_id, req.adapter, req.self_id, a.key, a.channel)
        return Bound(req.name, "existing" if existed else "new")
    team = s.get(Team, current.team_id)
    assert team is not None
    if not current.self_id or current.self_id == req.self_id:
        raise Refused(f"本群已绑定团队「{team.name}」，如需更换请先 /解绑")
    if not req.to_me:
        return Silent()  # both accounts got this /绑定; the other one bound the group
    if not is_supervisor(a, speaker(s, team.id, a), p):
        raise Refused("只有本团队的主管、群主或超级管理员可以更换回复本群的机器人账号")
    before = current.self_id
    current.self_id, current.adapter = req.self_id, req.adapter
    target = f"{a.platform}:{req.group_id}"
    audit(s, team.id, a.key, "bind.account", target, before, req.self_id, a.channel)
    return Bound(team.name, "account")


def _explicit_supervisor(s: Session, team_id: int, actor: Actor) -> bool:
    """An explicit, current `/主管` of the team (SPEC §2 "Binding is guarded")."""
    m = member_in(s, team_id, actor.platform, actor.user_id)
    return m is not None and m.role == "supervisor" and m.left_on is None


@dataclass(frozen=True)
class UnbindRequest:
    team_id: int
    actor: Actor
    group_id: str


@dataclass(frozen=True)
class Unbound:
    team_name: str


def unbind(s: Session, req: UnbindRequest, policy: Policy) -> Unbound:
    """The group leaves its team; every record stays (the group's owner or a superuser)."""
    a = req.actor
    team = s.get(Team, req.team_id)
    assert team is not None
    if not (a.is_superuser or a.group_role == "owner"):
        raise Refused("只有群主或超级管理员可以这样做")
    remove_binding(s, team, a.platform, req.group_id, a.key, a.channel)
    return Unbound(team.name)
