"""The same person on two platforms (SPEC §2 "Linked accounts", issue 22 item 4): a team
moving from QQ to WeCom (or Feishu, or the official QQ bot) keeps its history.

    ask_code(s, CodeRequest)  -> CodeIssued   `/关联` typed on the new account
    link(s, LinkRequest)      -> Linked       `/关联 <码> @张三|张三` by a superuser
    unlink(s, UnlinkRequest)  -> Unlinked     `/取消关联 @张三|张三` by a superuser

The person asks for a code on the account to be linked; a superuser (pay depends on who is
who, so nobody else) types the code and the roster member. From then on that account is the
member in that team: `models.roster.member_in` reads `MemberAccount` for every lookup.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from ..identity import account_words
from ..ledger import Refused
from ..periods import utcnow
from ..rights import is_current
from ..roster import accounts_of, audit
from ..tables import (
    Appeal,
    Entry,
    LinkCode,
    Member,
    MemberAccount,
    SettledScore,
    Settlement,
    Tenure,
)
from .base import Actor, PeopleRequest, Person, Policy, Word
from .targets import resolve, where_for

CODE_MINUTES = 15
CODES_PER_HOUR = 5
CODE_RE = re.compile(r"^\d{6}$")
ROLE_WORDS = {"supervisor": "主管", "agent": "客服"}


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


@dataclass(frozen=True)
class CodeRequest:
    actor: Actor  # the account to be linked
    team_id: int | None = None  # the team of the group it was asked in


@dataclass(frozen=True)
class CodeIssued:
    code: str
    minutes: int
    account: str  # the account in words


def ask_code(s: Session, req: CodeRequest, policy: Policy) -> CodeIssued:
    """A six-digit code for the speaker's account, valid `CODE_MINUTES`, used once; a new
    one voids the account's earlier codes, and at most `CODES_PER_HOUR` are given an hour.
    Only its SHA-256 is stored. An account already linked in this team gets ❌."""
    a = req.actor
    if req.team_id is not None:
        owner = s.execute(
            select(Member.name)
            .join(MemberAccount, MemberAccount.member_id == Member.id)
            .where(
                MemberAccount.team_id == req.team_id,
                MemberAccount.platform == a.platform,
                MemberAccount.user_id == a.user_id,
            )
        ).scalar_one_or_none()
        if owner is not None:
            raise Refused(f"你的这个账号已经关联到本团队的 {owner}，不用再关联")
    now = utcnow()
    mine = (LinkCode.platform == a.platform, LinkCode.user_id == a.user_id)
    recent = s.execute(
        select(func.count()).where(*mine, LinkCode.created_at > now - timedelta(hours=1))
    ).scalar_one()
    if recent >= CODES_PER_HOUR:
        raise Refused(f"一小时内最多要 {CODES_PER_HOUR} 次关联码，请稍后再试")
    s.execute(
        update(LinkCode)
        .where(*mine, LinkCode.used_at.is_(None), LinkCode.expires_at > now)
        .values(expires_at=now)
    )
    while True:
        code = f"{secrets.randbelow(10**6):06d}"
        if _live_code(s, code) is None:
            break
    s.add(
        LinkCode(
            code_hash=code_hash(code),
            platform=a.platform,
            user_id=a.user_id,
            name=a.name,
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_MINUTES),
        )
    )
    return CodeIssued(code, CODE_MINUTES, account_words(a.platform, a.user_id, a.name))


def _live_code(s: Session, code: str) -> LinkCode | None:
    q = (
        select(LinkCode)
        .where(
            LinkCode.code_hash == code_hash(code),
            LinkCode.used_at.is_(None),
            LinkCode.expires_at > utcnow(),
        )
        .order_by(LinkCode.id.desc())
        .limit(1)
    )
    return s.execute(q).scalars().first()


def _consume(s: Session, code: LinkCode) -> bool:
    """Use the code up: one conditional UPDATE, so two superusers typing it at once (in two
    teams, whose writes do not wait for each other) link one account, not two (undone with
    the rest if the link is refused)."""
    done = s.execute(
        update(LinkCode)
        .where(LinkCode.id == code.id, LinkCode.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1


@dataclass(frozen=True)
class LinkRequest:
    team_id: int
    actor: Actor
    code: str
    words: tuple[Word, ...]  # who: an @, a QQ number or a roster name
    people: Mapping[str, Person] = field(default_factory=dict)
    quoted: str | None = None


@dataclass(frozen=True)
class Linked:
    name: str
    account: str  # the account linked, in words
    merged: int  # records that account had on the team, now the member's


def _one_member(s: Session, req, policy: Policy, ask: str) -> Member:
    if not req.actor.is_superuser:
        raise Refused("只有超级管理员可以关联或取消关联账号")
    found = resolve(s, where_for(req, policy), list(req.words), register=False, allow_left=True)
    if not found.members:
        raise Refused(ask)
    if len(found.members) > 1:
        raise Refused("一次只能处理一个人")
    return found.members[0]


def link(s: Session, req: LinkRequest, policy: Policy) -> Linked:
    """The account that asked for `req.code` becomes the member's in this team. If that
    account is already on the team as a member of its own, that member's records (entries,
    appeals, tenures, linked accounts) move to the member named and the row goes: no record
    is lost or doubled, and the month's totals are the two rows' together. Refused (nothing
    changes) when the code is wrong, expired or used; the member has left; the account is
    theirs already or linked to someone; or the two rows cannot be one (different roles, or
    the account's own row has scores in a settled month, which never changes)."""
    p = policy
    a = req.actor
    if not a.is_superuser:
        raise Refused("只有超级管理员可以关联账号")
    code = _live_code(s, req.code)
    if code is None or not _consume(s, code):
        raise Refused(
            f"关联码 {req.code} 不对、已过期或已用过（{CODE_MINUTES} 分钟内有效，只能用一次），"
            "请本人在要关联的账号上重新发 /关联"
        )
    m = _one_member(s, req, p, "请写要关联到的人：@某人 或名单上的姓名")
    account = account_words(code.platform, code.user_id, code.name)
    if not is_current(m, p.today):
        raise Refused(f"{m.name} 已于 {m.left_on} 离职，不能关联新账号")
    if (m.platform, m.user_id) == (code.platform, code.user_id):
        raise Refused(f"{account} 就是 {m.name} 自己的账号，不用关联")
    taken = s.execute(
        select(MemberAccount).where(
            MemberAccount.team_id == req.team_id,
            MemberAccount.platform == code.platform,
            MemberAccount.user_id == code.user_id,
        )
    ).scalar_one_or_none()
    if taken is not None:
        owner = s.get(Member, taken.member_id)
        assert owner is not None
        if owner.id == m.id:
            raise Refused(f"{account} 已经关联到 {m.name}")
        raise Refused(f"{account} 已关联到 {owner.name}，如要改请先 /取消关联 {owner.name}")
    own = s.execute(
        select(Member).where(
            Member.team_id == req.team_id,
            Member.platform == code.platform,
            Member.user_id == code.user_id,
        )
    ).scalar_one_or_none()
    merged = _merge(s, m, own, account) if own is not None else 0
    now = utcnow()
    s.add(
        MemberAccount(
            member_id=m.id,
            team_id=req.team_id,
            platform=code.platform,
            user_id=code.user_id,
            name=code.name,
            linked_at=now,
            linked_by=a.key,
        )
    )
    after = {"name": m.name, "account": account, "merged": merged}
    audit(s, req.team_id, a.key, "link", f"{m.platform}:{m.user_id}", None, after, a.channel)
    return Linked(m.name, account, merged)


def _merge(s: Session, keep: Member, gone: Member, account: str) -> int:
    """Move everything of `gone` (the account's own row) to `keep`; the number of entries
    moved. Tenures become their union, so every month either was scored for stays scored."""
    if gone.role != keep.role:
        raise Refused(
            f"{account} 在本团队是{ROLE_WORDS.get(gone.role, gone.role)}，"
            f"{keep.name} 是{ROLE_WORDS.get(keep.role, keep.role)}，不能合为一人；"
            "请先用 /主管 或 /取消主管 调成一样"
        )
    settled = s.execute(
        select(Settlement.period)
        .join(SettledScore, SettledScore.settlement_id == Settlement.id)
        .where(SettledScore.member_id == gone.id)
        .order_by(Settlement.period)
        .limit(1)
    ).scalar_one_or_none()
    if settled is not None:
        raise Refused(
            f"{account} 在已结算的 {settled} 有单独的成绩，合并会改动已结算的月份，不能关联"
        )
    moved = s.execute(update(Entry).where(Entry.member_id == gone.id).values(member_id=keep.id))
    s.execute(update(Appeal).where(Appeal.member_id == gone.id).values(member_id=keep.id))
    s.execute(
        update(MemberAccount).where(MemberAccount.member_id == gone.id).values(member_id=keep.id)
    )
    tenures = s.execute(
        select(Tenure.start, Tenure.end)
        .where(Tenure.member_id.in_([keep.id, gone.id]))
        .order_by(Tenure.start)
    ).all()
    spans: list[list] = []
    for start, end in tenures:
        last = spans[-1] if spans else None
        if last is not None and (last[1] is None or start <= last[1]):
            last[1] = None if last[1] is None or end is None else max(last[1], end)
        else:
            spans.append([start, end])
    s.execute(delete(Tenure).where(Tenure.member_id.in_([keep.id, gone.id])))
    for start, end in spans:
        s.add(Tenure(member_id=keep.id, start=start, end=end))
    keep.joined_on = min(keep.joined_on, gone.joined_on)
    s.delete(gone)
    s.flush()
    return moved.rowcount or 0


class UnlinkRequest(PeopleRequest):
    """`/取消关联 @某人或姓名`."""


@dataclass(frozen=True)
class Unlinked:
    name: str
    accounts: list[str]


def unlink(s: Session, req: UnlinkRequest, policy: Policy) -> Unlinked:
    """Every account linked to the member (any of their accounts names them) stops being
    theirs; the records stay with the member (a merge is not undone). Superusers only."""
    m = _one_member(s, req, policy, "请写要取消关联的人：@某人 或名单上的姓名")
    accounts = accounts_of(s, m.id)
    if not accounts:
        raise Refused(f"{m.name} 没有关联其他账号")
    words = [account_words(x.platform, x.user_id, x.name) for x in accounts]
    for acc, said in zip(accounts, words, strict=True):
        after = {"name": m.name, "account": said}
        target = f"{m.platform}:{m.user_id}"
        audit(s, req.team_id, req.actor.key, "unlink", target, None, after, req.actor.channel)
        s.delete(acc)
    return Unlinked(m.name, words)
