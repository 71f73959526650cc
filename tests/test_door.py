"""The write door (`bot.door`): one transaction per group of a team's units, run whole on a
worker thread over the synchronous driver, serialised per team on both engines (SPEC §5)."""

import asyncio
import threading
import time

import pytest
from sqlalchemy import select, text

from bot import door, engine
from models.periods import utcnow
from models.tables import Team
from tools import testdb


def test_the_url_users_write_gives_both_drivers():
    for written in ("postgresql://u@h:5432/kpi", "postgresql+asyncpg://u@h:5432/kpi"):
        assert engine.async_url(written).drivername == "postgresql+asyncpg"
        assert engine.sync_url(written).drivername == "postgresql+psycopg"
        assert engine.sync_url(written).database == "kpi"
    for written in ("sqlite:///data/kpi.db", "sqlite+aiosqlite:///data/kpi.db"):
        assert engine.async_url(written).drivername == "sqlite+aiosqlite"
        assert engine.sync_url(written).drivername == "sqlite"


async def test_a_unit_runs_whole_on_a_writer_thread_of_the_sync_driver_and_is_committed():
    seen = {}

    def work(s):
        seen["thread"] = threading.current_thread().name
        seen["driver"] = s.get_bind().dialect.driver
        s.add(Team(name="一组", created_at=utcnow()))
        s.flush()
        return "ok"

    assert await door.write(None, work) == "ok"
    assert seen["thread"].startswith(f"kpi-{engine.engine().dialect.name}-writer")
    assert seen["driver"] == ("psycopg" if testdb.on_postgres() else "pysqlite")
    async with engine.reading() as s:
        assert (await s.execute(select(Team.name))).scalars().all() == ["一组"]


async def test_a_unit_that_raises_alone_is_rolled_back_and_gets_its_error():
    def work(s):
        s.add(Team(name="二组", created_at=utcnow()))
        s.flush()
        raise ValueError("不行")

    with pytest.raises(ValueError, match="不行"):
        await door.write(1, work)
    async with engine.reading() as s:
        assert (await s.execute(select(Team))).first() is None


async def test_a_read_cannot_write():
    with pytest.raises(engine.WriteInReadOnly):
        await door.read(lambda s: s.execute(text("DELETE FROM team")))


async def test_a_team_whose_lock_another_process_holds_waits():
    """Another process (here: another connection) holds team 5's lock — on SQLite, any
    write transaction: team 5's write waits for it; on PostgreSQL team 6's goes through
    at once, on SQLite it waits too (one writer)."""
    other = engine.make_engine(engine.engine().url)
    pg = testdb.on_postgres()

    def stamp(s):
        s.execute(text("SELECT 1"))  # the unit's transaction starts (BEGIN IMMEDIATE)
        return time.monotonic()

    try:
        async with other.connect() as conn:
            if pg:
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:ns, 5)"), {"ns": engine.TEAM_LOCK}
                )
            else:
                await conn.execute(  # a write: SQLite's one write lock, held till commit
                    text("INSERT INTO team (name, created_at) VALUES ('别的', '2026-12-01')")
                )
            five = asyncio.create_task(door.write(5, stamp))
            six = asyncio.create_task(door.write(6, stamp))
            await asyncio.sleep(0.5)
            assert not five.done()  # queued for the lock
            assert six.done() == pg
            released = time.monotonic()
            await conn.commit()
        t5, t6 = await asyncio.wait_for(asyncio.gather(five, six), 30)
        assert released <= t5
        assert (t6 < released) == pg
    finally:
        await other.dispose()


async def test_one_team_writes_one_at_a_time_and_teams_side_by_side_on_postgresql():
    """Two units of team 1 and one of team 2, each holding its transaction 0.3 s: team 1's
    two run one after the other; team 2 runs beside team 1's first on PostgreSQL, after
    it on SQLite (one writer)."""
    spans: dict[str, tuple[float, float]] = {}

    def slow(name):
        def work(s):
            start = time.monotonic()
            time.sleep(0.3)
            spans[name] = (start, time.monotonic())

        return work

    a = asyncio.create_task(door.write(1, slow("1a")))
    await asyncio.sleep(0.05)  # 1a has its group; 1b and 2 come after it started
    await asyncio.gather(a, door.write(1, slow("1b")), door.write(2, slow("2")))
    assert spans["1b"][0] >= spans["1a"][1]
    assert (spans["2"][0] < spans["1a"][1]) == testdb.on_postgres()


@pytest.mark.skipif(not testdb.on_postgres(), reason="the write door's PostgreSQL pool")
async def test_an_idle_connection_the_server_dropped_is_replaced_before_the_next_write(
    monkeypatch,
):
    """Connections in steady use are not pinged (no extra round trip per write), but one
    back from the pool after `PING_IDLE` is, and a dead one is replaced: the write works."""
    monkeypatch.setattr(engine, "PING_IDLE", 0.0)

    def backend(s):
        return s.execute(text("SELECT pg_backend_pid()")).scalar()

    pid = await door.write(None, backend)
    async with engine.reading() as s:
        await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.2)  # the server has closed it
    assert await door.write(None, backend) != pid


@pytest.mark.skipif(not testdb.on_postgres(), reason="the write door's PostgreSQL pools")
async def test_a_connection_the_server_dropped_in_steady_use_costs_no_write_and_no_read():
    """A connection used a moment ago (not pinged) that the server dropped fails its first
    statement: the group, or the read, runs once more on a fresh connection — every unit
    of a group of several is written once."""

    def backend(s):
        return s.execute(text("SELECT pg_backend_pid()")).scalar()

    writer, reader = await door.write(None, backend), await door.read(backend)
    async with engine.reading() as s:
        for pid in (writer, reader):
            await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    await asyncio.sleep(0.2)  # the server has closed them

    def add(name):
        def work(s):
            s.add(Team(name=name, created_at=utcnow()))
            s.flush()
            return name

        return work

    names = ["甲组", "乙组", "丙组"]
    assert await asyncio.gather(*(door.write(None, add(n)) for n in names)) == names
    assert await door.read(backend) != reader
    teams = await door.read(lambda s: sorted(s.execute(select(Team.name)).scalars()))
    assert teams == sorted(names)
