"""Migrations on start: Alembic `upgrade` to head, one process at a time."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from . import engine as eng

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def migrate(target: str = "head", engine: AsyncEngine | None = None) -> None:
    """Bring the schema to `target` (Alembic `upgrade`), keeping every row.

    Several processes may start at once on one database: on PostgreSQL they take turns
    under an advisory lock, on SQLite under an IMMEDIATE transaction; whoever comes second
    finds the schema at head and does nothing.
    """
    engine = engine or eng.engine()

    def _upgrade(sync_conn) -> None:
        cfg = alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = sync_conn
        command.upgrade(cfg, target)

    if engine.dialect.name != "postgresql":
        async with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            await conn.run_sync(_upgrade)
        return
    async with engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": eng.MIGRATION_LOCK})
        await conn.commit()
        try:
            await conn.run_sync(_upgrade)
            await conn.commit()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": eng.MIGRATION_LOCK})
            await conn.commit()
