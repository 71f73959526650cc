"""Re-checking a 100-agent month of links (issue 25): 2,000 links by default.

    python bench/linkcheck.py [--links 2000 --agents 100 --hosts 40 --concurrency 8 --per-host 2]

Builds a team and its month (set-up, not timed): each agent reports links on a local web
site served under `--hosts` names (fake DNS to 127.0.0.1, allowed by name in
KPI_FETCH_ALLOW_HOSTS, so the address rule runs as in production), in a process of its
own; one link in ten answers
404 and one in fifty shows WeChat's deleted page. Then times `bot.linkcheck.recheck_month`:
every link fetched through the one safe fetcher, judged, written in short units, flags
raised. The server counts the requests in flight at once, overall and per host name.
Prints JSON on its last line; exits 1 when it took over 60 s or ever had more in flight
than configured.

SQLite by default; a PostgreSQL `KPI_DATABASE_URL` server makes the database there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import nonebot
from sqlalchemy import text

from tests.linkcheck_site import serve_elsewhere
from tools import testdb

PERIOD = "2026-11"


def paths(links: int) -> tuple[list[str], set[str]]:
    """Each link's path on the site, and the paths that answer 404."""
    out, gone = [], set()
    for n in range(1, links + 1):
        path = f"/n/{n}"
        if n % 10 == 0:
            gone.add(path)
        elif n % 50 == 7:
            path = "/deleted/wechat"
        out.append(path)
    return out, gone


async def build(url: str, port: int, links: int, agents: int, hosts: list[str]) -> None:
    from bot import db

    db.init_engine(url)
    await db.migrate()
    async with db.engine().begin() as conn:
        await conn.execute(
            text("INSERT INTO team (id, name, created_at) VALUES (1, '一组', :at)"),
            {"at": datetime(2026, 11, 1)},
        )
        await conn.execute(
            text(
                "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on)"
                " VALUES (:id, 1, 'qq', :uid, :name, 'agent', :on)"
            ),
            [
                {"id": m, "uid": str(30000 + m), "name": f"客服{m}", "on": date(2026, 11, 1)}
                for m in range(1, agents + 1)
            ],
        )
        rows = []
        for n, path in enumerate(paths(links)[0], 1):
            host = hosts[n % len(hosts)]
            rows.append(
                {
                    "id": n,
                    "member": n % agents + 1,
                    "link": f"https://{host}:{port}{path}?n={n}",
                    "at": datetime(2026, 11, n % 28 + 1, 2),
                }
            )
        await conn.execute(
            text(
                "INSERT INTO entry (id, team_id, member_id, period, item_key, quantity,"
                " fine_cents, link, created_at, created_by, created_by_name) VALUES"
                " (:id, 1, :member, '2026-11', 'article', 1, 0, :link, :at, 'qq:1', '客服')"
            ),
            rows,
        )
        # the links as reported (http, the site has no TLS): each entry's snapshot row
        await conn.execute(
            text(
                "INSERT INTO link_check (entry_id, team_id, period, kind, url, verdict,"
                " reason, checked_at) VALUES (:id, 1, '2026-11', 'snapshot', :url, 'alive',"
                " 'HTTP 200', :at)"
            ),
            [
                {"id": r["id"], "url": r["link"].replace("https://", "http://"), "at": r["at"]}
                for r in rows
            ],
        )


async def main(args: argparse.Namespace) -> int:
    hosts = [f"h{i}.bench" for i in range(args.hosts)]
    folder = Path(tempfile.mkdtemp(prefix="kpi-bench-linkcheck-"))
    url = await testdb.create_database(folder, "linkcheck")
    nonebot.init(
        kpi_database_url=url,
        kpi_data_dir=str(folder),
        kpi_fetch_allow_hosts=",".join(hosts),
        kpi_linkcheck_concurrency=args.concurrency,
        kpi_linkcheck_per_host=args.per_host,
        log_level="WARNING",
    )
    import bot.fetch
    import bot.linkcheck
    from bot import db

    real = bot.fetch._resolve

    async def fake(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host.endswith(".bench") else await real(host, port)

    bot.fetch._resolve = fake
    try:
        with serve_elsewhere(paths(args.links)[1]) as port:
            await build(url, port, args.links, args.agents, hosts)
            start = time.perf_counter()
            result = await bot.linkcheck.recheck_month(1, PERIOD)
            seconds = time.perf_counter() - start
            async with httpx.AsyncClient() as client:
                stats = (await client.get(f"http://127.0.0.1:{port}/__stats")).json()
            out = {
                "links": args.links,
                "agents": args.agents,
                "hosts": args.hosts,
                "engine": testdb.engine_name(),
                "seconds": round(seconds, 2),
                "links_per_second": round(args.links / seconds, 1),
                "requests_served": stats["served"],
                "max_in_flight": stats["max_in_flight"],
                "concurrency": args.concurrency,
                "max_per_host": stats["max_per_host"],
                "per_host": args.per_host,
                "verdicts": result.counts,
                "flags": len(result.flags),
            }
    finally:
        await db.dispose()
        if testdb.on_postgres():
            await testdb.drop_created()
    print(json.dumps(out, ensure_ascii=False))
    ok = (
        seconds <= 60
        and out["max_in_flight"] <= args.concurrency
        and out["max_per_host"] <= args.per_host
    )
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--links", type=int, default=2000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--hosts", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-host", type=int, default=2)
    sys.exit(asyncio.run(main(parser.parse_args())))
