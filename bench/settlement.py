"""Settlement at scale: settle a month and render its ranking (text + image).

    python bench/settlement.py [--agents 1000 --entries 100000] [--runs 3]

Targets (issues 8, 14): 1,000 agents / 100,000 entries ≤ 1 s including the image;
10,000 / 1,000,000 ≤ 10 s and ≤ 200 MB peak RSS (about 75 MB of it is the imported
libraries). The database is built once, in a child process (set-up, not timed, not in the
peak); each run settles the month in a fresh copy through the bot's own code
(models.settlement), then formats the ranking the way the monthly post does. Prints JSON
on its last line. The image needs a CJK font (`KPI_FONT=/path/to/font.ttc`); without one
`image_bytes` is 0 and the image is not drawn, as in the bot.

SQLite by default; with a PostgreSQL `KPI_DATABASE_URL` (a server and a database to
connect to, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test) the databases are
made on that server and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, text

from bot import db
from bot.format import ranking_lines, ranking_table, rows_of
from bot.render import render_ranking
from models.rubric import load_rubric
from models.settlement import settle
from tools import testdb

PERIOD = "2026-10"


async def build(url: str, agents: int, entries: int) -> None:
    """The month's data, written through SQLAlchemy Core (set-up, not timed)."""
    from models.tables import Entry, Member, Team, Tenure

    engine = db.make_engine(url)
    await db.migrate("head", engine)
    rubric = load_rubric()
    items = [(i.key, i.target is not None) for i in rubric.items]
    rng = random.Random(7)
    sept = date(2026, 9, 1)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Team), [{"id": 1, "name": "大团队", "created_at": datetime(2026, 9, 1)}]
        )
        await conn.execute(
            insert(Member),
            [
                {"id": m, "team_id": 1, "platform": "qq", "user_id": str(100000 + m),
                 "name": f"客服{m:05d}", "role": "agent", "joined_on": sept}
                for m in range(1, agents + 1)
            ],
        )  # fmt: skip
        await conn.execute(
            insert(Tenure), [{"member_id": m, "start": sept} for m in range(1, agents + 1)]
        )
        chunk = []
        for n in range(entries):
            key, promo = items[rng.randrange(len(items))]
            chunk.append(
                {
                    "team_id": 1,
                    "member_id": rng.randrange(1, agents + 1),
                    "period": PERIOD,
                    "item_key": key,
                    "quantity": rng.randrange(1, 30) if key == "friends" else 1,
                    "fine_cents": 0,
                    "link": f"https://e.com/{n}"
                    if promo and key in ("article", "paid_article", "media")
                    else None,
                    "created_at": datetime(2026, 10, 15, 3),
                    "created_by": "qq:1",
                    "created_by_name": "bench",
                }
            )
            if len(chunk) == 20_000:
                await conn.execute(insert(Entry), chunk)
                chunk = []
        if chunk:
            await conn.execute(insert(Entry), chunk)
        if engine.dialect.name == "postgresql":
            for table in ("team", "member"):
                await conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                         f"(SELECT MAX(id) FROM {table}))")
                )  # fmt: skip
    await engine.dispose()


async def one_run(template: str, folder: Path, i: int) -> dict:
    url = await testdb.copy_database(template, folder, f"run{i}")
    rubric = load_rubric()
    db.init_engine(url)
    try:
        t0 = time.perf_counter()
        async with db.writing() as s:
            result = await s.run_sync(settle, rubric, 1, PERIOD, "bench", None)
        t1 = time.perf_counter()
        rows = rows_of(result.ranking)
        text_ = "\n".join(ranking_lines(rubric, rows[:50]))
        heads, cells = ranking_table(rubric, rows[:50])
        png = render_ranking(f"大团队 {PERIOD} 月度绩效", heads, cells, "bench")
        t2 = time.perf_counter()
    finally:
        await db.dispose()
        await testdb.drop_database(url)
    return {
        "settle_s": t1 - t0,
        "render_s": t2 - t1,
        "total_s": t2 - t0,
        "members": len(result.ranking),
        "text_chars": len(text_),
        "image_bytes": len(png or b""),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build-only", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.build_only:
        await build(a.build_only, a.agents, a.entries)
        return
    testdb.use_database_url_from_env()
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    template = await testdb.create_database(folder, "template")
    print(f"engine: {testdb.engine_name()}")
    t = time.perf_counter()
    # Built in a child process, so that peak memory below is the settlement's alone.
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, __file__, "--agents", str(a.agents), "--entries", str(a.entries),
         "--build-only", template],
        check=True,
    )  # fmt: skip
    print(f"built {a.agents} agents / {a.entries} entries in {time.perf_counter() - t:.1f}s")
    runs = []
    for i in range(a.runs):
        r = await one_run(template, folder, i)
        print(json.dumps(r))
        runs.append(r)
    shutil.rmtree(folder, ignore_errors=True)
    await testdb.drop_database(template)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "settlement",
                "engine": testdb.engine_name(),
                "agents": a.agents,
                "entries": a.entries,
                "median_total_s": round(statistics.median(r["total_s"] for r in runs), 3),
                "median_settle_s": round(statistics.median(r["settle_s"] for r in runs), 3),
                "median_render_s": round(statistics.median(r["render_s"] for r in runs), 3),
                "peak_rss_mb": round(peak_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
