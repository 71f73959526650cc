"""Who a command is about: @s, QQ numbers or exact roster names (SPEC §3 targets).

One rule, read in two places: `candidate_ids` says, before the transaction, whose names the
chat layer must ask the platform for (people who may be registered now); `resolve` reads
the targets inside the transaction, registering on the spot someone the platform says is
in the group (SPEC §2). `not_an_agent` says who may not be marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..periods import period_bounds
from ..roster import find_by_name, join_sync, member_in, member_row, unnamed
from ..tables import Member
from ..text import clean_name
from ..words import looks_numeric
from .base import Actor, Person, Word

QQ_RE = re.compile(r"^\d{5,12}$")
MAX_TARGETS = 50


def too_many() -> Refused:
    return Refused(f"一次最多 {MAX_TARGETS} 人，请分几次发")


def candidate_ids(words: Sequence[Word], quoted: str | None) -> set[str]:
    """The user ids a command about other people may name: @s anywhere (SPEC §3: in any
    order), a QQ number as `resolve` reads one (before any other number: a number after a
    target is a count), and the quoted sender."""
    wanted = {w.mention for w in words if w.mention}
    found = False
    for w in words:
        if w.mention:
            found = True
        elif not found and QQ_RE.match(w.norm):
            wanted.add(w.norm)
            found = True
        elif looks_numeric(w.norm):
            break
    if quoted:
        wanted.add(quoted)
    return wanted


@dataclass
class Found:
    """Targets read from a request: who, how many words named them, who was registered now."""

    members: list[Member] = field(default_factory=list)
    used: int = 0
    new: set[int] = field(default_factory=set)  # member ids put on the team by this command


@dataclass(frozen=True)
class Where:
    """The team and the platform of a command, and what the chat layer looked up."""

    team_id: int
    platform: str
    actor_key: str
    today: date
    people: Mapping[str, Person]  # user id → what the platform says of them
    quoted: str | None = None  # the sender of the message replied to (SPEC §3)
    typed_ids: bool = True  # a number typed is a user id (QQ); else only names and @s name
    mentions: bool = True  # an @ arrives as a mention (WeCom: no, only roster names name)


def where_for(req, policy) -> Where:
    """The `Where` of a request about other people: its team, its actor (platform, key,
    whether a typed number is a user there), the people the chat layer looked up and the
    quoted sender (`req.people`, `req.quoted`)."""
    a = req.actor
    return Where(
        req.team_id,
        a.platform,
        a.key,
        policy.today,
        req.people,
        req.quoted,
        a.typed_ids,
        a.mentions,
    )


def name_them(where: Where | Actor, whom: str) -> str:
    """How a refusal asks for `whom` on this platform (SPEC §2: where there are no QQ
    numbers, or an @ never reaches the bot, it does not ask for them): `请 @ 要离职的人（或写
    QQ 号、姓名）`, `请 @ 要离职的人（或写成员姓名）`, `请写要离职的人在成员名单上的名字`."""
    if not where.mentions:
        return f"请写{whom}在成员名单上的名字"
    if where.typed_ids:
        return f"请 @ {whom}（或写 QQ 号、姓名）"
    return f"请 @ {whom}（或写成员姓名）"


def resolve(
    s: Session,
    where: Where,
    words: Sequence[Word],
    *,
    period: str | None = None,
    is_end: Callable[[Word], bool] = lambda w: False,
    register: bool = True,
    allow_left: bool = False,
    found: Found | None = None,
) -> Found:
    """Read targets from the start of `words`. All or nothing: any target that cannot be
    used raises Refused naming it. Once a target is found, a number ends the list (it is a
    count or a fine, not a QQ number)."""
    out = found if found is not None else Found()
    members: list[Member] = []
    errors: list[str] = []
    used = 0
    for w in words:
        chosen = w.mention is not None or w.member_id is not None
        if not chosen and (is_end(w) or (members and looks_numeric(w.norm))):
            break
        if used >= MAX_TARGETS:
            raise too_many()
        uid = w.mention
        if uid is None and w.member_id is None and where.typed_ids and QQ_RE.match(w.norm):
            uid = w.norm
        if w.member_id is not None:
            m = s.get(Member, w.member_id)
            if m is None or m.team_id != where.team_id:
                errors.append(f"本团队没有成员 #{w.member_id}")
                m = None
        elif uid is not None:
            m = _by_id(s, where, uid, w, register, errors, out)
        else:
            # "@张三" typed as text (WeCom sends no mention list; a hand-typed @) is the name
            name = w.norm[1:] if w.norm.startswith("@") and len(w.norm) > 1 else w.norm
            same = find_by_name(s, where.team_id, name)
            if not same:
                break  # not a target: the rest is the command's arguments
            current = [x for x in same if x.left_on is None] or same
            if len(current) > 1:
                errors.append(same_names(where, w.norm, current))
                used += 1
                continue
            m = current[0]
        used += 1
        if m is None:
            continue
        if not allow_left and m.left_on is not None:
            first = period_bounds(period)[0] if period else where.today
            if m.left_on < first:
                errors.append(f"{m.name} 已于 {m.left_on} 离职")
                continue
        if all(x.id != m.id for x in members):
            members.append(m)
    if not members and not errors and where.quoted is not None:
        # SPEC §3: a reply to someone's message that names nobody is about that someone,
        # if they are on the team or, to be registered, in this group.
        known = member_row(s, where.team_id, where.platform, where.quoted) is not None
        if register and _name(where, where.quoted) is None and not known:
            out.used = 0
            return out
        inner = resolve(
            s,
            Where(
                where.team_id,
                where.platform,
                where.actor_key,
                where.today,
                where.people,
                typed_ids=where.typed_ids,
            ),
            [Word(mention=where.quoted)],
            period=period,
            register=register,
            allow_left=allow_left,
            found=out,
        )
        inner.used = 0
        return inner
    if errors:
        raise Refused("；".join(errors) + "。本次没有记录任何内容")
    out.members = members
    out.used = used
    return out


def same_names(where: Where, said: str, same: list[Member]) -> str:
    """Several members answer to a typed name: listed with their QQ numbers where those
    name people; elsewhere an id means nothing to anyone, so how many, and how to choose."""
    if where.typed_ids:
        who = "、".join(f"{x.name}（{x.user_id}）" for x in same)
        return f"“{said}”有重名：{who}，请用 @ 或 QQ 号指定"
    if where.mentions:
        return f"“{said}”有重名（{len(same)} 人），请用 @ 指定"
    return f"“{said}”有重名（{len(same)} 人），请先在网页后台（/后台）给其中一人改名"


def _name(where: Where, uid: str) -> str | None:
    person = where.people.get(uid)
    return person.name if person is not None else None


def _by_id(
    s: Session,
    where: Where,
    uid: str,
    word: Word,
    register: bool,
    errors: list[str],
    out: Found,
) -> Member | None:
    """The team member with this user id (`word`: an @ of them, or their QQ number typed)
    — named now if they were stored under their id and the platform gives a name —
    registered on the spot if `register` and the platform says they are in this group (an
    @ of someone who is not is refused like a QQ number, by the name the @ showed where it
    showed one); None (with the reason in `errors`) otherwise."""
    mentioned = word.mention is not None
    m = member_in(s, where.team_id, where.platform, uid)
    name = _name(where, uid)
    if m is not None:
        if unnamed(m) and name and name != uid:  # SPEC §2: the first @ names them
            m.name = clean_name(name)
        return m
    if name is None and (register or not mentioned):
        errors.append(f"{account_named(uid, where.typed_ids, word.shown)} 不在本群或本团队")
    elif not register:
        errors.append(f"{name or uid} 还不是本团队成员")
    else:
        m, _ = join_sync(s, where.team_id, where.platform, uid, name, where.today, where.actor_key)
        out.new.add(m.id)
    return m


def account_named(uid: str, typed_ids: bool, name: str | None = None) -> str:
    """Someone a refusal names who is not on the roster: their name where the platform gave
    one; else `QQ 30001` where user ids are QQ numbers, `账号 ou_x` where they are not (an
    openid or a userid is no QQ number)."""
    if name and name != uid:
        return name
    return f"QQ {uid}" if typed_ids else f"账号 {uid}"


def not_an_agent(
    member: Member, found: Found, people: Mapping[str, Person], admins_supervise: bool
) -> str | None:
    """Why `member` may not be marked (SPEC §3 "What people type"): a supervisor; or,
    someone the command puts on the team only now (not an agent yet), a superuser, the
    group's owner, or an admin where admins supervise. None for an agent."""
    if member.role == "supervisor":
        return "主管"
    if member.id not in found.new:  # on the team before this command: an agent
        return None
    person = people.get(member.user_id)
    if person is None:
        return None
    if person.is_superuser:
        return "超级管理员"
    if person.group_role == "owner":
        return "群主"
    if person.group_role == "admin" and admins_supervise:
        return "群管理员（视为主管）"
    return None
