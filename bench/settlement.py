"""Settlement at scale: settle a month and render its ranking (text + image).

    python bench/settlement.py [--agents 1000 --entries 100000] [--runs 3]

Targets (issue 8): 1,000 agents / 100,000 entries ≤ 1 s; 10,000 / 1,000,000 ≤ 10 s; peak
memory ≤ 200 MB. The database is built once with plain sqlite3 (that is set-up, not timed);
each run settles the month in a fresh copy through the bot's own code (models.settlement),
then formats the ranking the way the monthly post does. Prints JSON on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import db
from bot.format import ranking_lines, ranking_table, rows_of
from bot.render import render_ranking
from models.rubric import load_rubric
from models.settlement import settle

PERIOD = "2026-10"


async def build(path: Path, agents: int, entries: int) -> None:
    engine = db.make_engine(f"sqlite+aiosqlite:///{path}")
    await db.migrate("head", engine)
    await engine.dispose()
    rubric = load_rubric()
    items = [(i.key, i.target is not None) for i in rubric.items]
    rng = random.Random(7)
    con = sqlite3.connect(path)
    con.execute("INSERT INTO team (id, name, created_at) VALUES (1, '大团队', '2026-09-01')")
    con.executemany(
        "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on)"
        " VALUES (?, 1, 'qq', ?, ?, 'agent', '2026-09-01')",
        [(m, str(100000 + m), f"客服{m:05d}") for m in range(1, agents + 1)],
    )
    con.executemany(
        "INSERT INTO tenure (member_id, start) VALUES (?, '2026-09-01')",
        [(m,) for m in range(1, agents + 1)],
    )
    rows = []
    for n in range(entries):
        key, promo = items[rng.randrange(len(items))]
        rows.append(
            (
                rng.randrange(1, agents + 1),
                key,
                rng.randrange(1, 30) if key == "friends" else 1,
                f"https://e.com/{n}"
                if promo and key in ("article", "paid_article", "media")
                else None,
                "2026-10-15 03:00:00",
            )
        )
    con.executemany(
        "INSERT INTO entry (team_id, member_id, period, item_key, quantity, fine_cents, link,"
        " created_at, created_by, created_by_name) VALUES (1, ?, '2026-10', ?, ?, 0, ?, ?,"
        " 'qq:1', 'bench')",
        rows,
    )
    con.commit()
    con.close()


async def one_run(template: Path, work: Path) -> dict:
    shutil.copy(template, work)
    rubric = load_rubric()
    db.init_engine(f"sqlite+aiosqlite:///{work}")
    try:
        t0 = time.perf_counter()
        async with db.writing() as s:
            result = await settle(s, rubric, 1, PERIOD, "bench", None)
        t1 = time.perf_counter()
        rows = rows_of(result.ranking)
        text = "\n".join(ranking_lines(rubric, rows[:50]))
        heads, cells = ranking_table(rubric, rows[:50])
        png = render_ranking(f"大团队 {PERIOD} 月度绩效", heads, cells, "bench")
        t2 = time.perf_counter()
    finally:
        await db.dispose()
    return {
        "settle_s": t1 - t0,
        "render_s": t2 - t1,
        "total_s": t2 - t0,
        "members": len(result.ranking),
        "text_chars": len(text),
        "image_bytes": len(png or b""),
    }


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.build_only:
        await build(a.build_only, a.agents, a.entries)
        return
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-"))
    template = folder / "template.db"
    t = time.perf_counter()
    # Built in a child process, so that peak memory below is the settlement's alone.
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, __file__, "--agents", str(a.agents), "--entries", str(a.entries),
         "--build-only", str(template)],
        check=True,
    )  # fmt: skip
    print(f"built {a.agents} agents / {a.entries} entries in {time.perf_counter() - t:.1f}s")
    runs = []
    for i in range(a.runs):
        r = await one_run(template, folder / f"run{i}.db")
        print(json.dumps(r))
        runs.append(r)
    shutil.rmtree(folder, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "bench": "settlement",
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
