"""Settling a month exactly once, reopening it, and the outbox of monthly posts (SPEC §4).

A (team, month) is claimed by a row with a unique key before anything is posted; each
group's post is a row that a sender claims (pending → sending) before it sends, so two bot
processes on one database, a restart or a retry never post twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .ledger import Ranked, categories_json, settlement_of, team_month_scores
from .periods import utcnow
from .roster import audit, bindings_of
from .rubric import Rubric, parse_rubric
from .tables import Appeal, Entry, Post, SettledScore, Settlement

MAX_ATTEMPTS = 8
SENDING_LEASE = timedelta(minutes=10)


@dataclass
class SettleResult:
    settlement: Settlement
    created: bool  # False: it was already settled, nothing changed
    correction: bool
    ranking: list[Ranked]


def base_cents(base: Decimal | None) -> int | None:
    return None if base is None else int((base * 100).to_integral_value())


def base_of(settlement: Settlement) -> Decimal | None:
    c = settlement.commission_base_cents
    return None if c is None else Decimal(c) / 100


def rubric_of(settlement: Settlement, current: Rubric) -> Rubric:
    """The rubric a settled month was scored with (its snapshot), not the file of today."""
    if settlement.rubric_version == current.version:
        return current
    return parse_rubric(settlement.rubric_text, f"#{settlement.period} 结算快照")


async def month_rules(
    session: AsyncSession, team_id: int, period: str, current: Rubric, base: Decimal | None
) -> tuple[Rubric, Decimal | None]:
    """The rubric and commission base a month is scored with: its snapshot once settled."""
    s = await settlement_of(session, team_id, period)
    if s is not None and s.status == "settled":
        return rubric_of(s, current), base_of(s)
    return current, base


async def settle(
    session: AsyncSession,
    rubric: Rubric,
    team_id: int,
    period: str,
    actor: str,
    base: Decimal | None,
) -> SettleResult:
    """Settle (team, month) in the caller's write transaction; idempotent."""
    s = await settlement_of(session, team_id, period)
    if s is not None and s.status == "settled":
        return SettleResult(s, False, False, [])
    correction = s is not None
    now = utcnow()
    if s is None:
        s = Settlement(
            team_id=team_id,
            period=period,
            rubric_version=rubric.version,
            rubric_text=rubric.text,
            settled_at=now,
            settled_by=actor,
            commission_base_cents=base_cents(base),
        )
        try:
            async with session.begin_nested():  # flushes pending objects first: add inside
                session.add(s)
                await session.flush()
        except IntegrityError:  # another process settled it first
            s = await settlement_of(session, team_id, period)
            return SettleResult(s, False, False, [])
    else:
        s.status = "settled"
        s.revision += 1
        s.rubric_version = rubric.version
        s.rubric_text = rubric.text
        s.settled_at = now
        s.settled_by = actor
        s.commission_base_cents = base_cents(base)
        await session.execute(delete(SettledScore).where(SettledScore.settlement_id == s.id))
        await session.flush()

    ranking = await team_month_scores(session, rubric, team_id, period, base)
    if ranking:
        await session.execute(
            insert(SettledScore),
            [
                {
                    "settlement_id": s.id,
                    "member_id": r.member.id,
                    "name": r.member.name,
                    "rank": r.rank,
                    "categories": categories_json(r.score),
                    "total": str(r.score.total),
                    "grade": r.score.grade,
                    "fine_cents": int(r.score.fines * 100),
                    "commission_cents": None
                    if r.score.commission is None
                    else round(r.score.commission * 100),
                }
                for r in ranking
            ],
        )
    s.appeals_accepted = await _close_appeals(session, team_id, period, now)
    for b in await bindings_of(session, team_id) if ranking else []:  # nobody to report on
        session.add(
            Post(
                team_id=team_id,
                period=period,
                revision=s.revision,
                platform=b.platform,
                group_id=b.group_id,
            )
        )
    await audit(
        session,
        team_id,
        actor,
        "settle",
        period,
        None,
        {"revision": s.revision, "rubric": rubric.version, "members": len(ranking)},
    )
    await session.flush()
    return SettleResult(s, True, correction, ranking)


async def _close_appeals(session: AsyncSession, team_id: int, period: str, now: datetime) -> int:
    """Expire the month's open appeals; return how many were accepted."""
    rows = await session.execute(
        select(Appeal)
        .join(Entry, Entry.id == Appeal.entry_id)
        .where(Appeal.team_id == team_id, Entry.period == period)
    )
    accepted = 0
    for appeal in rows.scalars():
        if appeal.status == "open":
            appeal.status, appeal.closed_at = "expired", now
            appeal.closed_by, appeal.close_reason = "system", "月份已结算"
        accepted += appeal.status == "accepted"
    return accepted


async def reopen(session: AsyncSession, team_id: int, period: str, actor: str) -> Settlement:
    s = await settlement_of(session, team_id, period)
    if s is None or s.status != "settled":
        from .ledger import Refused

        raise Refused(f"{period} 还没有结算，无需重开")
    s.status = "reopened"
    await audit(
        session, team_id, actor, "reopen", period, {"status": "settled"}, {"status": "reopened"}
    )
    return s


# ---- outbox ---------------------------------------------------------------------------------


async def due_posts(session: AsyncSession) -> list[Post]:
    now = utcnow()
    rows = await session.execute(
        select(Post)
        .where(
            (Post.status == "pending")
            & ((Post.next_attempt_at.is_(None)) | (Post.next_attempt_at <= now))
            | ((Post.status == "sending") & (Post.claimed_at < now - SENDING_LEASE))
        )
        .order_by(Post.id)
    )
    return list(rows.scalars().all())


async def claim_post(session: AsyncSession, post: Post) -> bool:
    """pending → sending, atomically; False if someone else has it."""
    now = utcnow()
    res = await session.execute(
        update(Post)
        .where(
            Post.id == post.id,
            (Post.status == "pending")
            | ((Post.status == "sending") & (Post.claimed_at < now - SENDING_LEASE)),
        )
        .values(status="sending", claimed_at=now)
    )
    return res.rowcount == 1


async def finish_post(session: AsyncSession, post_id: int, error: str | None) -> None:
    post = await session.get(Post, post_id)
    if post is None:
        return
    now = utcnow()
    if error is None:
        post.status, post.sent_at, post.last_error = "sent", now, None
        return
    post.attempts += 1
    post.last_error = error[:500]
    if post.attempts >= MAX_ATTEMPTS:
        post.status = "failed"
    else:
        post.status = "pending"
        post.next_attempt_at = now + timedelta(seconds=min(3600, 30 * 2**post.attempts))


async def release_post(session: AsyncSession, post_id: int) -> None:
    """No bot is online for the group: leave the post pending, not failed."""
    post = await session.get(Post, post_id)
    if post is not None and post.status == "sending":
        post.status = "pending"
