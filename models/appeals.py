"""Appeals against deductions (SPEC §4 "Nudges and appeals").

open → accepted (the entry is revoked) | rejected | expired (the month was settled).
One appeal per entry, ever (SPEC §3 "What people type": a rejected one stays rejected; a
supervisor can still `/撤销` the entry); only the person the entry is about may appeal,
only a deduction, only in an open month.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .ledger import Refused, ensure_open
from .periods import utcnow
from .roster import audit
from .rubric import Rubric
from .tables import Appeal, Entry

APPEAL_STATE = {
    "open": "申诉中",
    "accepted": "申诉受理",
    "rejected": "申诉驳回",
    "expired": "申诉过期",
}


def appeal_states_of(
    session: Session, team_id: int, period: str, member_id: int | None = None
) -> dict[int, str]:
    """Entry id → the state of its latest appeal, for a team's month (or one member's)."""
    where = [Appeal.team_id == team_id, Entry.period == period]
    if member_id is not None:
        where.append(Appeal.member_id == member_id)
    latest = (
        select(Appeal.entry_id, func.max(Appeal.id).label("id"))
        .join(Entry, Entry.id == Appeal.entry_id)
        .where(*where)
        .group_by(Appeal.entry_id)
        .subquery()
    )
    rows = session.execute(select(Appeal).join(latest, Appeal.id == latest.c.id))
    return {a.entry_id: a.status for a in rows.scalars().all()}


def open_appeal_of(session: Session, entry_id: int) -> Appeal | None:
    return session.execute(
        select(Appeal).where(Appeal.entry_id == entry_id, Appeal.status == "open")
    ).scalar_one_or_none()


def last_appeal_of(session: Session, entry_id: int) -> Appeal | None:
    """The entry's latest appeal, whatever its state."""
    q = select(Appeal).where(Appeal.entry_id == entry_id).order_by(Appeal.id.desc()).limit(1)
    return session.execute(q).scalar_one_or_none()


def file_appeal(
    session: Session,
    rubric: Rubric,
    entry: Entry,
    member_id: int,
    reason: str,
    actor: str,
    channel: str = "群聊",
) -> Appeal:
    if entry.member_id != member_id:
        raise Refused(f"#{entry.id} 不是你的记录，只能对自己的扣分申诉")
    item = rubric.item(entry.item_key)
    if item is None or item.points is None or item.points > 0:
        raise Refused(f"#{entry.id} 不是扣分，无需申诉")
    if entry.revoked_at is not None:
        raise Refused(f"#{entry.id} 已被撤销，无需申诉")
    ensure_open(session, entry.team_id, entry.period)
    earlier = last_appeal_of(session, entry.id)
    if earlier is not None and earlier.status == "open":
        raise Refused(f"#{entry.id} 已有一条申诉在处理中")
    if earlier is not None:  # one appeal per entry: a rejected one stays rejected
        said = {"rejected": "已被驳回", "accepted": "已受理", "expired": "已随月结过期"}
        status = said.get(earlier.status, "已处理")
        raise Refused(f"#{entry.id} 的申诉{status}，每条记录只能申诉一次；如有新情况请直接找主管")
    appeal = Appeal(
        entry_id=entry.id,
        team_id=entry.team_id,
        member_id=member_id,
        reason=reason,
        created_at=utcnow(),
    )
    session.add(appeal)
    session.flush()
    audit(
        session,
        entry.team_id,
        actor,
        "appeal.open",
        f"#{entry.id}",
        None,
        {"reason": reason},
        channel,
    )
    return appeal


def close_appeal(
    session: Session,
    appeal: Appeal,
    status: str,
    actor: str,
    reason: str | None,
    channel: str = "群聊",
) -> None:
    appeal.status = status
    appeal.closed_at = utcnow()
    appeal.closed_by = actor
    appeal.close_reason = reason
    audit(
        session,
        appeal.team_id,
        actor,
        f"appeal.{status}",
        f"#{appeal.entry_id}",
        {"status": "open"},
        {"status": status, "reason": reason},
        channel,
    )


def accept_for_entry(
    session: Session, entry: Entry, actor: str, reason: str | None, channel: str = "群聊"
) -> Appeal | None:
    """Revoking an entry accepts its open appeal, if any."""
    appeal = open_appeal_of(session, entry.id)
    if appeal is not None:
        close_appeal(session, appeal, "accepted", actor, reason, channel)
    return appeal


async def open_appeals(session: AsyncSession, team_id: int, period: str | None = None):
    return await session.run_sync(open_appeal_rows, team_id, period)


def open_appeal_rows(session: Session, team_id: int, period: str | None = None):
    """The team's open appeals with their entries, (Appeal, Entry), oldest first."""
    q = (
        select(Appeal, Entry)
        .join(Entry, Entry.id == Appeal.entry_id)
        .where(Appeal.team_id == team_id, Appeal.status == "open")
        .order_by(Appeal.id)
    )
    if period:
        q = q.where(Entry.period == period)
    return list(session.execute(q).all())
