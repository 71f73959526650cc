"""A team's commission base, per month (SPEC §1 "Commission = team's commission base ×
total ÷ 100 − fines"; issue 24).

Set with `/提成基数 8000` or on the team settings page, it applies from the month it is set
in (the current month) on: earlier months that are still open keep the base they had, a
settled month keeps the one it was settled with (`Settlement.commission_base_cents`), and a
team that never set one uses KPI_COMMISSION_BASE.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from sqlalchemy import select
from sqlalchemy.orm import Session

from .ledger import Refused, settlement_row
from .periods import current_period, utcnow
from .roster import audit
from .tables import CommissionBase, Settlement, Team
from .usecases.base import Actor, Policy, require_supervisor

MAX_BASE = Decimal(10_000_000)


def commission_base_for(
    s: Session, team_id: int, period: str, default: Decimal | None
) -> Decimal | None:
    """The base a team's month is paid with: its settlement's once settled, else
    `open_month_base`."""
    st = settlement_row(s, team_id, period)
    if st is not None and st.status == "settled":
        c = st.commission_base_cents
        return None if c is None else Decimal(c) / 100
    return open_month_base(s, team_id, period, default)


def open_month_base(
    s: Session, team_id: int, period: str, default: Decimal | None
) -> Decimal | None:
    """The base of a month that is not settled: the latest base set from a month not after
    it, else the team's stored one, else `default` (KPI_COMMISSION_BASE). One statement
    (every command's rules read it when its team's are not remembered)."""
    latest = (
        select(CommissionBase.id)
        .where(CommissionBase.team_id == team_id, CommissionBase.from_period <= period)
        .order_by(CommissionBase.from_period.desc(), CommissionBase.id.desc())
        .limit(1)
    )
    found = s.execute(
        select(
            latest.scalar_subquery(),
            latest.with_only_columns(CommissionBase.cents).scalar_subquery(),
            Team.commission_base_cents,
        ).where(Team.id == team_id)
    ).first()
    if found is None:  # no such team
        return default
    row_id, cents, team_cents = found
    if row_id is not None:
        return default if cents is None else Decimal(cents) / 100
    if team_cents is not None:
        return Decimal(team_cents) / 100
    return default


def parse_base(word: str) -> Decimal | None:
    """`8000`, `8000.5`, `¥8,000`, `8000元` → Decimal; `默认` / `清除` → None (back to
    KPI_COMMISSION_BASE); anything else Refused with the reason."""
    w = word.strip().replace(",", "").replace("，", "").removeprefix("¥").removeprefix("￥")
    w = w.removesuffix("元").strip()
    if w in ("默认", "清除", "无", "off"):
        return None
    try:
        value = Decimal(w)
    except InvalidOperation:
        raise Refused(
            f"提成基数要写金额（元），例如 /提成基数 8000；“{word.strip()}” 不是金额"
        ) from None
    if not value.is_finite():
        raise Refused(f"提成基数要写金额（元），例如 /提成基数 8000；“{word.strip()}” 不是金额")
    if value < 0:
        raise Refused("提成基数不能是负数")
    if value > MAX_BASE:
        raise Refused(f"提成基数最多 {MAX_BASE} 元")
    if value != value.quantize(Decimal("0.01")):
        raise Refused("提成基数最多精确到分（两位小数）")
    return value


@dataclass(frozen=True)
class SetBase:
    """`/提成基数 8000` (or the settings page): from `period` (the current month) on."""

    team_id: int
    actor: Actor
    base: Decimal | None  # None: back to KPI_COMMISSION_BASE


@dataclass(frozen=True)
class BaseSet:
    team_name: str
    before: Decimal | None
    after: Decimal | None  # as it now applies (None: no commission)
    period: str
    default: Decimal | None
    settled_now: bool  # the current month is already settled: it keeps its base

    @property
    def reply(self) -> str:
        """The answer, the same in chat and on the dashboard."""
        now = "无（不计提成）" if self.after is None else f"¥{self.after}"
        was = "无" if self.before is None else f"¥{self.before}"
        text = f"✅ {self.team_name} 的提成基数从 {self.period} 起为 {now}（原为 {was}）"
        if self.settled_now:
            text += f"；{self.period} 已结算，仍按结算时的基数"
        return text + "；已结算的月份不变"


def set_commission_base(s: Session, req: SetBase, policy: Policy) -> BaseSet:
    """The use case of `/提成基数` and the settings page: record the team's base from the
    current month on and audit it; a supervisor of the team or a superuser only (SPEC §2).
    `policy.commission_base` is KPI_COMMISSION_BASE."""
    require_supervisor(s, req.team_id, req.actor, policy)
    default = policy.commission_base
    period = current_period(policy.tz)
    team = s.get(Team, req.team_id)
    if team is None:
        raise Refused("团队不存在")
    before = commission_base_for(s, req.team_id, period, default)
    cents = None if req.base is None else int(req.base * 100)
    s.add(
        CommissionBase(
            team_id=req.team_id,
            from_period=period,
            cents=cents,
            set_at=utcnow(),
            set_by=req.actor.key,
            set_by_name=req.actor.name,
        )
    )
    s.flush()
    after = commission_base_for(s, req.team_id, period, default)
    settled = s.execute(
        select(Settlement).where(
            Settlement.team_id == req.team_id,
            Settlement.period == period,
            Settlement.status == "settled",
        )
    ).scalar_one_or_none()
    audit(
        s,
        req.team_id,
        req.actor.key,
        "commission",
        f"team#{req.team_id}",
        {"base": None if before is None else str(before)},
        {
            "base": None if req.base is None else str(req.base),
            "from": period,
            "by": req.actor.name,
        },
        req.actor.channel,
    )
    return BaseSet(team.name, before, after, period, default, settled is not None)
