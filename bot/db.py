"""`from bot import db`: the database modules under one name, for the call sites that
predate the split. Engines and SQLite tuning: `bot.engine`; the write door and group
commit: `bot.door`; migrations: `bot.migrate`. New code imports those."""

from __future__ import annotations

from .door import GROUP_MAX, read, write, writing
from .engine import (
    MIGRATION_LOCK,
    TEAM_LOCK,
    WriteInReadOnly,
    async_url,
    dispose,
    engine,
    init_engine,
    initialised,
    make_engine,
    read_only,
    reading,
    sqlite_path,
    sync_engine,
    sync_url,
)
from .migrate import MIGRATIONS, alembic_config, migrate

write_engine = sync_engine

__all__ = [
    "GROUP_MAX",
    "MIGRATIONS",
    "MIGRATION_LOCK",
    "TEAM_LOCK",
    "WriteInReadOnly",
    "alembic_config",
    "async_url",
    "dispose",
    "engine",
    "init_engine",
    "initialised",
    "make_engine",
    "migrate",
    "read",
    "read_only",
    "reading",
    "sqlite_path",
    "sync_engine",
    "sync_url",
    "write",
    "write_engine",
    "writing",
]


def __getattr__(name: str) -> object:
    if name == "_engine":  # bot.runtime / bot.identity ask whether it is open yet
        from . import engine

        return engine._engine
    raise AttributeError(name)
