"""Round-trip latency of a self-report against a bare NoneBot /echo, and a burst of reports.

Both apps are started as `make run` starts the bot (a subprocess in a folder with a `.env`)
and driven over OneBot v11 by `tools.onebot_sim` (or, `--platform milky`, over Milky by
`tools.milky_sim`: events on its WebSocket, replies by HTTP), in the same run:

1. sequential: `--n` self-reports (`/软文 <unique link>`, agents in turn) and `--n` `/echo`s,
   one at a time; latency = event sent → reply received;
2. burst: `--burst` different agents report at once; every reply is counted and the database
   is checked (nothing lost, nothing twice); wall time = first event sent → last reply.

Repeated `--runs` times on fresh bots; the figures are the medians over runs, one JSON line
per engine at the end. Targets: report median ≤ 1.5 × echo median; the burst loses nothing,
writes nothing twice and takes < 3 s.

    .venv/bin/python bench/roundtrip.py [--runs 3] [--n 200] [--burst 500]
    .venv/bin/python bench/roundtrip.py --engines sqlite,postgresql [--pg-url URL]
    .venv/bin/python bench/roundtrip.py --platform milky [--engines …]

SQLite by default; `KPI_DATABASE_URL=postgresql+asyncpg://…` runs the bot on a throwaway
database made on that PostgreSQL server; `--engines sqlite,postgresql` runs both in the
same sitting (each run: the SQLite bot and an echo, then the PostgreSQL bot and an echo).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import testdb  # noqa: E402
from tools.milky_sim import MilkySim, Person  # noqa: E402
from tools.onebot_sim import BotProcess, OneBotV11Sim  # noqa: E402

GROUP = 70001
OWNER = 10001
RATIO_TARGET = 1.5
BURST_SECONDS_TARGET = 3.0
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
IDLE_SECONDS = 45.0  # a burst reply that has not come after this long is counted lost


async def wait_quiet(
    sim: OneBotV11Sim, users: list[int], idle: float, limit: float = 600.0
) -> None:
    """Until every user has a reply; give up `idle` s after the last reply (the rest are
    lost), or after `limit` s if none comes at all (under load the first may take long)."""
    pending = set(users)
    start = last = time.perf_counter()
    while pending:
        await asyncio.sleep(0.2)
        now = time.perf_counter()
        done = {u for u in pending if sim.replies(GROUP, u)}
        if done:
            pending -= done
            last = now
        elif (last > start and now - last > idle) or now - start > limit:
            return


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 2),
        "p95_ms": round(percentile(values, 0.95) * 1000, 2),
    }


async def timed(sim: OneBotV11Sim, user: int, text: str, timeout: float = 60.0) -> float:
    t0 = time.perf_counter()
    replies = await sim.say(GROUP, user, text, card=f"客服{user}", timeout=timeout)
    elapsed = time.perf_counter() - t0
    if not replies or not replies[0].startswith("✅"):
        raise RuntimeError(f"unexpected reply to {text!r}: {replies!r}")
    return elapsed


async def burst_figures(bot: BotProcess, agents: int, replied: int, ok: int, wall: float) -> dict:
    """A burst's figures: replies, ✅ among them, entries stored (and doubled), wall time."""
    [(in_db, distinct)] = await bot.rows(
        "SELECT COUNT(*), COUNT(DISTINCT link) FROM entry WHERE link LIKE :p",
        p="https://bench.example.com/b/%",
    )
    return {
        "agents": agents,
        "replied": replied,
        "ok": ok,
        "in_db": in_db,
        "duplicates": in_db - distinct,
        "wall_s": round(wall, 3),
    }


async def echo_sequential(n: int, warmup: int) -> list[float]:
    bot = BotProcess(argv=[sys.executable, str(ROOT / "bench" / "echo_bot.py")])
    async with bot, OneBotV11Sim(bot.ws_url()) as sim:
        for i in range(warmup):
            await timed(sim, 60000, f"/echo warm {i}")
        return [await timed(sim, 60000 + i % 20, f"/echo hello {i}") for i in range(n)]


async def report_sequential_and_burst(n: int, warmup: int, burst: int) -> dict:
    bot = BotProcess()
    async with bot, OneBotV11Sim(bot.ws_url()) as sim:
        bound = await sim.say(GROUP, OWNER, "/绑定 压测组", role="owner")
        assert bound[0].startswith("✅"), bound
        agents = [40000 + i for i in range(20)]
        for i in range(warmup):
            await timed(sim, agents[i % len(agents)], f"/软文 https://bench.example.com/w/{i}")
        seq = [
            await timed(sim, agents[i % len(agents)], f"/软文 https://bench.example.com/s/{i}")
            for i in range(n)
        ]

        # Burst: `burst` new agents (each registered on this first report) at once.
        users = [50000 + i for i in range(burst)]
        events = [
            sim.group_event(GROUP, u, f"/软文 https://bench.example.com/b/{u}", card=f"客服{u}")
            for u in users
        ]
        t0 = time.perf_counter()
        await asyncio.gather(*(sim.send_event(e) for e in events))
        await wait_quiet(sim, users, idle=IDLE_SECONDS)
        results = [sim.replies(GROUP, u) for u in users]
        replied = [r for r in results if r]
        ok = sum(1 for r in replied if r[0].startswith("✅"))
        last = max(
            (m.call.at for m in sim.sent if m.user_id in {str(u) for u in users}), default=t0
        )
        return {
            "sequential": seq,
            "burst": await burst_figures(bot, burst, len(replied), ok, last - t0),
        }


MILKY_AGENTS = 20


def milky_group(sim: MilkySim, burst: int) -> None:
    people = [Person(OWNER, "owner", card="群主", role="owner")]
    people += [Person(40000 + i, f"a{i}", card=f"客服{i}") for i in range(MILKY_AGENTS)]
    people += [Person(50000 + i, f"b{i}", card=f"客服{50000 + i}") for i in range(burst)]
    people.append(Person(60000, "echo", card="echo"))
    sim.add_group(GROUP, "压测群", *people)


async def milky_timed(sim: MilkySim, user: int, text: str) -> float:
    t0 = time.perf_counter()
    reply = await sim.say(GROUP, user, text)
    elapsed = time.perf_counter() - t0
    if not reply.startswith("✅"):
        raise RuntimeError(f"unexpected reply to {text!r}: {reply!r}")
    return elapsed


async def milky_app(argv: list[str] | None, n: int, warmup: int, burst: int) -> dict:
    """One app (the bot, or the echo bot with `argv`) over Milky: sequential, then burst."""
    async with MilkySim(uin=99990) as sim:
        milky_group(sim, burst)
        env = {"MILKY_CLIENTS": sim.client_config}
        bot = BotProcess(env=env) if argv is None else BotProcess(env=env, argv=argv)
        async with bot:
            await asyncio.wait_for(sim.connected.wait(), 30)
            await sim.wait_for(lambda c: c.action == "get_login_info")
            if argv is not None:
                for i in range(warmup):
                    await milky_timed(sim, 60000, f"/echo warm {i}")
                seq = [await milky_timed(sim, 60000, f"/echo hello {i}") for i in range(n)]
                return {"sequential": seq}
            bound = await sim.say(GROUP, OWNER, "/绑定 压测组")
            assert bound.startswith("✅"), bound
            agents = [40000 + i for i in range(MILKY_AGENTS)]
            for i in range(warmup):
                await milky_timed(
                    sim, agents[i % len(agents)], f"/软文 https://bench.example.com/w/{i}"
                )
            seq = [
                await milky_timed(
                    sim, agents[i % len(agents)], f"/软文 https://bench.example.com/s/{i}"
                )
                for i in range(n)
            ]
            users = [50000 + i for i in range(burst)]
            since = len(sim.calls)
            t0 = time.perf_counter()
            await asyncio.gather(
                *(sim.post(GROUP, u, f"/软文 https://bench.example.com/b/{u}") for u in users)
            )
            deadline = time.monotonic() + 120
            sent: list = []
            while time.monotonic() < deadline:
                sent = [c for c in sim.calls[since:] if c.action == "send_group_message"]
                if len(sent) >= burst:
                    break
                await asyncio.sleep(0.1)
            last = max((c.at for c in sent), default=t0)
            ok = sum(1 for c in sent if sim.text_of(c.params["message"]).startswith("✅"))
            figures = await burst_figures(bot, burst, len(sent), ok, last - t0)
            return {"sequential": seq, "burst": figures}


async def one_run_milky(n: int, warmup: int, burst: int) -> dict:
    report = await milky_app(None, n, warmup, burst)
    echo = await milky_app([sys.executable, str(ROOT / "bench" / "echo_bot.py")], n, warmup, 0)
    rep, ech = summary(report["sequential"]), summary(echo["sequential"])
    return {
        "report": rep,
        "echo": ech,
        "ratio": round(rep["median_ms"] / ech["median_ms"], 2),
        "burst": report["burst"],
    }


async def one_run(n: int, warmup: int, burst: int) -> dict:
    report = await report_sequential_and_burst(n, warmup, burst)
    echo = await echo_sequential(n, warmup)
    rep, ech = summary(report["sequential"]), summary(echo)
    return {
        "report": rep,
        "echo": ech,
        "ratio": round(rep["median_ms"] / ech["median_ms"], 2),
        "burst": report["burst"],
    }


def use_engine(name: str, pg_url: str) -> None:
    """The bots of the next run use SQLite files, or scratch databases on `pg_url`."""
    if name == "sqlite":
        os.environ.pop(testdb.ENV, None)
    else:
        os.environ[testdb.ENV] = pg_url


def figures_of(runs: list[dict], opts, engine: str) -> dict:
    def med(get) -> float:
        return round(statistics.median(get(r) for r in runs), 2)

    burst_lost = max(r["burst"]["agents"] - r["burst"]["ok"] for r in runs)
    figures = {
        "runs": len(runs),
        "n": opts.n,
        "report_median_ms": med(lambda r: r["report"]["median_ms"]),
        "report_p95_ms": med(lambda r: r["report"]["p95_ms"]),
        "echo_median_ms": med(lambda r: r["echo"]["median_ms"]),
        "echo_p95_ms": med(lambda r: r["echo"]["p95_ms"]),
        "ratio_report_over_echo": med(lambda r: r["ratio"]),
        "engine": engine,
        "platform": opts.platform,
        "burst_agents": opts.burst,
        "burst_wall_s": med(lambda r: r["burst"]["wall_s"]),
        "burst_lost_max": burst_lost,
        "burst_duplicates_max": max(r["burst"]["duplicates"] for r in runs),
        "target_ratio": RATIO_TARGET,
        "target_burst_s": BURST_SECONDS_TARGET,
    }
    figures["ratio_ok"] = figures["ratio_report_over_echo"] <= RATIO_TARGET
    figures["burst_ok"] = (
        burst_lost == 0
        and figures["burst_duplicates_max"] == 0
        and figures["burst_wall_s"] < BURST_SECONDS_TARGET
    )
    return figures


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--n", type=int, default=200, help="sequential round trips per app")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--burst", type=int, default=500, help="agents reporting at once")
    ap.add_argument(
        "--engines",
        default="",
        help="comma-separated: sqlite,postgresql; each run does every engine in turn "
        "(default: the one KPI_DATABASE_URL / KPI_TEST_DATABASE_URL names)",
    )
    ap.add_argument("--pg-url", default=PG_DEFAULT, help="PostgreSQL server for --engines")
    ap.add_argument("--platform", default="onebot", choices=["onebot", "milky"])
    opts = ap.parse_args()
    testdb.use_database_url_from_env()
    engines = [e.strip() for e in opts.engines.split(",") if e.strip()] or [testdb.engine_name()]
    pg_url = testdb.server_url() or opts.pg_url
    print(f"engines: {', '.join(engines)}", flush=True)

    runs: dict[str, list[dict]] = {e: [] for e in engines}
    try:
        for i in range(opts.runs):
            for engine in engines:
                use_engine(engine, pg_url)
                run = one_run_milky if opts.platform == "milky" else one_run
                r = await run(opts.n, opts.warmup, opts.burst)
                runs[engine].append(r)
                print(f"run {i + 1} {engine}: {json.dumps(r, ensure_ascii=False)}", flush=True)
                await testdb.drop_created()  # the bots' throwaway PostgreSQL databases
    finally:
        await testdb.drop_created()

    for engine in engines:
        print(json.dumps(figures_of(runs[engine], opts, engine), ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
