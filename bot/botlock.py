""" "A bot is running on this database": a lock the running bot holds, and maintenance
(restore, load, move-db) can detect (SPEC §5 Operations).

- SQLite: every bot process holds a shared `flock` on `<db>.lock` and writes its pid and
  host there; maintenance takes it exclusively, and when it cannot, names the holder read
  from the file. The kernel drops the lock when the process ends (also on `kill -9`).
- PostgreSQL: every bot process holds a shared session advisory lock on a connection of
  its own (application_name `kpi-bot pid@host`); maintenance takes it exclusively, and when
  it cannot, names the holders from `pg_locks` / `pg_stat_activity`.

A bot that starts while maintenance holds the lock stops with `BotRunning` too.
No table is needed (no migration).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from .db import sqlite_path

BOT_LOCK = 4203  # advisory-lock namespace (bot.db: 4201 teams, 4202 migrations)
APP_NAME = "kpi-bot"


class BotRunning(Exception):
    """Something else holds the database: `who` names it (process, host)."""

    def __init__(self, who: str):
        super().__init__(who)
        self.who = who


def me() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def describe(holder: str) -> str:
    """`1234@host` (or `1234@host maintenance`) as a reader sees it."""
    pid, _, rest = holder.strip().partition("@")
    host, _, what = rest.partition(" ")
    label = "维护操作" if what == "maintenance" else "机器人"
    return f"{label}进程 {pid}（主机 {host or '?'}）"


def _postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def lock_path(db_file: Path) -> Path:
    return db_file.with_name(db_file.name + ".lock")


@dataclass
class Held:
    """A lock held until `release()` (or the process ends)."""

    fd: int | None = None
    conn: AsyncConnection | None = None
    engine: AsyncEngine | None = None

    async def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
        if self.conn is not None:
            await self.conn.close()  # a session advisory lock ends with its session
            self.conn = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None


def _flock(path: Path, mode: int, note: str) -> Held:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise BotRunning(describe(holder)) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{me()}{note}\n".encode(), 0)
    return Held(fd=fd)


def _pg_engine(url: str, what: str) -> AsyncEngine:
    return create_async_engine(
        url,
        poolclass=NullPool,
        connect_args={"server_settings": {"application_name": f"{APP_NAME} {me()}{what}"}},
    )


_HOLDERS = text(
    "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), '')"
    " FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns AND l.objid = 0"
    " AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database"
    " WHERE datname = current_database()) AND a.pid <> pg_backend_pid()"
)


async def _pg_lock(url: str, shared: bool) -> Held:
    what = "" if shared else " maintenance"
    eng = _pg_engine(url, what)
    conn = await eng.connect()
    try:
        fn = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
        got = (await conn.execute(text(f"SELECT {fn}(:ns, 0)"), {"ns": BOT_LOCK})).scalar()
        await conn.commit()
        if got:
            return Held(conn=conn, engine=eng)
        rows = (await conn.execute(_HOLDERS, {"ns": BOT_LOCK})).all()
    except BaseException:
        await conn.close()
        await eng.dispose()
        raise
    await conn.close()
    await eng.dispose()
    names = []
    for pid, app, addr in rows:
        if app.startswith(APP_NAME + " "):
            names.append(describe(app[len(APP_NAME) + 1 :]))
        else:
            names.append(f"数据库连接 {pid}（{addr or '本机'}）")
    raise BotRunning("、".join(names) or "另一个进程")


async def hold_for_bot(url: str) -> Held:
    """The running bot's share of the lock (at start; held until it stops)."""
    path = sqlite_path(url)
    if path is not None:
        return _flock(lock_path(path), fcntl.LOCK_SH, "")
    if not _postgres(url):
        return Held()  # an in-memory database: nothing else can open it
    return await _pg_lock(url, shared=True)


@asynccontextmanager
async def maintenance(url: str) -> AsyncIterator[None]:
    """No bot runs on `url` while the block runs; raises `BotRunning` naming the one that
    does."""
    path = sqlite_path(url)
    if path is not None:
        held = _flock(lock_path(path), fcntl.LOCK_EX, " maintenance")
    elif _postgres(url):
        held = await _pg_lock(url, shared=False)
    else:
        held = Held()
    try:
        yield
    finally:
        await held.release()
