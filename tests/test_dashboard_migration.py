"""Migration 0011 (issue 24): rubric versions, commission bases and the logger index come
and go on both engines, keeping every row of the tables that were there."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from bot import db
from tools import testdb

ROWS_BEFORE = [
    "INSERT INTO team (id, name, created_at, commission_base_cents) VALUES"
    " (1, '一组', '2026-11-01 00:00:00', 500000)",
    "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on) VALUES"
    " (1, 1, 'qq', '30001', '张三', 'agent', '2026-11-01')",
    "INSERT INTO entry (id, team_id, member_id, period, item_key, quantity, fine_cents,"
    " created_at, created_by, created_by_name) VALUES"
    " (1, 1, 1, '2026-11', 'late', 1, 0, '2026-11-02 00:00:00', 'qq:1', '老板')",
]


def _before_0011() -> str:
    """The revision 0011 follows (the chain is re-linked when branches merge)."""
    import importlib.util
    from pathlib import Path

    path = Path(db.MIGRATIONS) / "versions" / "0011_desk.py"
    spec = importlib.util.spec_from_file_location("m0011", path)
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


async def _tables(engine) -> tuple[set[str], set[str]]:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: (
                set(inspect(c).get_table_names()),
                {i["name"] for i in inspect(c).get_indexes("entry")},
            )
        )


async def test_migration_0011_adds_the_desk_tables_and_goes_back_keeping_rows(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m11"))
    try:
        before = _before_0011()
        await db.migrate(before, engine)
        async with engine.begin() as conn:
            for sql in ROWS_BEFORE:
                await conn.execute(text(sql))
        await db.migrate("0011", engine)
        tables, indexes = await _tables(engine)
        assert {"rubric_version", "commission_base", "import_batch"} <= tables
        assert "ix_entry_month_logger" in indexes
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO commission_base (team_id, from_period, cents, set_at, set_by,"
                    " set_by_name) VALUES (1, '2026-12', 800000, '2026-12-01 00:00:00',"
                    " 'qq:1', '老板')"
                )
            )
        await _downgrade(engine, before)
        tables, indexes = await _tables(engine)
        assert not {"rubric_version", "commission_base", "import_batch"} & tables
        assert "ix_entry_month_logger" not in indexes
        async with engine.connect() as conn:
            team = (await conn.execute(text("SELECT name, commission_base_cents FROM team"))).all()
            entries = (await conn.execute(text("SELECT id, item_key FROM entry"))).all()
        assert [tuple(r) for r in team] == [("一组", 500000)]
        assert [tuple(r) for r in entries] == [(1, "late")]
        await db.migrate("head", engine)
        assert {"rubric_version", "commission_base", "import_batch"} <= (await _tables(engine))[0]
    finally:
        await engine.dispose()
