"""Operations (SPEC §5): the running bot holds its database (`bot.botlock`, so `restore`,
`load` and `move-db` refuse while it runs), the daily backup at KPI_BACKUP_TIME, `/状态`
for superusers and `GET /kpi/healthz`."""

from __future__ import annotations

from datetime import datetime, timedelta

import nonebot
from nonebot import get_driver, logger, require

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot import backup, botlock, db, door, status  # noqa: E402
from bot.commands import COMMANDS, plugin_meta, usages  # noqa: E402
from bot.config import get_config, parse_hhmm  # noqa: E402
from bot.context import Ctx  # noqa: E402
from bot.dispatch import Call, Later, kpi_command  # noqa: E402
from bot.identity import superuser_ids  # noqa: E402
from bot.parse import Args  # noqa: E402
from bot.send import send_direct  # noqa: E402
from models.ledger import Refused  # noqa: E402
from models.periods import local_now  # noqa: E402
from models.usecases import reads  # noqa: E402

__plugin_meta__ = plugin_meta("运维", "每日自动备份；/状态 查看机器人运行状态", usages("status"))

BACKUP_JOB = "kpi-daily-backup"
SETTLEMENT_JOB = "kpi-monthly-settlement"
_held: list[botlock.Held] = []


def _url() -> str:
    """The database this process runs on."""
    return db.engine().url.render_as_string(hide_password=False)


async def tell_superusers(text: str) -> int:
    """A private message to every superuser, through one connected account per platform."""
    told = 0
    by_platform: dict[str, object] = {}
    for b in nonebot.get_bots().values():
        by_platform.setdefault(status.platform_of(b), b)
    for platform, b in by_platform.items():
        for uid in superuser_ids(platform):
            try:
                await send_direct(b, uid, [text])  # type: ignore[arg-type]
                told += 1
            except Exception as e:
                logger.warning(f"telling superuser {uid} about the backup failed: {e!r}")
    return told


async def backup_job(now: datetime | None = None) -> backup.Done | None:
    """The daily backup, once per day across every process on the database (the day is
    claimed first); a failure is told to the superusers."""
    cfg = get_config()
    now = now or local_now(cfg.tz)
    key = f"kpi-backup:{now.date().isoformat()}"
    if not await door.claim(None, key):
        return None
    try:
        done = await backup.daily(_url(), cfg.kpi_data_dir, cfg.kpi_backup_keep, now)
    except Exception as e:
        logger.exception("the daily backup failed")
        await tell_superusers(
            f"❌ {now:%m-%d %H:%M} 的自动备份失败：{e or type(e).__name__}。"
            f"请检查磁盘空间和 {backup.backups_dir(cfg.kpi_data_dir)}，"
            f"或手动运行 python -m bot backup"
        )
        return None
    logger.info(f"daily backup: {done.file} ({done.size} bytes, {done.seconds:.1f} s)")
    return done


driver = get_driver()


@driver.on_startup
async def _start() -> None:
    try:
        _held.append(await botlock.hold_for_bot(_url()))
    except botlock.BotRunning as e:
        logger.error(f"{e.who}正在维护这个数据库（恢复或迁移），等它结束再启动机器人")
        raise SystemExit(1) from e
    hhmm = parse_hhmm(get_config().kpi_backup_time or "")
    if hhmm is not None:
        scheduler.add_job(
            backup_job,
            "cron",
            hour=hhmm[0],
            minute=hhmm[1],
            timezone=get_config().tz,
            id=BACKUP_JOB,
            replace_existing=True,
            misfire_grace_time=3600,
            coalesce=True,
            max_instances=1,
        )


@driver.on_shutdown
async def _stop() -> None:
    while _held:
        await _held.pop().release()


def _next_run(job_id: str, now: datetime) -> datetime | None:
    job = scheduler.get_job(job_id)
    after = now + timedelta(seconds=1)  # a job starting this very second is not "next"
    return job.trigger.get_next_fire_time(None, after) if job is not None else None


@kpi_command(COMMANDS["status"])
def status_cmd(ctx: Ctx, args: Args) -> Call:
    """SPEC §5 Operations: superusers only, in private chat or a bound group (an unbound
    group hears nothing but /绑定 and /帮助, SPEC §2)."""
    if not ctx.is_superuser:
        raise Refused("仅超级管理员可用")
    cfg = get_config()
    now = local_now(cfg.tz)
    url = _url()
    file = db.sqlite_path(url)
    request = reads.StatusRead(cfg.kpi_daily_reminder, file is not None, tuple(status.HELD))

    def reply(facts: reads.StatusFacts) -> Later:
        async def with_file_size() -> str:  # the disk is read after the session closed
            size = facts.size if file is None else await status.file_size(file)
            reminders = [
                status.next_daily(now, hhmm, cfg.reminder_days)
                for v in facts.reminders
                if (hhmm := parse_hhmm(v)) is not None
            ]
            st = status.Status(
                engine=db.engine().dialect.name,
                size=size,
                accounts=status.accounts(nonebot.get_bots()),
                backup=status.last_backup(cfg.kpi_data_dir),
                held=facts.held,
                settlement=_next_run(SETTLEMENT_JOB, now),
                reminder=min((r for r in reminders if r is not None), default=None),
                backup_next=_next_run(BACKUP_JOB, now),
                tz=cfg.tz,
            )
            return status.lines(st)

        return Later(with_file_size)

    return Call(reads.status, request, reply)


async def healthz():
    """`GET /kpi/healthz`: no login, no team data; 503 when the database does not answer."""
    from fastapi.responses import JSONResponse

    cfg = get_config()
    ok = await status.database_ok()
    body = status.healthz(
        ok, nonebot.get_bots(), status.backup_age_s(cfg.kpi_data_dir, local_now(cfg.tz))
    )
    return JSONResponse(body, status_code=200 if ok else 503)


def _mount() -> None:
    try:
        app = nonebot.get_app()
    except Exception:  # a driver without a FastAPI app (e.g. ~none)
        return
    app.add_api_route("/kpi/healthz", healthz, methods=["GET"], include_in_schema=False)


_mount()
