"""The settlement driver: every team's due, never-settled month, each through the write
door (`bot.door.write`) under its team's lock, so a backdated entry of that month either
commits before the scores are read or is refused 「已结算」 (SPEC §4, §6)."""

from __future__ import annotations

from nonebot import logger

from bot import door
from bot.config import get_config
from bot.runtime import rubric
from models.periods import UTC, utcnow
from models.roster import teams as all_teams
from models.settlement import settlement_row
from models.tables import Team
from models.usecases.monthly import DueRequest, settle_due_month

from .schedule import due_periods


async def settle_due() -> list[tuple[Team, str]]:
    """Settle every team's due, never-settled month. Reopened months wait for a person."""
    now = utcnow().replace(tzinfo=UTC)
    cfg = get_config()
    done = []
    for team in await door.read(all_teams):
        for period in due_periods(team, now):
            found = await door.read(lambda s, t=team.id, p=period: settlement_row(s, t, p))
            if found is not None:
                continue
            request = DueRequest(
                team.id, period, rubric(), cfg.kpi_commission_base, cfg.kpi_monthly_dm
            )
            settled = await door.write(team.id, lambda s, r=request: settle_due_month(s, r))
            if settled is not None:
                logger.info(f"settled {team.name} {period}: {settled.members} members")
                done.append((team, period))
    return done
