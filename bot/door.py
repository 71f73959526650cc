"""The one door every write of a team goes through, chat or not (SPEC §5).

`write(team_id, work)` runs `work(session)` — a plain function of a synchronous
`Session` — as one transaction, serialised per team on both engines, and returns its
result only once that transaction is committed: nothing is acknowledged that is not
durable. The dispatcher, the monthly settlement and its catch-up, the outbox, reminders,
housekeeping, ops and the web's actions all call it. `read(work)` runs `work(session)`
in a read-only session, whole, on one of `engine.READERS` reader threads.

How a write runs:

- **Lanes.** Units queue in a lane: on SQLite one lane (SQLite writes one transaction at
  a time anyway), on PostgreSQL one lane per team (other teams run side by side).
- **Group commit.** The units queued in a lane while its previous group ran form the next
  group (up to `GROUP_MAX`): one transaction, one fsync. Each unit of a group of several
  runs in a SAVEPOINT, so one that raises is undone alone and gets its exception; if
  BEGIN or COMMIT fails, every unit of the group gets the error.
- **Whole, on a worker thread.** The group runs on the synchronous engine
  (`bot.engine.sync_engine`: pysqlite / psycopg 3), BEGIN to COMMIT, on a worker thread:
  one thread hop per group instead of one await per statement. SQLite has one writer
  thread; PostgreSQL `engine.WRITERS`.
- **Team lock.** On PostgreSQL the group's first statement takes the team's transaction
  advisory lock (`pg_advisory_xact_lock(TEAM_LOCK, team)`), so a team's writes are one at
  a time across processes too; on SQLite `BEGIN IMMEDIATE` does the same. Rules that count
  or check before they insert (a link once per team, daily caps, "is the month settled?")
  rely on it; uniqueness rules are also unique indexes.
- **The message's claim.** A unit written for a chat message names it (`claim`, SPEC §5
  "Several processes"): it is claimed in the unit's transaction before the unit runs
  (`models.ledger.claim_message`), and a message claimed already runs nothing and raises
  `Claimed`. A lone unit on PostgreSQL claims it in the lock's statement (one round trip
  fewer); in a group, inside the unit's SAVEPOINT.

`writing()` is an async transaction outside the lanes, for what is no team's data (where
a bare SUPERUSERS id speaks first, the CLI's key rotation) and for tools and tests that
set data up.

Module state (it must be: the queues and committers are per process and per event loop):
`_queues`, `_committers`, `_executors` (the writer and reader threads); `_compiled` (the
first statement's SQL, compiled once).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from models.ledger import claim_message
from models.periods import utcnow
from models.tables import ProcessedMessage

from . import engine as eng

T = TypeVar("T")
SyncWork = Callable[[Session], T]


class Claimed(Exception):
    """The unit's chat message was claimed already (a redelivery, or another process got
    it first): the unit did not run, nothing was written."""


async def write(team_id: int | None, work: SyncWork[T], *, claim: str | None = None) -> T:
    """Run `work` as one write transaction of team `team_id` (None: no team yet, key 0),
    after claiming the chat message `claim` in it (`Claimed` if it was claimed already)."""
    return await _enqueue(_Unit(work, claim), team_id or 0)


async def claim(team_id: int | None, key: str) -> bool:
    """Claim `key` in a write of its own (a reading command's message, a daily job's day);
    False if it was claimed already."""
    try:
        await write(team_id, _nothing, claim=key)
    except Claimed:
        return False
    return True


def _nothing(_s: Session) -> None:
    """A unit that only claims."""


async def read(work: Callable[[Session], T]) -> T:
    """Run `work` in a read session, whole, on a reader thread (`engine.read_engine`: one
    thread hop for the whole read); a write inside it raises `engine.WriteInReadOnly`."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_reader(), _run_read, work)


def _run_read(work: Callable[[Session], T]) -> T:
    """A read on a connection found dead (see `_run_group`) is read again on a fresh one."""
    try:
        return _read_once(work)
    except DBAPIError as e:
        if not dropped(e):
            raise
        return _read_once(work)


def _read_once(work: Callable[[Session], T]) -> T:
    with eng.read_only(), Session(eng.read_engine(), expire_on_commit=False) as s:
        return work(s)  # the session's transaction ends with a rollback


def lock_team_sync(session: Session, team_id: int, claim: str | None = None) -> bool:
    """Hold team `team_id`'s write lock until the transaction ends (no-op on SQLite), and
    claim the message `claim` (`claim_message`); False if it was claimed already. On
    PostgreSQL one statement does both, the lock first, sent with the transaction's BEGIN
    (`_with_begin`)."""
    conn = session.connection()  # Core, not the ORM's execute: every group's first statement
    if conn.dialect.name != "postgresql":
        return claim_message(session, claim)
    lock = {"ns": eng.TEAM_LOCK, "id": team_id}
    if claim is None:
        _with_begin(conn, _LOCK, lock)
        return True
    return _with_begin(conn, _LOCK_AND_CLAIM, {**lock, "key": claim, "at": utcnow()}) == 1


def _with_begin(conn: Connection, statement: Executable, params: dict) -> int:
    """Run the transaction's first statement on PostgreSQL in one round trip with its BEGIN
    (SQLAlchemy's execute waits for psycopg's BEGIN first: one round trip more for every
    write, 0.5–1 ms on a loaded two-core machine), in psycopg's pipeline mode on the
    driver's connection (`Connection.connection.driver_connection`); its rowcount.

    A driver error comes back as SQLAlchemy's `DBAPIError`; a dead connection is
    invalidated and the pool replaced, as SQLAlchemy does, so `_run_group` runs the group
    once more on a fresh connection (`dropped`)."""
    compiled = _compiled.get(statement)
    if compiled is None:
        compiled = _compiled[statement] = statement.compile(dialect=conn.dialect)
    sql, values = compiled.string, compiled.construct_params(params)
    raw = conn.connection.driver_connection
    try:
        with raw.pipeline():
            cursor = raw.cursor()
            cursor.execute(sql, values)
        return cursor.rowcount
    except raw.Error as e:  # psycopg's
        dead = raw.broken or raw.closed
        if dead:
            conn.invalidate(e)
            conn.engine.dispose(close=False)  # the pool's other connections died with it
        # SQLAlchemy's own wrapping: the DBAPI class of the same name (OperationalError…)
        raise DBAPIError.instance(sql, values, e, raw.Error, connection_invalidated=dead) from e


_compiled: dict[Executable, Compiled] = {}  # module state: each statement compiled once


_LOCK = select(func.pg_advisory_xact_lock(bindparam("ns"), bindparam("id")))


def _lock_and_claim():
    """`WITH lock AS (SELECT pg_advisory_xact_lock(…)) INSERT INTO processedmessage SELECT
    :key, :at FROM lock ON CONFLICT DO NOTHING`: the claim reads the lock's row, so the lock
    is held first (a conflict is judged against every claim committed or in progress, not
    against the statement's snapshot)."""
    held = _LOCK.cte("lock")
    table = ProcessedMessage.__table__
    row = select(
        bindparam("key", type_=table.c.key.type), bindparam("at", type_=table.c.created_at.type)
    ).select_from(held)
    return (
        pg_insert(table)
        .from_select(["key", "created_at"], row)
        .on_conflict_do_nothing()
        .add_cte(held)
        .execution_options(preserve_rowcount=True)  # psycopg's rowcount of an INSERT, kept
    )


_LOCK_AND_CLAIM = _lock_and_claim()


@asynccontextmanager
async def writing() -> AsyncIterator[AsyncSession]:
    """An async write transaction outside the door's lanes, taking no team lock: BEGIN
    IMMEDIATE on SQLite, committed on exit, rolled back on error. For what is no team's
    data (a superuser's first sighting, the CLI) and for tools and tests that set data up."""
    bind = eng.engine().execution_options(sqlite_begin="IMMEDIATE")
    async with AsyncSession(bind, expire_on_commit=False) as session, session.begin():
        yield session


# ---- group commit ----------------------------------------------------------------------------


@dataclass(eq=False)
class _Unit:
    work: SyncWork
    claim: str | None = None
    done: asyncio.Future | None = None


GROUP_MAX = 64  # units per transaction
Outcome = tuple[bool, object]  # (returned, value or exception)
_queues: dict[int, deque[_Unit]] = {}
_committers: dict[int, asyncio.Task] = {}
_executors: dict[str, ThreadPoolExecutor] = {}


def _reader() -> ThreadPoolExecutor:
    found = _executors.get("reader")
    if found is None:
        found = _executors["reader"] = ThreadPoolExecutor(
            max_workers=eng.READERS, thread_name_prefix="kpi-reader"
        )
    return found


def _executor(dialect: str) -> ThreadPoolExecutor:
    found = _executors.get(dialect)
    if found is None:
        workers = eng.WRITERS if dialect == "postgresql" else 1
        found = _executors[dialect] = ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix=f"kpi-{dialect}-writer"
        )
    return found


async def stop() -> None:
    """Wait for the lanes to drain and the writer threads to finish (at dispose)."""
    tasks = [t for t in _committers.values() if not t.done()]
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    _committers.clear()
    for queue in _queues.values():  # units queued after the lanes drained: never run
        for unit in queue:
            if unit.done is not None and not unit.done.done():
                unit.done.set_exception(RuntimeError("the database was closed"))
    _queues.clear()
    for ex in _executors.values():
        ex.shutdown(wait=True)
    _executors.clear()


async def _enqueue(unit: _Unit, team: int) -> T:  # type: ignore[type-var]
    loop = asyncio.get_running_loop()
    unit.done = loop.create_future()
    lane = team if eng.engine().dialect.name == "postgresql" else 0
    committer = _committers.get(lane)
    if committer is not None and not committer.done() and committer.get_loop() is not loop:
        # A lane left behind by an event loop that ended under it (a test's loop, never the
        # bot's): its units ended with that loop; this loop starts the lane afresh.
        _queues.pop(lane, None)
        committer = None
    queue = _queues.setdefault(lane, deque())
    queue.append(unit)
    if committer is None or committer.done():
        _committers[lane] = loop.create_task(_commit_groups(lane, queue))
    return await unit.done


async def _commit_groups(team: int, queue: deque[_Unit]) -> None:
    loop = asyncio.get_running_loop()
    while queue:
        group = [queue.popleft() for _ in range(min(len(queue), GROUP_MAX))]
        dialect = eng.sync_engine().dialect.name
        results = await loop.run_in_executor(_executor(dialect), _run_group, group, team)
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


def _run_group(units: list[_Unit], team: int) -> list[Outcome]:
    """A group of plain units, whole, on a writer thread: BEGIN, the team's lock, each
    unit (in a SAVEPOINT when there are several), COMMIT. A connection found dead before
    the COMMIT was sent (the server restarted, a proxy cut it) committed nothing: the group
    runs once more on a fresh one (the pool replaces every connection it had then)."""
    results, committing, e = _attempt(units, team)
    if e is not None and not committing and dropped(e):
        results, committing, e = _attempt(units, team)
    return results if e is None else _group_failed(results, len(units), e)


def _attempt(units: list[_Unit], team: int) -> tuple[list[Outcome], bool, Exception | None]:
    results: list[Outcome] = []
    committing = False
    lone = len(units) == 1
    try:
        with Session(eng.sync_engine(), expire_on_commit=False) as s, s.begin():
            claimed = lock_team_sync(s, team, units[0].claim if lone else None)
            for unit in units:
                try:
                    if lone:
                        if not claimed:
                            raise Claimed(unit.claim)
                        results.append((True, unit.work(s)))
                    else:
                        with s.begin_nested():
                            if not claim_message(s, unit.claim):
                                raise Claimed(unit.claim)
                            value = unit.work(s)
                            s.flush()  # its errors are its own, not the next one's
                        results.append((True, value))
                except Exception as e:  # that unit alone is undone (or, alone, the whole)
                    results.append((False, e))
                    if lone or dropped(e):
                        raise
            committing = True
    except Exception as e:
        return results, committing, e
    return results, committing, None


def dropped(e: BaseException) -> bool:
    """The database connection was found dead (SQLAlchemy invalidated it and the pool)."""
    return isinstance(e, DBAPIError) and e.connection_invalidated
