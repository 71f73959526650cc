"""The database engines: how the bot connects, SQLite's tuning, and the read-only guard.

Users write `KPI_DATABASE_URL` as they like (`sqlite+aiosqlite:///…`, `sqlite:///…`,
`postgresql+asyncpg://…`, `postgresql://…`); `async_url` and `sync_url` derive the two
drivers' URLs from it. Two engines are made on the same database:

- the async one (aiosqlite / asyncpg) for reads (`reading`, `bot.door.read`) and for
  `bot.door.writing` (what is no team's data: superuser sightings, the CLI; tests);
- the synchronous one (pysqlite / psycopg 3) on which the write door (`bot.door`) runs
  each group of units whole on a worker thread: one thread hop per group, not one await
  per statement;
- a synchronous read engine on which `bot.door.read` runs each read whole on a reader
  thread (`READERS` of them), for the same reason (on SQLite a read this way takes about
  half the time it takes through aiosqlite, which hops threads for every statement).

SQLite is opened in WAL mode with a busy timeout and foreign keys on. Write transactions
start with `BEGIN IMMEDIATE`: pysqlite's default (no BEGIN until the first write) silently
loses read-then-write updates under concurrency, and a plain deferred `BEGIN` fails with
"database is locked" when two writers upgrade their read locks at once.

Module state (it must be: one pair of engines per process, made at start-up by
`init_engine` and closed by `dispose`): `_engine`, `_sync_engine`, `_read_engine`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

_engine: AsyncEngine | None = None
_sync_engine: Engine | None = None
_read_engine: Engine | None = None

# Advisory-lock keys (PostgreSQL): (namespace, id).
TEAM_LOCK = 4201  # (TEAM_LOCK, team id); team id 0 = creating teams and bindings
MIGRATION_LOCK = 4202
WRITERS = 8  # PostgreSQL: writer threads (and sync connections) of the write door
READERS = 4  # reader threads (and connections) of `bot.door.read`


def async_url(url: str | URL) -> URL:
    """The URL for the async engine: aiosqlite or asyncpg whatever driver was written."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite+aiosqlite")
    if backend == "postgresql":
        return u.set(drivername="postgresql+asyncpg")
    return u


def sync_url(url: str | URL) -> URL:
    """The URL for the write door's synchronous engine: pysqlite or psycopg 3."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return u.set(drivername="sqlite")
    if backend == "postgresql":
        return u.set(drivername="postgresql+psycopg")
    return u


def sqlite_path(url: str | URL) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str | URL) -> AsyncEngine:
    """An async engine on `url` (any driver spelling), tuned and guarded like the bot's."""
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A burst of reports queues for connections rather than failing (pool_timeout).
        engine = create_async_engine(
            async_url(url),
            connect_args={"timeout": 30},
            pool_size=10,
            max_overflow=20,
            pool_timeout=300,
        )
        tune_sqlite(engine.sync_engine)
    else:
        engine = create_async_engine(async_url(url), pool_pre_ping=True)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


def make_sync_engine(url: str | URL) -> Engine:
    """The synchronous engine of the write door on `url`.

    SQLite: pysqlite on the same file, one connection (one writer thread uses it), every
    transaction `BEGIN IMMEDIATE` (it only ever writes). PostgreSQL: psycopg 3, a
    connection per worker thread."""
    if sqlite_path(url) is not None:
        eng = create_engine(
            sync_url(url), connect_args={"timeout": 30, "check_same_thread": False}, pool_size=1
        )
        tune_sqlite(eng, begin="IMMEDIATE")
    else:
        eng = create_engine(sync_url(url), pool_size=WRITERS, max_overflow=WRITERS)
        ping_when_idle(eng)
    event.listen(eng, "before_cursor_execute", _refuse_writes_when_read_only)
    return eng


PING_IDLE = 10.0  # s: a connection back from the pool after this long is pinged first


def ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's pessimistic disconnect handling, for connections that sat idle: a
    connection idle for `PING_IDLE` (a server restarted meanwhile, a firewall's cut) is
    pinged when taken from the pool, and the pool's connections replaced if the ping fails
    (`InvalidatePoolError`, as `pool_pre_ping` does). A connection in steady use is not:
    `pool_pre_ping` would cost every write unit one more round trip. One that the server
    dropped anyway fails its first statement; `bot.door` then runs the unit (or the read)
    once more on a fresh connection, as nothing was committed."""

    @event.listens_for(engine, "checkin")
    def _left(_dbapi_conn, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn, record, _proxy) -> None:
        since = record.info.pop("idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE:
            return  # new, or in steady use
        try:
            alive = engine.dialect.do_ping(dbapi_conn)
        except Exception as e:  # as pool_pre_ping: the pool's other connections go too
            raise exc.InvalidatePoolError(f"idle connection is gone: {e!r}") from e
        if not alive:
            raise exc.InvalidatePoolError("idle connection is gone")


def make_read_engine(url: str | URL) -> Engine:
    """The synchronous engine of `bot.door.read` on `url`: `READERS` connections (SQLite:
    deferred transactions, which WAL lets run beside the writer), guarded against writes."""
    if sqlite_path(url) is not None:
        eng = create_engine(
            sync_url(url),
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=READERS,
            max_overflow=0,
        )
        tune_sqlite(eng)
    else:
        eng = create_engine(sync_url(url), pool_size=READERS, max_overflow=0)
        ping_when_idle(eng)
    event.listen(eng, "before_cursor_execute", _refuse_writes_when_read_only)
    return eng


class WriteInReadOnly(RuntimeError):
    """A command declared as reading (no `writes`) tried to write: its session is never
    committed, so the write would be lost behind a ✅. Fails loudly instead."""


_read_only: ContextVar[bool] = ContextVar("kpi_read_only", default=False)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@contextmanager
def read_only() -> Iterator[None]:
    """Statements run inside this block may not write (see `WriteInReadOnly`)."""
    token = _read_only.set(True)
    try:
        yield
    finally:
        _read_only.reset(token)


def _refuse_writes_when_read_only(_conn, _cursor, statement: str, *_args) -> None:
    if _read_only.get() and statement.lstrip()[:7].upper().startswith(_WRITES):
        raise WriteInReadOnly(statement.split(None, 3)[:3])


WAL_TRIES = 100  # × 50 ms


def _switch_to_wal(cursor) -> None:
    """`PRAGMA journal_mode=WAL`. Connections opening a new file at the same moment (two
    processes starting, or two connections of one pool) all switch it; SQLite answers the
    losers "database is locked" at once, without waiting out the busy timeout. The file
    is in WAL mode a moment later, so the switch is tried again."""
    for attempt in range(WAL_TRIES):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as e:  # sqlite3's, or the aiosqlite adapter's OperationalError
            if "locked" not in str(e) or attempt == WAL_TRIES - 1:
                raise
            time.sleep(0.05)


def tune_sqlite(engine: Engine, begin: str = "DEFERRED") -> None:
    """WAL, FULL sync, busy timeout, foreign keys; SQLAlchemy (not pysqlite) emits BEGIN,
    `BEGIN IMMEDIATE` where the connection's `sqlite_begin` option (or `begin`) says so."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through the engine
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        _switch_to_wal(cur)
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        mode = conn.get_execution_options().get("sqlite_begin", begin)
        conn.exec_driver_sql(f"BEGIN {mode}")


def init_engine(url: str) -> AsyncEngine:
    global _engine, _sync_engine, _read_engine
    _engine = make_engine(url)
    _sync_engine = make_sync_engine(url)
    _read_engine = make_read_engine(url)
    return _engine


def initialised() -> bool:
    return _engine is not None


def engine() -> AsyncEngine:
    if _engine is None:
        raise RuntimeError("database not initialised")
    return _engine


def sync_engine() -> Engine:
    """The engine the write door runs its groups on (its `Connection` events see every
    statement of a `bot.door.write` unit)."""
    if _sync_engine is None:
        raise RuntimeError("database not initialised")
    return _sync_engine


def read_engine() -> Engine:
    """The engine `bot.door.read` runs its reads on."""
    if _read_engine is None:
        raise RuntimeError("database not initialised")
    return _read_engine


async def dispose() -> None:
    global _engine, _sync_engine, _read_engine
    if _sync_engine is not None:
        from . import door  # the door's writer and reader threads use the sync engines

        await door.stop()
        _sync_engine.dispose()
        _sync_engine = None
    if _read_engine is not None:
        _read_engine.dispose()
        _read_engine = None
    if _engine is not None:
        await _engine.dispose()
        _engine = None


@asynccontextmanager
async def reading() -> AsyncIterator[AsyncSession]:
    """A read-only session (deferred transaction; WAL lets it run beside writers)."""
    async with AsyncSession(engine(), expire_on_commit=False) as session:
        yield session
