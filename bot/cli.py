"""`python -m bot export --month 2026-11 --team NAME -o file.xlsx`: the /导出 workbook without chat.

Reads KPI_DATABASE_URL, KPI_RUBRIC, KPI_TIMEZONE and KPI_COMMISSION_BASE from the
environment or `.env`, like the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from models.export import export_month
from models.periods import current_period, parse_period
from models.roster import team_by_name
from models.rubric import load_rubric

from . import db


def _settings() -> dict[str, str]:
    values: dict[str, str] = {}
    env = Path(".env")
    if env.is_file():
        for line in env.read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                k, v = line.split("=", 1)
                values[k.strip().upper()] = v.strip().strip("\"'")
    values.update({k: v for k, v in os.environ.items() if k.startswith("KPI_")})
    return values


async def _export(team_name: str, month: str | None) -> bytes | str:
    cfg = _settings()
    tz = ZoneInfo(cfg.get("KPI_TIMEZONE") or "Asia/Shanghai")
    period = parse_period(month, tz) if month else current_period(tz)
    if period is None:
        return f"月份 {month} 无效"
    base = Decimal(cfg["KPI_COMMISSION_BASE"]) if cfg.get("KPI_COMMISSION_BASE") else None
    rubric = load_rubric(cfg.get("KPI_RUBRIC") or None)
    db.init_engine(cfg.get("KPI_DATABASE_URL") or "sqlite+aiosqlite:///data/kpi.db")
    try:
        await db.migrate()
        async with db.reading() as s:
            team = await team_by_name(s, team_name)
            if team is None:
                return f"没有团队 {team_name}"
            data, _, _ = await export_month(s, rubric, base, team, period, tz)
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
