"""Scratch databases for the tests, `make demo` and the benchmarks, on SQLite or PostgreSQL.

One variable picks the engine: `KPI_TEST_DATABASE_URL`. Unset (or a SQLite URL) means a
SQLite file per database; a PostgreSQL URL names a server and a database to connect to
for administration (e.g. `postgresql+asyncpg://postgres@127.0.0.1:5432/test`), and every
scratch database is created on that server with a name starting `kpi_t_`.

Everything here goes through SQLAlchemy, so a test reads the bot's database the same way
on both engines.

    python -m tools.testdb ping URL      exit 0 when the server answers
    python -m tools.testdb sweep URL     drop every kpi_t_* database left on it
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, func, select, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ENV = "KPI_TEST_DATABASE_URL"
PREFIX = "kpi_t_"


def use_database_url_from_env() -> None:
    """For `make demo` and bench/: a PostgreSQL KPI_DATABASE_URL names the server on which
    their throwaway databases are made (as KPI_TEST_DATABASE_URL does for the tests)."""
    url = os.environ.get("KPI_DATABASE_URL", "").strip()
    if url and make_url(url).get_backend_name() != "sqlite":
        os.environ[ENV] = url


def server_url() -> str | None:
    """The PostgreSQL server the tests run on, or None for SQLite."""
    url = os.environ.get(ENV, "").strip()
    if not url or make_url(url).get_backend_name() == "sqlite":
        return None
    return url


def engine_name() -> str:
    return "postgresql" if server_url() else "sqlite"


def on_postgres() -> bool:
    return server_url() is not None


def _admin(server: str) -> AsyncEngine:
    return create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=_null_pool())


def _null_pool():
    from sqlalchemy.pool import NullPool

    return NullPool


def _with_database(server: str, name: str) -> str:
    return make_url(server).set(database=name).render_as_string(hide_password=False)


async def create_database(folder: Path | None = None, hint: str = "db") -> str:
    """A new empty database: a file in `folder` on SQLite, `kpi_t_<hint>_<hex>` on PostgreSQL."""
    server = server_url()
    if server is None:
        assert folder is not None, "a SQLite scratch database needs a folder"
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{folder / f'{hint}.db'}"
    return await _new_database(server, hint, "")


async def _new_database(server: str, hint: str, template: str) -> str:
    """`CREATE DATABASE kpi_t_<hint>_<hex>` on the server (a copy of `template` if named),
    remembered for `drop_created`."""
    name = f"{PREFIX}{hint}_{uuid.uuid4().hex[:10]}".lower()
    like = f' TEMPLATE "{template}"' if template else ""
    eng = _admin(server)
    try:
        async with eng.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"{like}'))
    finally:
        await eng.dispose()
    url = _with_database(server, name)
    _created.append(url)
    return url


_created: list[str] = []


async def drop_created() -> None:
    """Drop the databases this process created (at the end of a test run)."""
    while _created:
        await drop_database(_created.pop())


async def copy_database(url: str, folder: Path | None = None, hint: str = "copy") -> str:
    """A new database holding what `url` holds (nothing may be connected to it)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        assert folder is not None
        assert u.database
        target = folder / f"{hint}.db"
        await asyncio.to_thread(shutil.copyfile, u.database, target)
        return f"sqlite+aiosqlite:///{target}"
    return await _new_database(url, hint, u.database or "")


async def drop_database(url: str) -> None:
    """Remove a scratch database (a PostgreSQL one even while something is connected)."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database:
            for suffix in ("", "-wal", "-shm"):
                await asyncio.to_thread(Path(f"{u.database}{suffix}").unlink, missing_ok=True)
        return
    if not (u.database or "").startswith(PREFIX):
        raise ValueError(f"not a scratch database: {u.database}")
    eng = _admin(_with_database(url, "postgres"))
    try:
        async with eng.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
    finally:
        await eng.dispose()


async def sweep(server: str) -> int:
    """Drop every scratch database on the server (left by an interrupted run)."""
    eng = _admin(server)
    try:
        async with eng.connect() as conn:
            names = (
                await conn.execute(
                    text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                    {"p": PREFIX.replace("_", r"\_") + "%"},
                )
            ).scalars()
            names = list(names)
        for name in names:
            await drop_database(_with_database(server, name))
    finally:
        await eng.dispose()
    return len(names)


async def rows(url: str, sql: str, **params: Any) -> list[tuple]:
    """Run one statement on the database at `url` (its own short-lived connection)."""
    eng = create_async_engine(url, poolclass=_null_pool())
    try:
        async with eng.begin() as conn:
            result = await conn.execute(text(sql), params)
            return [tuple(r) for r in result.all()] if result.returns_rows else []
    finally:
        await eng.dispose()


async def ping(url: str) -> bool:
    try:
        await rows(url, "SELECT 1")
    except Exception:
        return False
    return True


# ---- snapshots of a whole database (both engines) -------------------------------------------

Snapshot = dict[str, list[dict[str, Any]]]


def _tables(metadata: MetaData) -> list:
    return [t for t in metadata.sorted_tables if t.name != "alembic_version"]


async def snapshot(engine: AsyncEngine, metadata: MetaData) -> Snapshot:
    """Every row of every table, to put back later with `restore`."""
    out: Snapshot = {}
    async with engine.connect() as conn:
        for table in _tables(metadata):
            out[table.name] = [dict(r._mapping) for r in await conn.execute(select(table))]
    return out


async def truncate(engine: AsyncEngine, metadata: MetaData) -> None:
    """Empty every table and restart its ids at 1."""
    tables = _tables(metadata)
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                await conn.execute(table.delete())


async def restore(engine: AsyncEngine, metadata: MetaData, snap: Snapshot) -> None:
    """Make the database hold exactly `snap` again (ids and id sequences included)."""
    await truncate(engine, metadata)
    async with engine.begin() as conn:
        for table in _tables(metadata):
            data = snap.get(table.name) or []
            if data:
                await conn.execute(table.insert(), data)
            if engine.dialect.name == "postgresql" and "id" in table.c:
                top = (await conn.execute(select(func.max(table.c.id)))).scalar()
                await conn.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n, :called)"),
                    {"t": table.name, "n": top or 1, "called": top is not None},
                )


def describe(url: str | URL) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _main(argv: Iterable[str]) -> int:
    args = list(argv)
    if len(args) != 2 or args[0] not in ("ping", "sweep"):
        print(__doc__, file=sys.stderr)
        return 2
    verb, url = args
    if verb == "ping":
        return 0 if asyncio.run(ping(url)) else 1
    print(f"dropped {asyncio.run(sweep(url))} scratch databases")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
