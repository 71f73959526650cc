"""Migration 0010 (issue 25): the evidence-check tables come and go without touching any
entry; their own rows survive an upgrade, on both engines."""

from __future__ import annotations

from alembic import command
from sqlalchemy import inspect, text

from bot import db
from tools import testdb

SETUP = [
    "INSERT INTO team (id, name, created_at) VALUES (1, '一组', '2026-11-01 00:00:00')",
    "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on) VALUES"
    " (1, 1, 'qq', '30001', '张三', 'agent', '2026-11-01')",
    "INSERT INTO entry (id, team_id, member_id, period, item_key, quantity, fine_cents, link,"
    " created_at, created_by, created_by_name) VALUES (1, 1, 1, '2026-11', 'article', 1, 0,"
    " 'https://mp.weixin.qq.com/s/abc', '2026-11-02 00:00:00', 'qq:30001', '张三')",
]
CHECKS = [
    "INSERT INTO link_check (entry_id, team_id, period, kind, url, status, verdict, reason,"
    " checked_at) VALUES (1, 1, '2026-11', 'recheck', 'http://mp.weixin.qq.com/s/abc', 404,"
    " 'removed', 'HTTP 404', '2026-11-28 06:00:00')",
    "INSERT INTO evidence_flag (entry_id, team_id, period, kind, detail, created_at) VALUES"
    " (1, 1, '2026-11', 'removed', 'HTTP 404', '2026-11-28 06:00:00')",
    "INSERT INTO evidence_print (entry_id, team_id, kind, value, created_at) VALUES"
    " (1, 1, 'article', '0123456789abcdef', '2026-11-02 00:00:00')",
]
TABLES = {"link_check", "evidence_flag", "evidence_print"}


async def _downgrade(engine, target: str) -> None:
    def run(sync_conn) -> None:
        cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
        cfg.attributes["connection"] = sync_conn
        command.downgrade(cfg, target)

    async with engine.begin() as conn:
        await conn.run_sync(run)


async def _tables(engine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_migration_0010_up_and_down_keeps_every_row(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m10"))
    try:
        await db.migrate("0008", engine)
        async with engine.begin() as conn:
            for sql in SETUP:
                await conn.execute(text(sql))
        await db.migrate("0010", engine)
        assert TABLES <= await _tables(engine)
        async with engine.begin() as conn:
            for sql in CHECKS:
                await conn.execute(text(sql))
        await db.migrate("head", engine)  # nothing further: its rows stay
        async with engine.connect() as conn:
            got = (await conn.execute(text("SELECT verdict, reason FROM link_check"))).all()
            flags = (await conn.execute(text("SELECT kind, decision FROM evidence_flag"))).all()
        assert [tuple(r) for r in got] == [("removed", "HTTP 404")]
        assert [tuple(r) for r in flags] == [("removed", None)]

        await _downgrade(engine, "0008")
        assert not TABLES & await _tables(engine)
        async with engine.connect() as conn:
            entries = (await conn.execute(text("SELECT id, link, revoked_at FROM entry"))).all()
        assert [tuple(r) for r in entries] == [(1, "https://mp.weixin.qq.com/s/abc", None)]

        await db.migrate("head", engine)
        assert TABLES <= await _tables(engine)
    finally:
        await engine.dispose()
