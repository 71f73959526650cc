"""The monthly cycle's writing commands as use cases (SPEC §4): `/结算`, `/重开`, `/重发`,
and the scheduled settlement of a due month. Each is a plain function of the command's
one transaction (a synchronous `Session`, run by `bot.door.write` under the team's lock):
plain request in, plain result out, or `Refused`. A person's request carries the channel
they acted in (`channel`, 群聊 by default; the dashboard passes 网页) for the audit row.

- `settle_month(s, SettleRequest)` → `Settled` (Refused: month not over, nobody to score,
  already settled);
- `settle_due_month(s, DueRequest)` → `Settled | None` (None: someone settled it first);
- `reopen_month(s, ReopenRequest)` → the period;
- `resend_posts(s, ResendRequest)` → `Requeued` (Refused: nothing held).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ..ledger import Refused
from ..roster import account_on, anyone_scored
from ..rubric import Rubric
from ..settlement import Change, SettleResult, reopen, requeue_held, settle, settlement_row
from ..tables import Member, Post
from .base import CHAT, Policy


@dataclass(frozen=True)
class SettleRequest:
    team_id: int
    actor: str  # "platform:user id", as audit rows name people
    period: str
    current_period: str  # the month now, in KPI_TIMEZONE: only months before it settle
    rubric: Rubric
    commission_base: Decimal | None
    dm_agents: bool = False  # KPI_MONTHLY_DM: queue each agent's breakdown too
    channel: str = CHAT  # where the person acted (群聊 / 私聊 / 网页): the audit row says so


@dataclass(frozen=True)
class DueRequest:
    """The schedule (or the start-up catch-up) settling a due month as "system"."""

    team_id: int
    period: str
    rubric: Rubric
    commission_base: Decimal | None
    dm_agents: bool = False


@dataclass(frozen=True)
class Expired:
    entry_id: int
    user_id: str | None  # the agent's account on the speaker's platform, to @ in the reply
    name: str


@dataclass(frozen=True)
class Settled:
    period: str
    members: int
    correction: bool
    changes: list[Change]
    expired: list[Expired]


@dataclass(frozen=True)
class ReopenRequest:
    team_id: int
    actor: str
    period: str
    channel: str = CHAT


@dataclass(frozen=True)
class ResendRequest:
    team_id: int
    team_name: str
    actor: str
    period: str | None  # None: every held post of the team
    channel: str = CHAT


@dataclass(frozen=True)
class Requeued:
    periods: list[str]
    posts: int


def _settled(s: Session, result: SettleResult, period: str, actor: str) -> Settled:
    platform = actor.split(":", 1)[0]  # the reply goes to the group the speaker is in
    expired = []
    for appeal, _entry in result.expired:
        member = s.get(Member, appeal.member_id)
        assert member is not None
        expired.append(Expired(appeal.entry_id, account_on(s, member, platform), member.name))
    return Settled(period, len(result.ranking), result.correction, result.changes, expired)


def _queue_dms(s: Session, team_id: int, period: str, result: SettleResult) -> None:
    """KPI_MONTHLY_DM: one outbox post per scored agent, sent by private message."""
    for r in result.ranking:
        s.add(
            Post(
                team_id=team_id,
                period=period,
                revision=result.settlement.revision,
                platform=r.member.platform,
                group_id=f"dm:{r.member.user_id}",
            )
        )


def settle_month(s: Session, r: SettleRequest, policy: Policy | None = None) -> Settled:
    """`/结算 [月份]`: settle a month that is over now, and queue its posts (SPEC §4)."""
    if r.period >= r.current_period:
        raise Refused(f"{r.period} 还没结束，不能结算（只能结算已结束的月份）")
    if not anyone_scored(s, r.team_id, r.period):
        raise Refused(f"{r.period} 没有需要考核的成员，无需结算")
    result = settle(s, r.rubric, r.team_id, r.period, r.actor, r.commission_base, r.channel)
    if not result.created:
        raise Refused(f"{r.period} 已结算过，不会重复播报；如需更正请超级管理员 /重开 {r.period}")
    if r.dm_agents:
        _queue_dms(s, r.team_id, r.period, result)
    return _settled(s, result, r.period, r.actor)


def settle_due_month(s: Session, r: DueRequest) -> Settled | None:
    """The schedule's settlement of a due month (as "system"); None when it is settled
    already (another process, or a person, did it first). A reopened month waits for a
    person: it is never re-settled on its own (checked here, under the team's lock: a
    `/重开` just before this unit ran is seen)."""
    if settlement_row(s, r.team_id, r.period) is not None:
        return None
    result = settle(s, r.rubric, r.team_id, r.period, "system", r.commission_base)
    if not result.created:
        return None
    if r.dm_agents:
        _queue_dms(s, r.team_id, r.period, result)
    return _settled(s, result, r.period, "system:")


def reopen_month(s: Session, r: ReopenRequest, policy: Policy | None = None) -> str:
    """`/重开 <月份>`: a settled month takes entries and revocations again (SPEC §4)."""
    reopen(s, r.team_id, r.period, r.actor, r.channel)
    return r.period


def resend_posts(s: Session, r: ResendRequest, policy: Policy | None = None) -> Requeued:
    """`/重发 [月份]`: a person checked the group; its held posts go out again."""
    posts = requeue_held(s, r.team_id, r.period, r.actor, r.channel)
    if not posts:
        which = f" {r.period} " if r.period else ""
        raise Refused(f"「{r.team_name}」没有{which}需要重发的月报（中断或发送失败的才需要）")
    return Requeued(sorted({p.period for p in posts}), len(posts))
