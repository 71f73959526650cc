"""Process-wide state every plugin shares: the rubric in force and the database.

Importing this module (every plugin does) registers the start-up hook that opens and
migrates the database, so `python -m bot` and `nb run` behave the same.
"""

from __future__ import annotations

import asyncio
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


RULES_TTL = 5.0  # seconds a team's rules of the month are remembered for command replies
_rules: dict[tuple, tuple[float, Rubric, Decimal | None]] = {}


def in_force(s, team_id: int | None, p: Policy) -> Policy:
    """`p` with the rubric version and the team's commission base in force this month
    (`models.settlement.rules_in_force`), read in the command's own transaction; a
    command of a group with no team keeps the file's.

    Module state: the answer is remembered `RULES_TTL` per (team, month) — every command
    needs it, and it changes only by `/提成基数`, the dashboard's activation or a settlement
    (the settlement itself, the rankings and the dashboard always read it afresh; a month's
    settled state is checked by every write on its own). `forget_rules` clears it."""
    if team_id is None:
        return p
    import time
    from dataclasses import replace

    from models.periods import current_period
    from models.settlement import rules_in_force

    key = (team_id, current_period(p.tz), id(p.rubric), p.commission_base)
    hit = _rules.get(key)
    now = time.monotonic()
    if hit is not None and hit[0] > now and hit[1] is not None:
        rub, base = hit[1], hit[2]
    else:
        rub, base = rules_in_force(s, team_id, key[1], p.rubric, p.commission_base)
        _rules[key] = (now + RULES_TTL, rub, base)
    if rub is p.rubric and base == p.commission_base:
        return p
    return replace(p, rubric=rub, commission_base=base, fallback=(p.rubric, p.commission_base))


def forget_rules() -> None:
    """This process's rules of every team and month are read again at the next command
    (after a `/提成基数` or an activation on the dashboard)."""
    global _reading
    _rules.clear()
    _now.clear()
    _reading = None  # made again in the running loop (tests run several)


_now: dict[str, tuple[float, Rubric]] = {}  # current month → (until, rubric in force)
_reading: asyncio.Lock | None = None


async def rubric_in_force() -> Rubric:
    """The rubric in force for the current month (`models.rubricstore.rubric_for`: the
    version activated on the dashboard for it, else the file's). The chat commands a group
    answers, their usage lines and `/帮助` follow it (SPEC §5a "Rubric versions"), without
    a restart: this process's own activation shows at the next message (`forget_rules`),
    another process's within `RULES_TTL`. A database that cannot be read keeps the last
    answer (the file's before any)."""
    import time

    from models.periods import current_period
    from models.rubricstore import rubric_for as version_for

    from . import door

    global _reading
    period = current_period(get_config().tz)
    hit = _now.get(period)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    if _reading is None:
        _reading = asyncio.Lock()
    async with _reading:  # a burst of messages waits for one read, not one each
        hit = _now.get(period)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            rub = await door.read(lambda s: version_for(s, period, rubric()))
        except Exception:
            logger.exception("reading the rubric in force failed")
            rub, ttl = rubric_now(), 1.0  # tried again in a second, not by every waiter
        else:
            ttl = RULES_TTL
        _now.clear()
        _now[period] = (now + ttl, rub)
        return rub


def rubric_now() -> Rubric:
    """The last `rubric_in_force` answer, without a read (the file's before any): for
    wording a reply about an item the file's rubric may not have."""
    return next(iter(_now.values()))[1] if _now else rubric()


def settle_the_heap() -> None:
    """What start-up built (NoneBot, the adapters, SQLAlchemy, pydantic, the templates:
    about 200,000 objects that live as long as the process) leaves the garbage collector's
    full collections (`gc.freeze`; cyclic garbage is collected first). A full collection
    then walks only what the bot holds since (the dashboard's kept scores: bench/README.md):
    measured at 1,000 agents, 2 × 18 ms instead of 1 × 125–195 ms per ten team pages, the
    pause that was their slowest request. Frozen objects are still freed when nothing
    refers to them."""
    import gc

    gc.collect()
    gc.freeze()


async def open_database() -> None:
    cfg = get_config()
    path = db.sqlite_path(cfg.kpi_database_url)
    doors.private_files(path)
    if db._engine is None:
        db.init_engine(cfg.kpi_database_url)
    await db.migrate()
    doors.private_files(path)
    await identity.load_claims()
    settle_the_heap()
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


async def rubric_for(period: str) -> Rubric:
    """The rubric in force for `period` (`models.rubricstore.rubric_for`): the version
    activated for it on the dashboard, else the file of KPI_RUBRIC. A settled month keeps
    its snapshot (`models.settlement.rules_in_force`). In a use case (a sync Session) call
    `models.rubricstore.rubric_for(s, period, rubric())` instead."""
    from models.rubricstore import rubric_for as in_force

    from . import door

    return await door.read(lambda s: in_force(s, period, rubric()))


async def commission_base_for(team_id: int, period: str) -> Decimal | None:
    """The team's commission base for `period` (`models.commission.commission_base_for`):
    a settled month's own, else the team's from that month, else KPI_COMMISSION_BASE."""
    from models.commission import commission_base_for as base_for

    from . import door

    return await door.read(lambda s: base_for(s, team_id, period, commission_base()))
