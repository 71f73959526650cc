"""Housekeeping: old dashboard links and sessions and old message claims are pruned once a
day (`models.housekeeping`, SPEC §5)."""

from __future__ import annotations

from nonebot import get_driver, logger, require

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot import door  # noqa: E402
from bot.commands import plugin_meta  # noqa: E402
from bot.config import get_config  # noqa: E402
from models.housekeeping import Pruned, prune  # noqa: E402
from models.periods import utcnow  # noqa: E402

__plugin_meta__ = plugin_meta("日常清理", "每天清理过期的后台登录链接和旧的消息记录", [])

JOB_ID = "kpi-housekeeping"


async def prune_job() -> Pruned:
    """The daily job: one short write (every process may run it; deleting is idempotent)."""
    pruned = await door.write(None, lambda s: prune(s, utcnow()))
    if pruned.logins or pruned.messages:
        logger.info(f"pruned {pruned.logins} web logins and {pruned.messages} message claims")
    return pruned


@get_driver().on_startup
async def _schedule() -> None:
    scheduler.add_job(
        prune_job,
        "cron",
        hour=4,
        minute=17,
        timezone=get_config().tz,
        id=JOB_ID,
        replace_existing=True,
        misfire_grace_time=3600,
        coalesce=True,
    )
