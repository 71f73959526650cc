"""The dashboard at scale: the team page and an agent page, served by the bot's own app.

    python bench/dashboard.py [--agents 1000 --entries 100000] [--runs 20]

Targets (issue 16): team page ≤ 300 ms, agent page ≤ 100 ms; issue 24: team page ≤ 150 ms,
also the first view after a new entry (`team_after_write`), what-if of that month ≤ 1 s
(median, server side) for 1,000 agents / 100,000 entries; the entries page and the what-if
are measured after a write too. The database is built as bench/settlement.py builds it; the
clock is set inside that month, so the team page also lists today's non-reporters. Requests
go through the ASGI app in-process (routing, session check, queries, template), no network.
Prints JSON on its last line. A PostgreSQL `KPI_DATABASE_URL` runs it on a throwaway
database made on that server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.settlement import build
from tools import testdb


async def timed(client, url: str, runs: int) -> tuple[list[float], list[float], int]:
    """Wall time and CPU time (this process, all threads) of each request, and the size.
    On a shared machine the CPU time is the steadier measure of the server's work."""
    times, cpu = [], []
    size = 0
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        r = await client.get(url)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
    return times, cpu, size


_written = 0


async def one_new_entry() -> None:
    """One new entry of the month (another agent each time), committed."""
    global _written
    from sqlalchemy import insert

    from bot import db
    from models.tables import Entry

    _written += 1
    async with db.writing() as s:
        await s.execute(
            insert(Entry).values(
                team_id=1, member_id=1 + _written % 1000, period="2026-10", item_key="late",
                quantity=1, created_at=datetime(2026, 10, 20, 1), created_by="qq:1",
                created_by_name="bench",
            )
        )  # fmt: skip


def after_a_write(measure):
    """`measure` with one new entry logged before each request: the first view after a
    write (the page cannot show what it showed before)."""

    async def run(client, url: str, runs: int) -> tuple[list[float], list[float], int]:
        times, cpu, size = [], [], 0
        for _ in range(runs):
            await one_new_entry()
            t, c, size = await measure(client, url, 1)
            times += t
            cpu += c
        return times, cpu, size

    return run


async def timed_whatif(client, url: str, runs: int) -> tuple[list[float], list[float], int]:
    """The what-if of the month under the default rubric with 迟到 at −3 (a POST from the
    rubric page, with its CSRF token)."""
    import re

    from models.rubric import DEFAULT_RUBRIC_PATH

    page = (await client.get("/kpi/team/1/rubric?month=2026-10")).text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
    old = 'key = "late"\nname = "迟到"\ncategory = "hr"\npoints = -1'
    form = {"csrf": token, "month": "2026-10", "toml": text.replace(old, old[:-2] + "-3")}
    times, cpu, size = [], [], 0
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        r = await client.post(url, data=form)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
    return times, cpu, size


async def analyze(url: str) -> None:
    """PostgreSQL: the planner's statistics of the loaded tables, as autovacuum gathers them
    within a minute of a bulk load (without them every table looks one row long, and the
    month's queries sort on disk instead of hashing)."""
    if not url.startswith("postgresql"):
        return
    from sqlalchemy import text

    from bot import db

    engine = db.make_engine(url)
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))
    await engine.dispose()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument(
        "--profile", metavar="PAGE", help="print a pyinstrument profile of one page (team, …)"
    )
    a = ap.parse_args()
    testdb.use_database_url_from_env()
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-web-"))
    url = await testdb.create_database(folder, "kpi")
    print(f"engine: {testdb.engine_name()}")
    t = time.perf_counter()
    await build(url, a.agents, a.entries)
    print(f"built {a.agents} agents / {a.entries} entries in {time.perf_counter() - t:.1f}s")
    await analyze(url)

    import httpx
    import nonebot

    from bot import db
    from bot.app import create_app
    from models.periods import set_clock
    from models.weblogin import issue_link

    create_app(
        driver="~fastapi",
        superusers={"qq:1"},
        kpi_database_url=url,
        kpi_data_dir=str(folder / "data"),
        apscheduler_autostart=False,
        log_level="WARNING",
    )
    db.init_engine(url)
    set_clock(datetime(2026, 10, 20, 10, 0, tzinfo=timezone(timedelta(hours=8))))
    async with db.writing() as s:
        token, _ = await issue_link(s, platform="qq", adapter="OneBotV11", user_id="1", name="老板")
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app()),
        base_url="http://bench",
        headers={"Origin": "http://127.0.0.1:8080"},  # a POST from the dashboard's own page
    )
    from bot.runtime import settle_the_heap

    settle_the_heap()  # as the bot's start-up does (bot.runtime.open_database)
    r = await client.post(f"/kpi/login/{token}")
    assert r.status_code == 303, r.text
    results = {}
    team, entries = "/kpi/team/1?month=2026-10", "/kpi/team/1/entries?month=2026-10&page=20"
    for name, page, measure in (
        ("team", team, timed),
        ("team_after_write", team, after_a_write(timed)),
        ("agent", "/kpi/team/1/member/500?month=2026-10", timed),
        ("entries", entries, timed),
        ("entries_after_write", entries, after_a_write(timed)),
        ("whatif", "/kpi/team/1/rubric/whatif", timed_whatif),
        ("whatif_after_write", "/kpi/team/1/rubric/whatif", after_a_write(timed_whatif)),
    ):
        await measure(client, page, 2)  # warm-up: rubric plan, template compilation
        if a.profile == name:
            from pyinstrument import Profiler  # pip install pyinstrument

            with Profiler(async_mode="enabled") as prof:
                await measure(client, page, 3)
            print(prof.output_text(unicode=True, show_all=False))
        times, cpu, size = await measure(client, page, a.runs)
        results[name] = {
            "median_ms": round(statistics.median(times) * 1000, 1),
            "median_cpu_ms": round(statistics.median(cpu) * 1000, 1),
            "p90_ms": round(sorted(times)[int(len(times) * 0.9) - 1] * 1000, 1),
            "html_kb": round(size / 1024, 1),
        }
        print(name, json.dumps(results[name]))
    await client.aclose()
    await db.dispose()
    await testdb.drop_created()
    print(
        json.dumps(
            {"bench": "dashboard", "agents": a.agents, "entries": a.entries, "runs": a.runs}
            | {f"{k}_median_ms": v["median_ms"] for k, v in results.items()}
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
