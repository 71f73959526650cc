"""Scale beyond one process: 1,000 teams × 20 agents on one PostgreSQL, 1, 2 and 4 bots.

For each process count P, P bot processes (`python -m bot`, each its own port and its own
QQ account, the same database) serve the teams (team t is bound to group 200000+t, in the
account of process t mod P). A load generator — one OneBot v11 client per process, like
`tools.onebot_sim` — sends self-reports (`/朋友圈 <note>`, each agent in turn) at a
rising rate, each step `--seconds` long; a report is lost when no reply comes within
`LOST_AFTER` s. For each P, the highest rate held with p99 ≤ 200 ms and nothing lost is
reported, and for every step where the time went:

- `bot_cpu`: the bot processes' CPU (% of one core, summed), from /proc;
- `db_cpu`: the CPU of the database's backends serving them (% of one core), from /proc;
- `waits`: what the backends waited on, sampled from `pg_stat_activity` (`Lock:advisory`
  = a team's writes queued for its lock, `IO:WALSync` = commits, `Client:ClientRead` =
  idle in a transaction waiting for the bot…), as a share of the samples.

    .venv/bin/python bench/scale.py [--procs 1,2,4] [--rates 50,100,200,400] [--seconds 60]
    .venv/bin/python bench/scale.py --quick     # 1,2 processes, 10 s steps, 200 teams

The server is `--pg-url` (default KPI_TEST_DATABASE_URL, else the local one). The last
line is JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections import Counter
from datetime import date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from tools import testdb  # noqa: E402
from tools.onebot_sim import BotProcess, OneBotV11Sim  # noqa: E402

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
P99_TARGET_MS = 200.0
LOST_AFTER = 10.0  # s without a reply: lost
GROUP0 = 200000
USER0 = 1_000_000
BOT0 = 90000
CLK = os.sysconf("SC_CLK_TCK")


async def seed(url: str, teams: int, agents: int, procs: int) -> None:
    """`teams` teams of `agents` agents each, team t bound in the account of process t % P."""
    from bot.migrate import migrate
    from models.tables import GroupBinding, Member, Team, Tenure

    engine = create_async_engine(url)
    await migrate(engine=engine)
    now, first = datetime(2026, 12, 1), date(2026, 12, 1)
    async with engine.begin() as conn:
        await conn.execute(
            insert(Team),
            [{"id": t, "name": f"压测{t}", "created_at": now} for t in range(1, teams + 1)],
        )
        await conn.execute(
            insert(GroupBinding),
            [
                {
                    "platform": "qq",
                    "group_id": str(GROUP0 + t),
                    "team_id": t,
                    "adapter": "OneBot V11",
                    "self_id": str(BOT0 + t % procs),
                    "bound_at": now,
                    "bound_by": "qq:10000",
                }
                for t in range(1, teams + 1)
            ],
        )
        members = [
            {
                "id": (t - 1) * agents + a + 1,
                "team_id": t,
                "platform": "qq",
                "user_id": str(USER0 + (t - 1) * agents + a),
                "name": f"客服{t}-{a}",
                "role": "agent",
                "joined_on": first,
            }
            for t in range(1, teams + 1)
            for a in range(agents)
        ]
        for i in range(0, len(members), 5000):
            await conn.execute(insert(Member), members[i : i + 5000])
            await conn.execute(
                insert(Tenure),
                [{"member_id": m["id"], "start": first} for m in members[i : i + 5000]],
            )
        for table in ("team", "member", "tenure"):
            await conn.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
                )
            )
    await engine.dispose()


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total / CLK


class Sampler:
    """Wait events of the database's backends and their pids, every 0.2 s."""

    def __init__(self, url: str, database: str) -> None:
        self.engine = create_async_engine(url)
        self.database = database
        self.waits: Counter[str] = Counter()
        self.samples = 0
        self.pids: set[int] = set()
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        sql = text(
            "SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = :d AND pid <> pg_backend_pid()"
        )
        async with self.engine.connect() as conn:
            while True:
                rows = (await conn.execute(sql, {"d": self.database})).all()
                await conn.commit()
                self.samples += 1
                for pid, state, kind, event in rows:
                    self.pids.add(pid)
                    if state == "idle":
                        continue
                    self.waits[f"{kind}:{event}" if kind else "CPU (running)"] += 1
                await asyncio.sleep(0.2)

    def start(self) -> None:
        self.waits.clear()
        self.samples = 0
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> dict[str, float]:
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        n = max(self.samples, 1)
        return {k: round(v / n, 2) for k, v in self.waits.most_common(5)}


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0


async def step(
    sims: list[OneBotV11Sim],
    teams: int,
    agents: int,
    rate: float,
    seconds: float,
    tag: str,
    turn: list[int],
) -> dict:
    """Send `rate` reports/s for `seconds`; latency of each from send to its reply."""
    procs = len(sims)
    # Only this step's replies count: the simulators keep every reply of the earlier steps,
    # and an agent's turn comes round again after teams × agents reports.
    bases = {id(sim): len(sim.sent) for sim in sims}
    sent: list[tuple[OneBotV11Sim, str, str, int, float]] = []  # sim, group, user, nth, t0
    counts: Counter[tuple[str, str]] = Counter()
    start = time.perf_counter()
    total = int(rate * seconds)
    for n in range(total):
        due = start + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = turn[0]
        turn[0] += 1
        t = i % teams + 1
        a = (i // teams) % agents
        sim = sims[t % procs]
        group, user = str(GROUP0 + t), str(USER0 + (t - 1) * agents + a)
        counts[(group, user)] += 1
        event = sim.group_event(int(group), int(user), f"/朋友圈 {tag}-{n}", card=f"客服{t}-{a}")
        sent.append((sim, group, user, counts[(group, user)], time.perf_counter()))
        asyncio.get_running_loop().create_task(sim.send_event(event))
    send_s = time.perf_counter() - start

    def replies_now() -> dict[tuple[int, str, str], list]:
        boxes: dict[tuple[int, str, str], list] = {}
        for sim in sims:
            for m in sim.sent[bases[id(sim)] :]:
                boxes.setdefault((id(sim), m.group_id or "", m.user_id or ""), []).append(m)
        return boxes

    deadline = time.perf_counter() + LOST_AFTER
    while time.perf_counter() < deadline:
        boxes = replies_now()
        if all(len(boxes.get((id(s), g, u), [])) >= k for s, g, u, k, _ in sent[-200:]):
            break
        await asyncio.sleep(0.5)
    boxes = replies_now()
    latencies, lost, refused = [], 0, 0
    for sim, group, user, k, t0 in sent:
        box = boxes.get((id(sim), group, user), [])
        if len(box) < k:
            lost += 1
            continue
        reply = box[k - 1]
        refused += not reply.text.startswith("✅")
        latencies.append((reply.call.at - t0) * 1000)
    return {
        "rate": rate,
        "sent": total,
        "achieved_rate": round(total / send_s, 1),
        "lost": lost,
        "refused": refused,
        "median_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(p99(latencies), 1) if latencies else None,
    }


async def one_count(
    server: str, procs: int, teams: int, agents: int, rates: list[float], seconds: float
) -> dict:
    url = await testdb.create_database(None, f"scale{procs}")
    database = url.rsplit("/", 1)[1]
    await seed(url, teams, agents, procs)
    bots = [
        BotProcess(database_url=url, log_level="WARNING", env={"KPI_DAILY_REMINDER": "off"})
        for _ in range(procs)
    ]
    sampler = Sampler(server, database)
    steps = []
    try:
        for b in bots:
            await b.start(timeout=60)
        sims = [OneBotV11Sim(b.ws_url(), self_id=BOT0 + k) for k, b in enumerate(bots)]
        for sim in sims:
            await sim.connect()
        turn = [0]
        # Warm-up: one report per team (connections, caches, the first member row read).
        await step(sims, teams, agents, 100, teams / 100, "warm", turn)
        for rate in rates:
            pids = [b.proc.pid for b in bots if b.proc is not None]
            sampler.start()
            cpu0, db0, t0 = cpu_seconds(pids), cpu_seconds(list(sampler.pids)), time.perf_counter()
            result = await step(sims, teams, agents, rate, seconds, f"r{rate}", turn)
            wall = time.perf_counter() - t0
            result["waits"] = await sampler.stop()
            result["bot_cpu"] = round(100 * (cpu_seconds(pids) - cpu0) / wall)
            result["db_cpu"] = round(100 * (cpu_seconds(list(sampler.pids)) - db0) / wall)
            result["load"] = round(os.getloadavg()[0], 1)
            result["held"] = result["lost"] == 0 and (result["p99_ms"] or 1e9) <= P99_TARGET_MS
            steps.append(result)
            print(f"  P={procs} {json.dumps(result, ensure_ascii=False)}", flush=True)
            if not result["held"]:
                break
        for sim in sims:
            await sim.disconnect()
    finally:
        for b in bots:
            await b.stop()
        await sampler.engine.dispose()
        await testdb.drop_created()
    held = [s["rate"] for s in steps if s["held"]]
    return {"procs": procs, "held_rate": max(held) if held else 0, "steps": steps}


def bottleneck(s: dict, procs: int) -> str:
    cores = os.cpu_count() or 1
    waits = s.get("waits", {})
    lock = waits.get("Lock:advisory", 0)
    if s["bot_cpu"] + s["db_cpu"] >= 85 * cores:
        return f"CPU of the machine ({cores} cores: bots {s['bot_cpu']}%, database {s['db_cpu']}%)"
    if s["bot_cpu"] >= 85 * procs:
        return f"CPU of the bot processes ({s['bot_cpu']}% for {procs})"
    if lock >= 1:
        return f"team locks (Lock:advisory {lock} backends on average)"
    top = max(waits, key=waits.get) if waits else None
    if top == "Client:ClientRead":  # a backend in a transaction, waiting for the bot
        return (
            f"the bot side: backends wait for the bot's next statement ({waits[top]} on "
            f"average) with the bots at {s['bot_cpu']}% CPU: scheduling on a busy machine "
            f"(load average {s.get('load', '?')})"
        )
    if top is not None:
        return f"database ({top} {waits[top]} backends on average)"
    return "the load generator"


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--procs", default="1,2,4")
    ap.add_argument("--rates", default="50,100,200,400,800")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--teams", type=int, default=1000)
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="1,2 processes, 10 s steps, 200 teams")
    ap.add_argument("--pg-url", default=os.environ.get(testdb.ENV) or PG_DEFAULT)
    opts = ap.parse_args()
    if opts.quick:
        opts.procs, opts.seconds, opts.teams = "1,2", 10.0, 200
    os.environ[testdb.ENV] = opts.pg_url
    procs = [int(p) for p in opts.procs.split(",")]
    rates = [float(r) for r in opts.rates.split(",")]
    print(
        f"{opts.teams} teams × {opts.agents} agents, steps of {opts.seconds:g} s, "
        f"{os.cpu_count()} cores on this machine",
        flush=True,
    )
    results = []
    for p in procs:
        results.append(
            await one_count(opts.pg_url, p, opts.teams, opts.agents, rates, opts.seconds)
        )
    print()
    print("processes | highest rate held (p99 ≤ 200 ms, 0 lost) | at the first step not held")
    for r in results:
        last = r["steps"][-1]
        where = bottleneck(last, r["procs"]) if not last["held"] else "not reached (raise --rates)"
        print(f"{r['procs']:>9} | {r['held_rate']:>7g} reports/s | {where}")
    print(json.dumps(results, ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
