"""When months are due: the cron of KPI_MONTHLY_CRON in KPI_TIMEZONE (SPEC §4)."""

from __future__ import annotations

from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from bot.config import get_config
from models.periods import UTC, period_bounds, period_of, shift_period
from models.tables import Team


def monthly_trigger() -> CronTrigger:
    cfg = get_config()
    return CronTrigger.from_crontab(cfg.kpi_monthly_cron, timezone=cfg.tz)


def scheduled_time(period: str) -> datetime:
    """When the month `period` is due: the first cron fire at or after the next month began."""
    cfg = get_config()
    first, _ = period_bounds(shift_period(period, 1))
    start = datetime(first.year, first.month, first.day, tzinfo=cfg.tz)
    fire = monthly_trigger().get_next_fire_time(None, start)
    return fire or start


def due_periods(team: Team, now: datetime) -> list[str]:
    """Months of a team whose scheduled settlement time has passed (oldest first)."""
    tz = get_config().tz
    out = []
    period = period_of(team.created_at, tz)
    last = shift_period(period_of(now.astimezone(UTC).replace(tzinfo=None), tz), -1)
    while period <= last:
        if scheduled_time(period) <= now:
            out.append(period)
        period = shift_period(period, 1)
    return out
