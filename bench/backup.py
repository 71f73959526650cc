"""Backup and restore at scale (issue 26): 1,000 agents / 100,000 entries by default.

    python bench/backup.py [--agents 1000 --entries 100000]

Builds bench/settlement's month (set-up, not timed), settles it, then times, through the
bot's own code (bot.backup): `backup` (copy, compress, check), `restore` of that backup
over the live database (the current one kept aside, checked, migrated), the portable
`dump` and `load`. Prints JSON on its last line.

SQLite by default; with a PostgreSQL `KPI_DATABASE_URL` (a server, e.g.
postgresql+asyncpg://postgres@127.0.0.1:5432/test) the databases are made on that server
(backup then uses pg_dump when it is installed) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy.ext.asyncio import AsyncSession

from bench.settlement import PERIOD, build
from bot import backup, db
from models.rubric import load_rubric
from models.settlement import settle
from tools import testdb


async def _settle(url: str) -> None:
    eng = db.make_engine(url)
    try:
        async with AsyncSession(eng, expire_on_commit=False) as s, s.begin():
            await s.run_sync(settle, load_rubric(), 1, PERIOD, "bench", None)
    finally:
        await eng.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=100_000)
    a = ap.parse_args()
    testdb.use_database_url_from_env()
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-backup-"))
    url = await testdb.create_database(folder, "live")
    blank = await testdb.create_database(folder / "blank", "blank")
    out: dict = {"engine": testdb.engine_name(), "agents": a.agents, "entries": a.entries}
    try:
        await build(url, a.agents, a.entries)
        await _settle(url)
        path = db.sqlite_path(url)
        if path is not None:
            out["database_bytes"] = path.stat().st_size

        t0 = time.perf_counter()
        done = await backup.backup(url, folder / "b.zip")
        out["backup_s"] = round(time.perf_counter() - t0, 3)
        out["backup_bytes"] = done.size
        out["backup_format"] = done.manifest["format"]

        t0 = time.perf_counter()
        restored = await backup.restore(folder / "b.zip", url, folder / "data")
        out["restore_s"] = round(time.perf_counter() - t0, 3)
        assert restored.counts["entry"] == a.entries

        t0 = time.perf_counter()
        await backup.dump_to(url, folder / "d.zip")
        out["dump_s"] = round(time.perf_counter() - t0, 3)
        out["dump_bytes"] = (folder / "d.zip").stat().st_size

        t0 = time.perf_counter()
        counts = await backup.load_from(folder / "d.zip", blank)
        out["load_s"] = round(time.perf_counter() - t0, 3)
        assert counts["entry"] == a.entries
    finally:
        await testdb.drop_created()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
