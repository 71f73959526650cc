"""The database: one async engine, sessions for reading and for writing, migrations on start.

SQLite is opened in WAL mode with a busy timeout and foreign keys on. Write transactions
start with `BEGIN IMMEDIATE`: pysqlite's default (no BEGIN until the first write) silently
loses read-then-write updates under concurrency, and a plain deferred `BEGIN` fails with
"database is locked" when two writers upgrade their read locks at once.

Rules that count or check before they insert (a link once per team, daily caps, a member
registered once) need writes of one team to run one at a time. SQLite's IMMEDIATE
transactions already run one at a time. PostgreSQL runs them side by side, so a write
transaction opened while a command of team T is handled (`serialise_team`) first takes
the transaction-scoped advisory lock of T; other teams are not held up. Uniqueness rules
are also unique indexes, so the database refuses a second row whatever the code does.

Commands write through `unit_of_work` (group commit). SQLite has a second, synchronous
engine on the same file for the hot path: a writer thread that runs a whole group of
plain units in one hop (`unit_of_work_sync`).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session

from models.prepared import Prepared

ROOT = Path(__file__).resolve().parent.parent
MIGRATIONS = ROOT / "migrations"

_engine: AsyncEngine | None = None
_writer_engine: Engine | None = None  # SQLite: the same file, driven by the writer thread
T = TypeVar("T")


def sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def make_engine(url: str) -> AsyncEngine:
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A burst of reports queues for connections rather than failing (pool_timeout).
        engine = create_async_engine(
            url, connect_args={"timeout": 30}, pool_size=10, max_overflow=20, pool_timeout=300
        )
        _tune_sqlite(engine.sync_engine)
    else:
        engine = create_async_engine(url, pool_pre_ping=True)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_writes_when_read_only)
    return engine


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


def _tune_sqlite(engine: Engine, begin: str = "DEFERRED") -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised through the engine
        # Let SQLAlchemy, not pysqlite, emit BEGIN (see the module docstring).
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
        _BEGIN[mode].run(conn, {})  # on the cursor: the first statement of every report


_BEGIN = {mode: Prepared(text(f"BEGIN {mode}")) for mode in ("DEFERRED", "IMMEDIATE")}


def init_engine(url: str) -> AsyncEngine:
    global _engine, _writer_engine
    _engine = make_engine(url)
    _writer_engine = _make_writer_engine(url) if sqlite_path(url) is not None else None
    return _engine


def _make_writer_engine(url: str) -> Engine:
    """The synchronous engine of the SQLite writer thread (`unit_of_work_sync`): pysqlite
    on the same file, tuned like the async one, one connection (one thread uses it)."""
    sync_url = make_url(url).set(drivername="sqlite")
    eng = create_engine(
        sync_url, connect_args={"timeout": 30, "check_same_thread": False}, pool_size=1
    )
    _tune_sqlite(eng, begin="IMMEDIATE")  # it only ever writes
    event.listen(eng, "before_cursor_execute", _refuse_writes_when_read_only)
    return eng


def engine() -> AsyncEngine:
    if _engine is None:
        raise RuntimeError("database not initialised")
    return _engine


def write_engine() -> Engine:
    """The engine the statements of a write unit go through (its `Connection` events see
    every statement of a `unit_of_work_sync`)."""
    return _writer_engine if _writer_engine is not None else engine().sync_engine


async def dispose() -> None:
    global _engine, _writer_engine
    if _writer_engine is not None:
        await asyncio.get_running_loop().run_in_executor(_writer, _writer_engine.dispose)
        _writer_engine = None
    if _engine is not None:
        await _engine.dispose()
        _engine = None


@asynccontextmanager
async def reading() -> AsyncIterator[AsyncSession]:
    """A read-only session (deferred transaction; WAL lets it run beside writers)."""
    async with AsyncSession(engine(), expire_on_commit=False) as session:
        yield session


# Advisory-lock keys (PostgreSQL): (namespace, id).
TEAM_LOCK = 4201  # (TEAM_LOCK, team id); team id 0 = creating teams and bindings
MIGRATION_LOCK = 4202

_team: ContextVar[int | None] = ContextVar("kpi_serialised_team", default=None)


@contextmanager
def serialise_team(team_id: int | None) -> Iterator[None]:
    """Write transactions opened inside this block run one at a time per team (see above).

    None (a group not bound yet, a person with no team) serialises on key 0.
    """
    token = _team.set(team_id or 0)
    try:
        yield
    finally:
        _team.reset(token)


async def lock_team(session: AsyncSession, team_id: int) -> None:
    """Hold team `team_id`'s write lock until the transaction ends (no-op on SQLite)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:ns, :id)"), {"ns": TEAM_LOCK, "id": team_id}
        )


@asynccontextmanager
async def writing() -> AsyncIterator[AsyncSession]:
    """A write transaction: BEGIN IMMEDIATE on SQLite, committed on exit, rolled back on error.

    Inside `serialise_team(T)` it first takes team T's lock on PostgreSQL.
    """
    bind = engine().execution_options(sqlite_begin="IMMEDIATE")
    async with AsyncSession(bind, expire_on_commit=False) as session, session.begin():
        team = _team.get()
        if team is not None:
            await lock_team(session, team)
        yield session


# ---- group commit ----------------------------------------------------------------------------

Work = Callable[[AsyncSession], Awaitable[T]]
SyncWork = Callable[[Session], T]


async def unit_of_work(work: Work[T]) -> T:
    """Run `work` in a write transaction and return its result once that is committed.

    Units queued at the same moment share one transaction — group commit: SQLite writes
    one transaction at a time anyway, so all of them; PostgreSQL, those of one team (they
    queue for its advisory lock anyway; other teams run side by side). Each unit runs in
    a SAVEPOINT, so one that raises is undone alone and gets its exception; the rest are
    committed together, with one fsync, and only then does any of them return. If the
    commit fails, every unit of the group gets the error: nothing is acknowledged that is
    not durable.
    """
    return await _enqueue(_Unit(work, sync=False))


async def unit_of_work_sync(work: SyncWork[T]) -> T:
    """`unit_of_work` for a unit written as a plain function of a `Session`: the hot path
    (a self-report), run in one hop instead of one await per statement.

    SQLite: a group made only of such units runs whole on the writer thread (BEGIN
    IMMEDIATE, every unit, COMMIT), so a report costs one thread hop, not nine. In a group
    with async units it runs inside their transaction (`AsyncSession.run_sync`), and on
    PostgreSQL through the same `run_sync` over asyncpg: one function, either way.
    """
    return await _enqueue(_Unit(work, sync=True))


@dataclass(eq=False)
class _Unit:
    work: Callable
    sync: bool
    done: asyncio.Future | None = None


GROUP_MAX = 64  # units per transaction
Lane = int | None  # the team whose writes queue together (None: outside `serialise_team`)
_queues: dict[Lane, deque[_Unit]] = {}
_committers: dict[Lane, asyncio.Task] = {}
_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kpi-sqlite-writer")
Outcome = tuple[bool, object]  # (returned, value or exception)


async def _enqueue(unit: _Unit) -> T:  # type: ignore[type-var]
    loop = asyncio.get_running_loop()
    unit.done = loop.create_future()
    lane = _team.get() if engine().dialect.name == "postgresql" else 0
    queue = _queues.setdefault(lane, deque())
    queue.append(unit)
    committer = _committers.get(lane)
    if committer is None or committer.done():
        _committers[lane] = loop.create_task(_commit_groups(lane, queue))
    return await unit.done


async def _commit_groups(lane: Lane, queue: deque[_Unit]) -> None:
    loop = asyncio.get_running_loop()
    while queue:
        group = [queue.popleft() for _ in range(min(len(queue), GROUP_MAX))]
        if all(u.sync for u in group) and _writer_engine is not None:
            works = [u.work for u in group]
            results = await loop.run_in_executor(_writer, _run_group_on_writer, works)
        else:
            token = _team.set(lane)  # PostgreSQL: the group holds its team's lock
            try:
                results = await _run_group(group)
            finally:
                _team.reset(token)
        for unit, (ok, value) in zip(group, results, strict=True):
            assert unit.done is not None
            if unit.done.cancelled():
                continue
            if ok:
                unit.done.set_result(value)
            else:
                unit.done.set_exception(value)  # type: ignore[arg-type]


def _group_failed(results: list[Outcome], size: int, e: Exception) -> list[Outcome]:
    """The group's transaction raised `e`: a lone unit keeps its own error; otherwise
    BEGIN or COMMIT failed and none of the group is durable."""
    if size == 1 and results and results[0][1] is e:
        return results
    return [(False, e)] * size


async def _run_group(group: list[_Unit]) -> list[Outcome]:
    async def run(s: AsyncSession, unit: _Unit) -> object:
        return await (s.run_sync(unit.work) if unit.sync else unit.work(s))

    results: list[Outcome] = []
    try:
        async with writing() as s:
            for unit in group:
                try:
                    if len(group) == 1:
                        results.append((True, await run(s, unit)))
                    else:
                        async with s.begin_nested():
                            value = await run(s, unit)
                            await s.flush()  # its errors are its own, not the next one's
                        results.append((True, value))
                except Exception as e:  # that unit alone is undone (or, alone, the whole)
                    results.append((False, e))
                    if len(group) == 1:
                        raise
    except Exception as e:
        results = _group_failed(results, len(group), e)
    return results


def _run_group_on_writer(works: list[SyncWork]) -> list[Outcome]:
    """`_run_group` of plain units, on the writer thread: the whole transaction in one hop."""
    assert _writer_engine is not None
    results: list[Outcome] = []
    try:
        with Session(_writer_engine, expire_on_commit=False) as s, s.begin():
            for work in works:
                try:
                    if len(works) == 1:
                        results.append((True, work(s)))
                    else:
                        with s.begin_nested():
                            value = work(s)
                            s.flush()
                        results.append((True, value))
                except Exception as e:
                    results.append((False, e))
                    if len(works) == 1:
                        raise
    except Exception as e:
        results = _group_failed(results, len(works), e)
    return results


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def migrate(target: str = "head", eng: AsyncEngine | None = None) -> None:
    """Bring the schema to `target` (Alembic `upgrade`), keeping every row.

    Several processes may start at once on one database: on PostgreSQL they take turns
    under an advisory lock, on SQLite under an IMMEDIATE transaction; whoever comes second
    finds the schema at head and does nothing.
    """
    eng = eng or engine()

    def _upgrade(sync_conn) -> None:
        cfg = alembic_config(eng.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, target)

    if eng.dialect.name != "postgresql":
        async with eng.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            await conn.run_sync(_upgrade)
        return
    async with eng.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        await conn.commit()
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            await conn.commit()
