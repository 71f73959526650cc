"""`python -m bot export --month 2026-11 --team NAME -o file.xlsx`: the /导出 workbook without
chat; `python -m bot rotate-web-key`: a new dashboard cookie-signing key (SPEC §5a).

Reads its settings (KPI_DATABASE_URL, KPI_RUBRIC, KPI_TIMEZONE, KPI_COMMISSION_BASE) through
the bot's own `Config`, from `.env` and the environment, like the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from models.export import export_month
from models.periods import current_period, parse_period
from models.roster import team_by_name
from models.rubric import load_rubric
from models.weblogin import rotate_signing_key

from . import db


def _config():
    """The bot's own `Config`, read from `.env` and the environment exactly as `python -m
    bot` reads it (NoneBot's settings loader, with the driver that starts nothing)."""
    import nonebot

    from .config import get_config

    nonebot.init(driver="~none")
    return get_config()


async def _export(team_name: str, month: str | None) -> bytes | str:
    cfg = _config()
    period = parse_period(month, cfg.tz) if month else current_period(cfg.tz)
    if period is None:
        return f"月份 {month} 无效"
    rubric = load_rubric(cfg.kpi_rubric or None)
    db.init_engine(cfg.kpi_database_url)
    try:
        await db.migrate()
        async with db.reading() as s:
            team = await team_by_name(s, team_name)
            if team is None:
                return f"没有团队 {team_name}"
            data, _, _ = await export_month(
                s, rubric, cfg.kpi_commission_base, team, period, cfg.tz
            )
    finally:
        await db.dispose()
    return data


def export_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m bot export", description="导出某团队某月的绩效表")
    p.add_argument("--team", required=True, help="团队名")
    p.add_argument("--month", help="月份，如 2026-11（默认本月）")
    p.add_argument("-o", "--output", type=Path, required=True, help="输出 .xlsx 文件")
    a = p.parse_args(argv)
    result = asyncio.run(_export(a.team, a.month))
    if isinstance(result, str):
        print(f"❌ {result}", file=sys.stderr)
        return 1
    a.output.write_bytes(result)
    print(f"✅ 已导出到 {a.output}")
    return 0


async def _rotate() -> int:
    cfg = _config()
    db.init_engine(cfg.kpi_database_url)
    try:
        await db.migrate()
        async with db.writing() as s:
            return await rotate_signing_key(s)
    finally:
        await db.dispose()


def rotate_web_key_main(argv: list[str]) -> int:
    """Replace the key that signs dashboard cookies and end every web session: a copied
    cookie (or a copy of the database's old key) opens nothing any more."""
    argparse.ArgumentParser(
        prog="python -m bot rotate-web-key",
        description="更换网页后台的 cookie 签名密钥，所有人需重新 /后台 登录",
    ).parse_args(argv)
    ended = asyncio.run(_rotate())
    print(f"✅ 已更换网页后台密钥，结束了 {ended} 个登录；大家重新发 /后台 即可登录")
    return 0
