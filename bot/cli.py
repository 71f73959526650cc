"""`python -m bot export --month 2026-11 --team NAME -o file.xlsx`: the /导出 workbook without
chat; `python -m bot rotate-web-key`: a new dashboard cookie-signing key (SPEC §5a);
`backup`, `restore`, `move-db`, `dump`, `load`: operations (SPEC §5, `bot.backup`).

Reads its settings (KPI_DATABASE_URL, KPI_RUBRIC, KPI_TIMEZONE, KPI_COMMISSION_BASE) through
the bot's own `Config`, from `.env` and the environment, like the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from sqlalchemy.engine import make_url

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


# ---- operations (SPEC §5 Operations) -------------------------------------------------------


def _ops(work) -> int:
    """Run one operation; a refusal (a bot running, a bad file, a target with rows) is
    `❌ …` on stderr and exit 1."""
    from .backup import CopyError
    from .botlock import BotRunning

    try:
        print(asyncio.run(work))
    except BotRunning as e:
        print(f"❌ 有{e.who}正在使用这个数据库，请先停止它再操作", file=sys.stderr)
        return 1
    except (CopyError, OSError) as e:
        print(f"❌ {e}", file=sys.stderr)
        return 1
    return 0


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} KB"


def _rows(counts: dict[str, int]) -> str:
    return f"{sum(counts.values())} 行（{len(counts)} 张表）"


async def _backup(out: Path | None) -> str:
    from . import backup

    cfg = _config()
    folder = backup.backups_dir(cfg.kpi_data_dir)
    target = out or folder / f"kpi-{backup._stamp()}.zip"
    try:
        done = await backup.backup(cfg.kpi_database_url, target)
    except Exception as e:
        backup.record(folder, False, error=str(e))
        raise
    backup.record(folder, True, done)
    return (
        f"✅ 已备份到 {done.file}（{_size(done.size)}，{_rows(done.manifest['counts'])}，"
        f"已校验，用时 {done.seconds:.1f} 秒）"
    )


def backup_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot backup", description="备份数据库（运行中也可以）"
    )
    p.add_argument("-o", "--output", type=Path, help="备份文件（默认 KPI_DATA_DIR/backups/）")
    a = p.parse_args(argv)
    return _ops(_backup(a.output))


async def _restore(file: Path) -> str:
    from . import backup

    cfg = _config()
    r = await backup.restore(file, cfg.kpi_database_url, cfg.kpi_data_dir)
    moved = f"，并从版本 {r.revision} 升级到 {r.migrated_to}" if r.migrated_to != r.revision else ""
    return f"✅ 已从 {file.name} 恢复 {_rows(r.counts)}{moved}；原数据库保留在 {r.aside}"


def restore_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot restore", description="从备份恢复数据库（须先停止机器人）"
    )
    p.add_argument("file", type=Path, help="备份文件（backup 或 dump 生成的 .zip）")
    a = p.parse_args(argv)
    return _ops(_restore(a.file))


async def _move(to: str) -> str:
    from . import backup

    cfg = _config()
    counts = await backup.move_db(cfg.kpi_database_url, to)
    shown = make_url(to).render_as_string(hide_password=True)
    return (
        f"✅ 已把 {_rows(counts)} 复制到 {shown}，行数和已结算月份的分数两边一致；"
        f"把 KPI_DATABASE_URL 改成新地址再启动机器人"
    )


def move_db_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot move-db", description="把全部数据搬到另一个空数据库（须先停止机器人）"
    )
    p.add_argument("--to", required=True, help="目标数据库 URL，如 postgresql+asyncpg://…")
    a = p.parse_args(argv)
    return _ops(_move(a.to))


async def _dump(out: Path) -> str:
    from . import backup

    cfg = _config()
    manifest = await backup.dump_to(cfg.kpi_database_url, out)
    return f"✅ 已导出到 {out}（{_rows(manifest['counts'])}，版本 {manifest['revision']}，已校验）"


def dump_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot dump", description="可移植导出（JSON lines 的 zip）"
    )
    p.add_argument("-o", "--output", type=Path, required=True, help="输出 .zip 文件")
    a = p.parse_args(argv)
    return _ops(_dump(a.output))


async def _load(file: Path) -> str:
    from . import backup

    cfg = _config()
    counts = await backup.load_from(file, cfg.kpi_database_url)
    return f"✅ 已载入 {_rows(counts)}"


def load_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bot load", description="把可移植导出载入一个空数据库（须先停止机器人）"
    )
    p.add_argument("file", type=Path, help="dump 生成的 .zip")
    a = p.parse_args(argv)
    return _ops(_load(a.file))
