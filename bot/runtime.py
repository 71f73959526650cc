"""Process-wide state every plugin shares: the rubric in force and the database.

Importing this module (every plugin does) registers the start-up hook that opens and
migrates the database, so `python -m bot` and `nb run` behave the same.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from nonebot import get_driver, logger

from models.rubric import Rubric, load_rubric
from models.usecases.base import Policy

from . import db, doors, identity
from .commands import RESERVED
from .config import get_config


@cache
def rubric() -> Rubric:
    """The rubric of KPI_RUBRIC (or the default), validated; raises RubricError if invalid."""
    return load_rubric(get_config().kpi_rubric or None, reserved=set(RESERVED))


def commission_base() -> Decimal | None:
    return get_config().kpi_commission_base


def policy() -> Policy:
    """The settings the use cases read, from the configuration as it is now."""
    cfg = get_config()
    return Policy(
        rubric=rubric(),
        tz=cfg.tz,
        commission_base=cfg.kpi_commission_base,
        admins_are_supervisors=cfg.kpi_admins_are_supervisors,
        undo_minutes=cfg.kpi_undo_minutes,
    )


async def open_database() -> None:
    cfg = get_config()
    path = db.sqlite_path(cfg.kpi_database_url)
    doors.private_files(path)
    if db._engine is None:
        db.init_engine(cfg.kpi_database_url)
    await db.migrate()
    doors.private_files(path)
    await identity.load_claims()
    logger.opt(colors=True).info(
        f"数据库就绪 / database ready: <y>{path.resolve() if path else cfg.kpi_database_url}</y>"
    )
    conf = get_driver().config
    token = getattr(conf, "onebot_access_token", None)
    hint = "（QQ 端的 access token 填 .env 里的 ONEBOT_ACCESS_TOKEN）" if token else ""
    for v in ("v11", "v12"):
        logger.opt(colors=True).info(
            f"OneBot {v} 反向 WebSocket / reverse WS: <y>ws://{conf.host}:{conf.port}/onebot/{v}/ws</y>{hint}"
        )


def _validate_or_exit() -> None:
    """Config, rubric and the ways in (`bot.doors`: a token when HOST is not loopback, the
    OneBot HTTP webhook guard) are checked when the first plugin loads; NoneBot's plugin
    loader swallows exceptions, so an invalid one stops the process here (also under
    `nb run`)."""
    from pydantic import ValidationError

    from models.rubric import RubricError

    try:
        get_config()
        rubric()
        for warning in doors.check_exposure(
            str(get_driver().config.host), doors.Keys.from_config()
        ):
            logger.warning(warning)
        doors.install_guard(get_driver())
    except doors.ExposureError as e:
        logger.error(f"配置错误 {e}")
        raise SystemExit(2) from e
    except ValidationError as e:
        for err in e.errors():
            logger.error(f"配置错误 {'.'.join(map(str, err['loc'])).upper()}: {err['msg']}")
        raise SystemExit(2) from e
    except RubricError as e:
        logger.error(f"考核表错误：{e}")
        raise SystemExit(2) from e


doors.private_files()
_validate_or_exit()
_driver = get_driver()
_driver.on_startup(open_database)
_driver.on_shutdown(db.dispose)


async def month_rules(session, team_id: int, period: str):
    """(rubric, commission base) a month is scored with: its snapshot once settled."""
    from models.settlement import month_rules as rules

    return await rules(session, team_id, period, rubric(), commission_base())
