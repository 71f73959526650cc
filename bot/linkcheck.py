"""The link checker (SPEC §4 "Evidence checks"): a snapshot of each reported link after the
✅, re-checks of a month's links before settlement, and the agent's private message about
each flag. What it found is judged by `models.linkpage` and kept by `models.linkcheck`.

- Every page comes through the one safe fetcher (`bot.fetch`: every hop's address checked,
  `KPI_FETCH_ALLOW_HOSTS`, no cookies, an honest User-Agent) in its own pool of
  `KPI_LINKCHECK_CONCURRENCY` fetches, at most `KPI_LINKCHECK_PER_HOST` to one host, at most
  `MAX_BYTES` (the rest of a longer page is not read) and `TIMEOUT` seconds a page.
- Fetch first, then write: results are written in short units through `bot.door`, never
  with a fetch in flight inside a transaction.
- A failed fetch is 「无法确认」, never 「已删除」; nothing is ever revoked here.
- `KPI_LINKCHECK=false` turns all of it off.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

import httpx
from nonebot import logger
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.linkcheck import (
    CheckResult,
    FlagView,
    LinkTarget,
    claim_notices,
    entry_team,
    month_links,
    record_checks,
    release_notice,
    teams_with_links,
    untold_flags,
)
from models.linkpage import (
    ALIVE,
    REMOVED,
    UNKNOWN,
    Marker,
    fingerprint,
    judge,
    load_markers,
    read_page,
)
from models.periods import local_now, to_local, utcnow
from models.tables import GroupBinding

from . import db, door
from .config import get_config
from .fetch import FetchFailed, FetchRefused, fetch

MAX_BYTES = 2 * 1024 * 1024
TIMEOUT = 10.0
QUEUE_TIMEOUT = 3600.0  # a month of links waits its turn in the pool; each page keeps its cap
WRITE_BATCH = 100
PURPOSE = "link check"
_tasks: set[asyncio.Task] = set()
_hosts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)
_running: set[tuple[int, str]] = set()

FAILURES = {
    "timeout": "超时",
    "dns": "域名无法解析",
    "connect": "无法连接",
    "busy": "排队太久",
    "redirects": "跳转次数太多",
    "protocol": "连接中断",
    "encoding": "页面数据损坏",
    "too_big": "页面太大",
}


@cache
def markers() -> tuple[Marker, ...]:
    """The shipped markers and KPI_LINKCHECK_MARKERS' (read once; checked at start)."""
    return load_markers(get_config().kpi_linkcheck_markers or None)


def enabled() -> bool:
    return get_config().kpi_linkcheck


def _host_slot(host: str) -> asyncio.Semaphore:
    slots = _hosts.setdefault(asyncio.get_running_loop(), {})
    slot = slots.get(host)
    if slot is None:
        slot = slots[host] = asyncio.Semaphore(get_config().kpi_linkcheck_per_host)
    return slot


def _host_of(url: str) -> str:
    try:
        return (httpx.URL(url).host or "").lower().rstrip(".")
    except (httpx.InvalidURL, TypeError, ValueError):
        return ""


async def check(entry_id: int, url: str, kind: str = "recheck") -> CheckResult:
    """Fetch `url` once, politely, and judge it (never raises for what the page does)."""
    host = _host_of(url)
    async with _host_slot(host):
        try:
            page = await fetch(
                url,
                max_bytes=MAX_BYTES,
                timeout=TIMEOUT,
                purpose=PURPOSE,
                accept="text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                queue_timeout=QUEUE_TIMEOUT,
                pool="linkcheck",
                truncate=True,
            )
        except FetchRefused as e:
            why = "跳转到不允许访问的地址" if e.reason == "address" else "链接地址无效"
            if e.reason == "address" and e.url.rstrip("/") == url.rstrip("/"):
                why = "不允许访问的地址"
            return CheckResult(entry_id, kind, url, UNKNOWN, why, utcnow())
        except FetchFailed as e:
            why = FAILURES.get(e.reason, "抓取失败")
            return CheckResult(entry_id, kind, url, UNKNOWN, why, utcnow())
        except Exception as e:  # a checker must never take the bot down
            logger.warning(f"link check of #{entry_id} failed: {e!r}")
            return CheckResult(entry_id, kind, url, UNKNOWN, "抓取失败", utcnow())
    title, text = await asyncio.to_thread(
        read_page, page.body, page.headers.get("content-type", "")
    )
    verdict = judge(page.status, title, text, _host_of(page.url), markers())
    print_ = fingerprint(text) if verdict.verdict == ALIVE else None
    return CheckResult(
        entry_id,
        kind,
        url,
        verdict.verdict,
        verdict.reason,
        utcnow(),
        final_url=page.url,
        status=page.status,
        title=title or None,
        fingerprint=print_,
    )


# ---- the snapshot after the ✅ ------------------------------------------------------------------


SNAPSHOT_WAIT = 0.25  # s: a team's snapshots fetched this close together share one write


@dataclass(eq=False)
class _Batch:
    results: list[CheckResult]
    done: asyncio.Future


# Module state (it must be: snapshots finish one by one on this event loop): each team's
# snapshots waiting for their write.
_batches: dict[int, _Batch] = {}


async def snapshot(team_id: int, entry_id: int, url: str) -> list[int]:
    """Fetch the reported link once and record it; the flags its write raised (the same
    article). The snapshots of a team that finish within `SNAPSHOT_WAIT` of each other are
    recorded in one write (reports come in runs: one transaction, not one each). A
    database swapped meanwhile (a restore; a test's next database) gets nothing."""
    engine = db.engine()
    result = await check(entry_id, url, "snapshot")
    if db.engine() is not engine:
        return []
    waiting = _batches.get(team_id)
    if waiting is not None and waiting.done.get_loop() is asyncio.get_running_loop():
        waiting.results.append(result)
        return await asyncio.shield(waiting.done)
    batch = _batches[team_id] = _Batch([result], asyncio.get_running_loop().create_future())
    batch.done.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved
    try:
        await asyncio.sleep(SNAPSHOT_WAIT)
    except BaseException:  # cancelled (shutdown): the snapshots waiting on it end too
        batch.done.cancel()
        raise
    finally:  # results coming from now on form the next batch: this one is written as it is
        if _batches.get(team_id) is batch:
            del _batches[team_id]
    try:
        flags = [] if db.engine() is not engine else await _record(team_id, batch.results)
    except BaseException as e:
        batch.done.set_exception(e)
        raise
    batch.done.set_result(flags)
    return flags


async def _record(team_id: int, results: list[CheckResult]) -> list[int]:
    flags = await door.write(team_id, lambda s: record_checks(s, results))
    await notify(flags)
    return flags


async def _snapshot_quietly(team_id: int, entry_id: int, url: str) -> None:
    try:
        await snapshot(team_id, entry_id, url)
    except Exception as e:
        logger.warning(f"链接快照失败 #{entry_id}: {e!r}")


def snapshot_later(team_id: int, entry_id: int, url: str) -> asyncio.Task | None:
    """SPEC §4: called once the self-report is committed; never delays its ✅."""
    if not enabled():
        return None
    task = asyncio.create_task(_snapshot_quietly(team_id, entry_id, url))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def wait_snapshots() -> None:
    """Let pending snapshots finish (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)


# ---- re-checks ------------------------------------------------------------------------------


@dataclass
class Recheck:
    team_id: int
    period: str
    counts: dict[str, int] = field(default_factory=lambda: {ALIVE: 0, REMOVED: 0, UNKNOWN: 0})
    flags: list[int] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return sum(self.counts.values())


class AlreadyRunning(Exception):
    """A re-check of this team's month is already running in this process."""


async def recheck_month(team_id: int, period: str) -> Recheck:
    """Re-check every link of the team's month; record the results in short units, then
    tell the agents about new flags."""
    key = (team_id, period)
    if key in _running:
        raise AlreadyRunning(period)
    _running.add(key)
    try:
        targets = await door.read(lambda s: month_links(s, team_id, period))
        out = Recheck(team_id, period)
        pending: list[CheckResult] = []

        async def flush() -> None:
            batch = list(pending)
            pending.clear()
            out.flags += await door.write(team_id, lambda s: record_checks(s, batch))

        for done in asyncio.as_completed([check(t.entry_id, t.url) for t in _interleave(targets)]):
            result = await done
            out.counts[result.verdict] += 1
            pending.append(result)
            if len(pending) >= WRITE_BATCH:
                await flush()
        if pending:
            await flush()
    finally:
        _running.discard(key)
    await notify([*out.flags, *await door.read(lambda s: untold_flags(s, team_id))])
    return out


def _interleave(targets: list[LinkTarget]) -> list[LinkTarget]:
    """Round-robin over hosts, so one slow host does not hold up the others."""
    by_host: dict[str, list[LinkTarget]] = {}
    for t in targets:
        by_host.setdefault(_host_of(t.url), []).append(t)
    out = []
    queues = list(by_host.values())
    while queues:
        out += [q.pop(0) for q in queues]
        queues = [q for q in queues if q]
    return out


def due(now: datetime) -> bool:
    """The daily re-check runs on the month's last KPI_LINKCHECK_DAYS days (local time)."""
    later = date.fromordinal(now.date().toordinal() + get_config().kpi_linkcheck_days)
    return later.month != now.month


async def recheck_due(now: datetime | None = None) -> list[Recheck]:
    """The daily job: every team's links of the current month, on the days that are due.
    Each team's day is claimed first (`door.claim`, key `linkcheck:<team>:<day>`), so
    several bot processes on one database re-check it once."""
    cfg = get_config()
    now = now or local_now(cfg.tz)
    if not cfg.kpi_linkcheck or not due(now):
        return []
    period = f"{now.year:04d}-{now.month:02d}"
    out = []
    for team_id in await door.read(lambda s: teams_with_links(s, period)):
        key = f"linkcheck:{team_id}:{now.date().isoformat()}"
        if not await door.claim(team_id, key):
            continue
        try:
            out.append(await recheck_month(team_id, period))
        except AlreadyRunning:
            continue
        except Exception as e:
            logger.warning(f"link re-check of team {team_id} {period} failed: {e!r}")
    return out


# ---- telling the agent -----------------------------------------------------------------------


def notice_text(flag: FlagView, item_name: str) -> str:
    """The agent's private message about one flag: which entry, what was found, what next."""
    day = to_local(flag.reported_at, get_config().tz).strftime("%m-%d")
    evidence = f"（{flag.link}）" if flag.link else ""
    return (
        f"⚠ 你 {day} 报的 #{flag.entry_id} {item_name}{evidence}核查时发现：{flag.why}。\n"
        "这条记录没有被撤销，主管会核实后决定保留或撤销。"
        f"如有误（例如链接仍能打开），请在群里发 /申诉 #{flag.entry_id} 理由"
    )


def _bindings(s: Session, team_id: int) -> list[GroupBinding]:
    q = select(GroupBinding).where(GroupBinding.team_id == team_id).order_by(GroupBinding.id)
    return list(s.execute(q).scalars())


async def notify(flag_ids: Iterable[int]) -> int:
    """Tell each flagged entry's agent by private message, once; the number sent. A flag
    whose message could not be sent is released and told at the next re-check."""
    from .runtime import rubric_now
    from .send import NoBotOnline, pick_bot, send_direct

    ids = sorted(set(flag_ids))
    if not ids:
        return 0
    views = await door.write(None, lambda s: claim_notices(s, ids))
    sent = 0
    for view in views:
        team_id = await door.read(lambda s, v=view: entry_team(s, v.entry_id))
        bindings = [
            b
            for b in await door.read(lambda s, t=team_id: _bindings(s, t or 0))
            if b.platform == view.platform
        ]
        item = rubric_now().item(view.item_key)
        text = notice_text(view, item.name if item is not None else view.item_key)
        try:
            if not bindings:
                raise NoBotOnline("no group")
            binding = bindings[0]
            bot = await pick_bot(binding)
            await send_direct(bot, view.user_id, [text], via_group=binding.group_id)
            sent += 1
        except Exception as e:
            logger.info(f"flag notice for #{view.entry_id} not sent: {e!r}")
            await door.write(team_id, lambda s, f=view.flag_id: release_notice(s, f))
    return sent


def flag_appeal_parts(entry_id: int, reason: str, bosses: list[tuple[str | None, str]]) -> list:
    """The reply to an agent's `/申诉` of a flagged entry: the supervisors (account, name)
    are asked to look."""
    from .replies import at

    parts: list = [f"✅ 已提交对 #{entry_id} 核查结果的申诉（理由：{reason}）\n"]
    if bosses:
        parts += ["请主管核实：", *(at(uid, name) for uid, name in bosses)]
    else:
        parts.append("请群主或管理员核实")
    parts.append(f"\n保留：/保留 #{entry_id}；撤销：/撤销 #{entry_id} 原因")
    return parts
