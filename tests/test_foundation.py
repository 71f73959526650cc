"""Issue 2: the database migrates itself and keeps data, write transactions are safe under
concurrency, and bad configuration stops the bot at start with a message naming the key."""

import asyncio
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import SQLModel

from bot import db
from bot.config import Config
from tests.utils import sqlite_only
from tools import testdb

ROOT = Path(__file__).resolve().parent.parent


async def test_database_made_by_the_first_migration_upgrades_to_head_keeping_its_rows(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "old"))
    try:
        await db.migrate("0001", engine)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO team (name, created_at) VALUES ('老团队', '2026-01-01 00:00:00')")
            )
        await db.migrate("head", engine)
        async with engine.connect() as conn:
            names = (await conn.execute(text("SELECT name, reminder_time FROM team"))).all()
            assert names == [("老团队", None)]
            assert (await conn.execute(text("SELECT count(*) FROM appeal"))).scalar() == 0
            diff = await conn.run_sync(
                lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
            )
        assert diff == []  # the migrations build exactly the tables the code declares
    finally:
        await engine.dispose()


async def test_two_processes_migrating_one_empty_database_at_once_both_come_up(tmp_path):
    """Two bot processes started together: they take turns, the second finds head."""
    url = await testdb.create_database(tmp_path, "twice")
    engines = [db.make_engine(url) for _ in range(2)]
    try:
        await asyncio.gather(*(db.migrate("head", e) for e in engines))
        async with engines[0].connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        assert len(versions) == 1
    finally:
        for e in engines:
            await e.dispose()


@sqlite_only
async def test_connections_opening_a_new_sqlite_file_at_once_all_come_up(tmp_path):
    """Each connection switches the file to WAL; SQLite answers the losers of that race
    "database is locked" without waiting, so two processes starting on a new file used to
    fail now and then. Six at once, forty times: every one comes up."""
    for n in range(40):
        engines = [db.make_engine(f"sqlite+aiosqlite:///{tmp_path}/new{n}.db") for _ in range(6)]

        async def touch(engine) -> int:
            async with engine.connect() as conn:
                return (await conn.execute(text("SELECT 1"))).scalar_one()

        try:
            assert await asyncio.gather(*(touch(e) for e in engines)) == [1] * 6
        finally:
            for e in engines:
                await e.dispose()


async def test_upgrade_to_0004_revokes_later_duplicate_links_and_then_refuses_them(tmp_path):
    """A database written concurrently before 0004 may hold one link twice in a team; the
    later copy is revoked with a reason (never deleted), then the index refuses a third."""
    from sqlalchemy.exc import IntegrityError

    engine = db.make_engine(await testdb.create_database(tmp_path, "dups"))
    entry = (
        "INSERT INTO entry (team_id, member_id, period, item_key, quantity, fine_cents, link,"
        " created_at, created_by, created_by_name) VALUES (1, 1, '2026-11', 'article', 1, 0,"
        " :link, '2026-11-02 00:00:00', 'qq:1', '张三')"
    )
    try:
        await db.migrate("0003", engine)
        async with engine.begin() as conn:
            await conn.execute(
                text("INSERT INTO team (name, created_at) VALUES ('一组', '2026-11-01 00:00:00')")
            )
            await conn.execute(
                text(
                    "INSERT INTO member (team_id, platform, user_id, name, role, joined_on)"
                    " VALUES (1, 'qq', '1', '张三', 'agent', '2026-11-01')"
                )
            )
            for link in ("https://e.com/a", "https://e.com/a", "https://e.com/b"):
                await conn.execute(text(entry), {"link": link})
        await db.migrate("head", engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, revoke_reason FROM entry ORDER BY id"))
            ).all()
        assert [r[0] for r in rows] == [1, 2, 3]  # nothing deleted
        assert rows[0][1] is None
        assert rows[2][1] is None
        assert "同一链接" in rows[1][1]
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(entry), {"link": "https://e.com/b"})
    finally:
        await engine.dispose()


async def _counter(tmp_path: Path):
    engine = db.make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE counter (n INTEGER)"))
        await conn.execute(text("INSERT INTO counter VALUES (0)"))
    return engine


@sqlite_only
async def test_deferred_transactions_fail_with_database_is_locked_on_read_then_write(tmp_path):
    """Two deferred read-then-write transactions: the second writer cannot upgrade its lock."""
    engine = await _counter(tmp_path)
    try:
        async with AsyncSession(engine) as a, AsyncSession(engine) as b:
            await a.begin()
            await b.begin()
            n_a = (await a.execute(text("SELECT n FROM counter"))).scalar()
            n_b = (await b.execute(text("SELECT n FROM counter"))).scalar()
            await a.execute(text("UPDATE counter SET n = :n"), {"n": n_a + 1})
            await a.commit()
            with pytest.raises(OperationalError, match="database is locked"):
                await b.execute(text("UPDATE counter SET n = :n"), {"n": n_b + 1})
    finally:
        await engine.dispose()


@sqlite_only
async def test_immediate_write_transactions_lose_no_read_then_write_update(tmp_path):
    """The same pattern through the bot's write sessions (BEGIN IMMEDIATE): 40 writers, 40."""
    engine = await _counter(tmp_path)
    immediate = engine.execution_options(sqlite_begin="IMMEDIATE")

    async def bump() -> None:
        async with AsyncSession(immediate) as s, s.begin():
            n = (await s.execute(text("SELECT n FROM counter"))).scalar()
            await asyncio.sleep(0)
            await s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    try:
        await asyncio.gather(*(bump() for _ in range(40)))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar() == 40
            assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("kpi_timezone", "Mars/Olympus"),
        ("kpi_monthly_cron", "every month"),
        ("kpi_undo_minutes", "-5"),
        ("kpi_daily_reminder", "25:99"),
        ("kpi_reminder_days", "funday"),
        ("kpi_commission_base", "-1"),
    ],
)
def test_bad_config_value_is_rejected_naming_the_key(key, value):
    with pytest.raises(ValidationError) as err:
        Config(**{key: value})
    assert key in str(err.value)


def _start(tmp_path: Path, env_lines: list[str]) -> subprocess.CompletedProcess:
    (tmp_path / ".env").write_text("\n".join(["PORT=18999", *env_lines]) + "\n", encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_bot_refuses_to_start_on_a_bad_setting_and_names_it(tmp_path):
    done = _start(tmp_path, ["KPI_TIMEZONE=Mars/Olympus"])
    assert done.returncode == 2
    assert "KPI_TIMEZONE" in done.stdout + done.stderr


def test_bot_refuses_to_start_on_an_invalid_rubric_naming_file_item_and_problem(tmp_path):
    rubric = (ROOT / "models" / "rubric.toml").read_text(encoding="utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        rubric.replace(
            'category = "hr"\npoints = -1\ncommands = ["迟到"',
            'category = "hx"\npoints = -1\ncommands = ["迟到"',
        ),
        encoding="utf-8",
    )
    done = _start(tmp_path, [f"KPI_RUBRIC={bad}"])
    assert done.returncode == 2
    said = done.stdout + done.stderr
    assert str(bad) in said
    assert "项目 late" in said
    assert "未知分类 hx" in said


def test_nb_run_loads_the_same_plugins_as_python_m_bot():
    """`[tool.nonebot]` in pyproject.toml (used by `nb run`) lists every plugin we load."""
    import tomllib

    from bot.app import LIBRARIES, plugin_names

    listed = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "nonebot"
    ]["plugins"]
    assert sorted(listed) == sorted([*LIBRARIES, *plugin_names()])


async def _units(n: int, failing: int | None = None):
    """`n` units of work fired at once through the door, each adding a team; unit `failing`
    refuses."""
    from models.ledger import Refused
    from models.periods import utcnow
    from models.tables import Team

    def plain(i: int, s: Session) -> int:
        team = Team(name=f"组{i}", created_at=utcnow())
        s.add(team)
        s.flush()
        if i == failing:
            raise Refused("不行")
        assert team.id is not None
        return team.id

    def fire(i: int):
        return db.write(None, lambda s: plain(i, s))

    return await asyncio.gather(*(fire(i) for i in range(n)), return_exceptions=True)


@contextmanager
def _on_commit(listener):
    """`listener` on every engine a write unit may commit through."""
    from sqlalchemy import event

    engines = {db.engine().sync_engine, db.write_engine()}
    for engine in engines:
        event.listen(engine, "commit", listener)
    try:
        yield
    finally:
        for engine in engines:
            event.remove(engine, "commit", listener)


async def test_units_fired_together_commit_and_a_failing_one_is_undone_alone(app):
    from sqlalchemy import select

    from models.ledger import Refused
    from models.tables import Team

    commits: list[bool] = []
    with _on_commit(lambda _conn: commits.append(True)):
        results = await _units(10, failing=4)
    assert isinstance(results[4], Refused)
    assert all(isinstance(r, int) for i, r in enumerate(results) if i != 4)
    async with db.reading() as s:
        names = sorted((await s.execute(select(Team.name))).scalars())
    assert names == sorted(f"组{i}" for i in range(10) if i != 4)
    assert len(commits) == 1  # group commit: one transaction, one fsync


async def test_on_postgresql_each_teams_units_share_a_transaction_other_teams_their_own(app):
    """SQLite writes one transaction at a time: one group. PostgreSQL groups by team (the
    units queue for the team's advisory lock anyway) and runs teams side by side."""
    from sqlalchemy import select

    from models.tables import Team

    def add(name: str, s: Session) -> None:
        s.add(Team(name=name, created_at=datetime(2026, 11, 1)))

    async def fire(team: int, name: str) -> None:
        await db.write(team, lambda s: add(name, s))

    commits: list[bool] = []
    with _on_commit(lambda _conn: commits.append(True)):
        await asyncio.gather(*(fire(1 + i % 2, f"组{i}") for i in range(6)))
    async with db.reading() as s:
        assert len((await s.execute(select(Team.name))).scalars().all()) == 6
    assert len(commits) == (1 if db.engine().dialect.name == "sqlite" else 2)


async def test_a_group_whose_commit_fails_acknowledges_none_of_its_units(app):
    from sqlalchemy import select

    from models.tables import Team

    def fail(_conn) -> None:
        raise OSError("disk full")

    with _on_commit(fail):
        results = await _units(5)
    assert all(isinstance(r, OSError) for r in results), results
    async with db.reading() as s:
        assert (await s.execute(select(Team.name))).scalars().all() == []


async def test_a_write_under_read_only_fails_loudly_instead_of_being_lost(app):
    """A command's read session is never committed: a write there would vanish behind a ✅,
    so the dispatcher runs reading commands under `read_only()`, where writing raises."""
    from sqlalchemy import func, select

    from models.tables import Team

    async with db.reading() as s:
        with db.read_only():
            assert (await s.execute(select(func.count()).select_from(Team))).scalar() == 0
            with pytest.raises(db.WriteInReadOnly):
                await s.execute(
                    text("INSERT INTO team (name, created_at) VALUES ('x', '2026-11-01')")
                )


def test_every_command_marked_as_writing_exists():
    from bot.commands import COMMANDS, WRITES

    assert WRITES <= set(COMMANDS)


async def test_a_reading_commands_use_case_runs_read_only():
    """A reading command's use case runs through `bot.door.read` (`bot.dispatch`): a write
    inside it is refused at once, not lost."""
    from sqlalchemy import text

    from bot import door

    def sneaky(s):
        s.execute(text("DELETE FROM processedmessage"))

    with pytest.raises(db.WriteInReadOnly):
        await door.read(sneaky)
