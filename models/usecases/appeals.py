"""Appeals (SPEC §4): an agent files one against a deduction of theirs (`/申诉`), a
supervisor rejects it (`/驳回`) or accepts it by revoking the entry (`marks.revoke`).

    file(s, AppealRequest)   -> Filed
    reject(s, RejectRequest) -> Rejected
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import appeals
from ..ledger import Refused, get_entry
from ..linkcheck import appeal_flag
from ..rights import SELF_APPEAL, refuse_self
from ..roster import account_on, accounts_on
from ..tables import Entry, Member
from .base import (
    Actor,
    EntryRef,
    Policy,
    entry_id_of,
    require_supervisor,
    speaker,
)
from .marks import EntryView, _view


@dataclass(frozen=True)
class AppealRequest:
    team_id: int
    actor: Actor
    entry_id: int | EntryRef
    reason: str | None


@dataclass(frozen=True)
class Filed:
    entry: EntryView
    reason: str
    # the team's current supervisors, to @: (their account on the speaker's platform or
    # None, name)
    supervisors: list[tuple[str | None, str]]
    flag: bool = False  # an answer to a link check's flag (SPEC §4), not a deduction appeal


@dataclass(frozen=True)
class RejectRequest:
    team_id: int
    actor: Actor
    entry_id: int | EntryRef
    reason: str | None = None


@dataclass(frozen=True)
class Rejected:
    entry_id: int
    reason: str | None
    member_user_id: str | None  # who appealed: their account on the speaker's platform
    member_name: str


def _team_entry(s: Session, team_id: int, entry_id: int) -> Entry:
    entry = get_entry(s, entry_id)
    if entry is None or entry.team_id != team_id:
        raise Refused(f"本团队没有 #{entry_id}")
    return entry


def file(s: Session, req: AppealRequest, policy: Policy) -> Filed:
    """Only the person an entry is about may appeal it, only a deduction, once, while its
    month is open (`models.appeals.file_appeal`)."""
    p = policy
    entry_id = entry_id_of(s, req.team_id, req.entry_id)
    if not req.reason:
        raise Refused("请写申诉理由")
    me = speaker(s, req.team_id, req.actor)
    if me is None:
        raise Refused(f"#{entry_id} 不是你的记录，只能对自己的扣分申诉")
    entry = _team_entry(s, req.team_id, entry_id)
    # read whole now: a cursor left open by a refusal below would keep SQLite's writer
    # connection on this snapshot, and its next BEGIN IMMEDIATE fail with "locked"
    rows = s.execute(
        select(Member.id, Member.name).where(
            Member.team_id == req.team_id, Member.role == "supervisor", Member.left_on.is_(None)
        )
    ).all()
    handles = accounts_on(s, req.team_id, req.actor.platform)
    bosses = [(handles.get(member_id), name) for member_id, name in rows]
    flagged = appeal_flag(
        s, req.team_id, entry_id, me.id, req.reason, req.actor.key, req.actor.channel
    )
    if flagged is not None:
        return Filed(_view(entry), req.reason, bosses, flag=True)
    appeals.file_appeal(s, p.rubric, entry, me.id, req.reason, req.actor.key, req.actor.channel)
    return Filed(_view(entry), req.reason, bosses)


def reject(s: Session, req: RejectRequest, policy: Policy) -> Rejected:
    """A supervisor closes an open appeal as rejected; never their own (SPEC §2)."""
    p = policy
    me = require_supervisor(s, req.team_id, req.actor, p)
    entry_id = entry_id_of(s, req.team_id, req.entry_id)
    entry = _team_entry(s, req.team_id, entry_id)
    appeal = appeals.open_appeal_of(s, entry.id)
    if appeal is None:
        raise Refused(f"#{entry_id} 没有待处理的申诉")
    member = s.get(Member, appeal.member_id)
    assert member is not None
    refuse_self(req.actor.key, me.id if me else None, [member], SELF_APPEAL)
    appeals.close_appeal(s, appeal, "rejected", req.actor.key, req.reason, req.actor.channel)
    handle = account_on(s, member, req.actor.platform)
    return Rejected(entry.id, req.reason, handle, member.name)
