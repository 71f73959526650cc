"""Migration 0012 (issue 22 item 4): linked accounts and link codes come and go on both
engines, keeping every row of the tables that were there; an old database's members are
found by their own accounts as before."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.orm import Session

from bot import db
from models.roster import member_row
from tools import testdb

ROWS_BEFORE = [
    "INSERT INTO team (id, name, created_at) VALUES (1, '一组', '2026-11-01 00:00:00')",
    "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on) VALUES"
    " (1, 1, 'qq', '30001', '张三', 'agent', '2026-11-01'),"
    " (2, 1, 'wecom', 'lisi', 'lisi', 'agent', '2026-11-01')",
    "INSERT INTO tenure (id, member_id, start) VALUES (1, 1, '2026-11-01'), (2, 2, '2026-11-01')",
    "INSERT INTO entry (id, team_id, member_id, period, item_key, quantity, fine_cents,"
    " created_at, created_by, created_by_name) VALUES"
    " (1, 1, 1, '2026-11', 'late', 1, 0, '2026-11-02 00:00:00', 'qq:1', '老板')",
]
COUNTS = "SELECT (SELECT COUNT(*) FROM member), (SELECT COUNT(*) FROM tenure), (SELECT COUNT(*) FROM entry)"


def _before_0012() -> str:
    """The revision 0012 follows (the chain is re-linked when branches merge)."""
    path = Path(db.MIGRATIONS) / "versions" / "0012_member_accounts.py"
    spec = importlib.util.spec_from_file_location("m0012", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.down_revision


async def _downgrade(engine, target: str) -> None:
    def down(sync_conn) -> None:
        cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, target)

    async with engine.begin() as conn:
        await conn.run_sync(down)


async def _tables(engine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: set(inspect(c).get_table_names()))


async def test_migration_0012_adds_linked_accounts_keeping_every_member(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m12"))
    try:
        before = _before_0012()
        await db.migrate(before, engine)
        async with engine.begin() as conn:
            for sql in ROWS_BEFORE:
                await conn.execute(text(sql))
        await db.migrate("0012", engine)
        assert {"member_account", "link_code"} <= await _tables(engine)
        async with engine.connect() as conn:
            assert tuple((await conn.execute(text(COUNTS))).one()) == (2, 2, 1)

            def found(c) -> tuple:
                s = Session(bind=c)
                return tuple(
                    getattr(member_row(s, 1, p, u), "name", None)
                    for p, u in (("qq", "30001"), ("wecom", "lisi"), ("wecom", "zhangsan"))
                )

            assert await conn.run_sync(found) == ("张三", "lisi", None)
            await conn.execute(
                text(
                    "INSERT INTO member_account (member_id, team_id, platform, user_id, name,"
                    " linked_at, linked_by) VALUES"
                    " (1, 1, 'wecom', 'zhangsan', 'zhangsan', '2026-12-01 00:00:00', 'qq:1')"
                )
            )
            assert (await conn.run_sync(found))[2] == "张三"
            await conn.rollback()

        await _downgrade(engine, before)
        assert not {"member_account", "link_code"} & await _tables(engine)
        async with engine.connect() as conn:
            assert tuple((await conn.execute(text(COUNTS))).one()) == (2, 2, 1)
    finally:
        await engine.dispose()
