"""The roster (SPEC §2): `/入职`, `/离职`, `/主管`, `/取消主管`, and a team's nudge setting
`/提醒` (SPEC §4).

    join(s, JoinRequest)         -> Joined
    leave(s, LeaveRequest)       -> Left
    set_role(s, RoleRequest)     -> RoleSet
    set_reminder(s, RemindRequest) -> ReminderSet
    claim_due_reminder(s, team_id, day) -> DueReminder | None   (the daily job)
    rename(s, member, new_name, actor)   (a new name on the roster)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..nudges import claim_reminder, missing_on
from ..roster import (
    accounts_on,
    audit,
    end_membership,
    find_by_name,
    join_sync,
    member_in,
    team_bindings,
    unnamed,
)
from ..tables import Member, Team
from ..text import clean_name
from .base import Actor, PeopleRequest, Person, Policy, Word, require_supervisor
from .targets import (
    MAX_TARGETS,
    account_named,
    name_them,
    resolve,
    same_names,
    too_many,
    where_for,
)


@dataclass(frozen=True)
class JoinRequest:
    team_id: int
    actor: Actor
    user_ids: tuple[str, ...]  # the people named (@, QQ numbers, or the quoted sender)
    name: str = ""  # the name given, for one person
    people: Mapping[str, Person] = field(default_factory=dict)  # their group cards now
    quoted: str | None = None


@dataclass(frozen=True)
class JoinLine:
    name: str
    status: str  # new | rejoined | already | renamed
    joined_on: date


@dataclass(frozen=True)
class Joined:
    today: date
    lines: list[JoinLine]


def join(s: Session, req: JoinRequest, policy: Policy) -> Joined:
    """Register people on the team (SPEC §2): only someone the platform says is in the
    group, or already on the team (any tenure)."""
    p = policy
    require_supervisor(s, req.team_id, req.actor, p)
    uids, name = list(req.user_ids), req.name
    if len(uids) > MAX_TARGETS:
        raise too_many()
    if not uids and name:
        return _join_by_name(s, req, p)
    if not uids:
        raise Refused(_ask_whom(req.actor))
    if name and len(uids) > 1:
        raise Refused("一次给多人入职时不能指定姓名")
    if len(name) > 20:
        raise Refused("姓名最长 20 个字")

    def card(uid: str) -> str | None:
        person = req.people.get(uid)
        return person.name if person is not None else None

    platform = req.actor.platform
    outsiders = [
        uid
        for uid in uids
        if card(uid) is None and member_in(s, req.team_id, platform, uid) is None
    ]
    if outsiders and outsiders == [req.quoted] and len(uids) == 1:
        raise Refused(_ask_whom(req.actor))  # the quoted sender is not in this group
    if outsiders:
        who = "、".join(account_named(uid, req.actor.typed_ids) for uid in outsiders)
        raise Refused(f"{who} 不在本群，不能入职。本次没有记录任何内容")
    today = p.today
    lines = []
    for uid in uids:
        display = name or card(uid) or uid
        m, status = join_sync(
            s, req.team_id, platform, uid, display, today, req.actor.key, req.actor.channel
        )
        # An explicit name renames; so does the platform's, for someone stored under their
        # account id (a first report where events carry no names, SPEC §2).
        better = name or (card(uid) if unnamed(m) else None)
        if status == "already" and better and better != uid and m.name != clean_name(better):
            rename(s, m, better, req.actor, unique=bool(name))
            status = "renamed"
        lines.append(JoinLine(m.name, status, m.joined_on))
    return Joined(today, lines)


def _ask_whom(actor: Actor) -> str:
    """Whom to put on the team, as this platform lets people say it (SPEC §2)."""
    if not actor.mentions:  # WeCom: an @ never reaches the bot, and user ids are no numbers
        return "新人在群里报一次（如 /朋友圈）就会自动入职；已在名单上的人写 /入职 名单上的名字 新姓名 改名"
    return "请 @ 要入职的人" + ("（或写 QQ 号）" if actor.typed_ids else "")


def _join_by_name(s: Session, req: JoinRequest, p: Policy) -> Joined:
    """`/入职 名单上的名字 [新姓名]`: someone on the roster (any tenure) by their name —
    renamed, or back on the team (the way to name people where an @ never reaches the bot)."""
    said, _, new_name = req.name.partition(" ")
    new_name = new_name.strip()
    same = find_by_name(s, req.team_id, said.removeprefix("@"))
    current = [m for m in same if m.left_on is None] or same
    if not current:
        raise Refused(f"“{said}”不是成员名单上的名字。{_ask_whom(req.actor)}")
    if len(current) > 1:
        raise Refused(same_names(where_for(req, p), said, current))
    if len(new_name) > 20:
        raise Refused("姓名最长 20 个字")
    [m] = current
    if m.left_on is not None:
        m, status = join_sync(
            s, req.team_id, m.platform, m.user_id, new_name or m.name, p.today, req.actor.key,
            req.actor.channel,
        )  # fmt: skip
    elif new_name and clean_name(new_name) != m.name:
        rename(s, m, new_name, req.actor)
        status = "renamed"
    else:
        status = "already"
    return Joined(p.today, [JoinLine(m.name, status, m.joined_on)])


def rename(s: Session, m: Member, new_name: str, actor: Actor, *, unique: bool = True) -> None:
    """A member's new roster name (`/入职 @某人 新名`, `/入职 名单上的名字 新名`, the
    dashboard's 改名), audited with the old and the new name. A name given (`unique`) is
    refused when another current member of the team already has it: where people are
    named by their roster name (WeCom, SPEC §2) neither could be named any more. (The
    platform's name for someone stored under their account id is taken as it is.)"""
    name = clean_name(new_name)
    taken = [x for x in find_by_name(s, m.team_id, name) if x.id != m.id and x.left_on is None]
    if taken and unique:
        [other, *_] = taken
        qq = f"（QQ {other.user_id}）" if other.platform == "qq" and other.user_id != name else ""
        raise Refused(
            f"团队里已有一位 {name}{qq}，不能把 {m.name} 也改成 {name}：重名在群里就分不清了。"
            f"请换一个能区分的姓名，例如 {name}2"
        )
    before, m.name = m.name, name
    audit(
        s,
        m.team_id,
        actor.key,
        "rename",
        f"{m.platform}:{m.user_id}",
        {"name": before},
        {"name": name},
        actor.channel,
    )


class LeaveRequest(PeopleRequest):
    """`/离职 @某人…`."""


@dataclass(frozen=True)
class Left:
    today: date
    names: list[str]


def leave(s: Session, req: LeaveRequest, policy: Policy) -> Left:
    """`/离职`: each person named leaves from today; their history stays (SPEC §2)."""
    p = policy
    require_supervisor(s, req.team_id, req.actor, p)
    where = where_for(req, p)
    targets = resolve(s, where, list(req.words), register=False, allow_left=True).members
    if not targets:
        raise Refused(name_them(where, "要离职的人"))
    names = []
    for m in targets:
        if m.left_on is not None:
            raise Refused(f"{m.name} 已于 {m.left_on} 离职")
        end_membership(s, m, p.today, req.actor.key, req.actor.channel)
        names.append(m.name)
    return Left(p.today, names)


@dataclass(frozen=True)
class RoleRequest:
    team_id: int
    actor: Actor
    words: tuple[Word, ...]
    role: str  # supervisor | agent
    people: Mapping[str, Person] = field(default_factory=dict)
    quoted: str | None = None


@dataclass(frozen=True)
class RoleSet:
    team_name: str
    role: str
    names: list[str]


def set_role(s: Session, req: RoleRequest, policy: Policy) -> RoleSet:
    """`/主管` and `/取消主管`, by a superuser or the group's owner (SPEC §2); a person
    named who is in the group joins the team first."""
    p = policy
    if not (req.actor.is_superuser or req.actor.group_role == "owner"):
        raise Refused("只有群主或超级管理员可以这样做")
    where = where_for(req, p)
    targets = resolve(s, where, list(req.words)).members
    if not targets:
        raise Refused(name_them(where, "要设置的人"))
    for m in targets:
        before = m.role
        m.role = req.role
        audit(
            s,
            req.team_id,
            req.actor.key,
            "role",
            f"{m.platform}:{m.user_id}",
            before,
            req.role,
            req.actor.channel,
        )
    team = s.get(Team, req.team_id)
    assert team is not None
    return RoleSet(team.name, req.role, [m.name for m in targets])


@dataclass(frozen=True)
class RemindRequest:
    team_id: int
    actor: Actor
    value: str  # HH:MM, or "off"


@dataclass(frozen=True)
class ReminderSet:
    value: str


def set_reminder(s: Session, req: RemindRequest, policy: Policy) -> ReminderSet:
    """`/提醒 HH:MM|关闭`: the team's daily nudge time (SPEC §4)."""
    p = policy
    require_supervisor(s, req.team_id, req.actor, p)
    team = s.get(Team, req.team_id)
    assert team is not None
    before = team.reminder_time
    team.reminder_time = req.value
    audit(s, team.id, req.actor.key, "reminder", team.name, before, req.value, req.actor.channel)
    return ReminderSet(req.value)


@dataclass(frozen=True)
class DueReminder:
    """Today's reminder of a team, claimed: who has not reported, and where to say it."""

    missing: list  # (Agent, [Gap]) per agent with no self-report today
    groups: list  # the team's bindings (plain rows)
    accounts: dict[str, dict[int, str]]  # per group platform: member id → account there, to @


def claim_due_reminder(s: Session, team_id: int, day: date, policy: Policy) -> DueReminder | None:
    """Claim the team's reminder of `day` (exactly once, SPEC §4) and read who to remind;
    None when it was already sent."""
    if not claim_reminder(s, team_id, day):
        return None
    missing = missing_on(s, policy.rubric, team_id, day, policy.tz)
    groups = team_bindings(s, team_id)
    accounts = {p: accounts_on(s, team_id, p) for p in {b.platform for b in groups}}
    return DueReminder(missing, groups, accounts)
