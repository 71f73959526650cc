"""Migration 0009: the audit log gains `channel`; rows written before it came from the chat
and read '群聊'; going down drops the column and keeps every row (both engines)."""

from __future__ import annotations

from sqlalchemy import text

from bot import db
from tools import testdb

ROWS_AT_0008 = [
    "INSERT INTO team (id, name, created_at) VALUES (1, '一组', '2026-11-01 00:00:00')",
    "INSERT INTO auditlog (id, team_id, at, actor, action, target) VALUES"
    " (1, 1, '2026-11-02 00:00:00', 'qq:1', 'join', 'qq:2'),"
    " (2, 1, '2026-11-03 00:00:00', 'qq:1', 'leave', 'qq:2')",
]


async def test_migration_0009_gives_old_audit_rows_the_chat_channel_and_goes_down(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m9"))
    try:
        await db.migrate("0008", engine)
        async with engine.begin() as conn:
            for sql in ROWS_AT_0008:
                await conn.execute(text(sql))
        await db.migrate("0009", engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, channel FROM auditlog ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "群聊"), (2, "群聊")]

        def down(sync_conn) -> None:
            from alembic import command

            cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, "0008")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, action FROM auditlog ORDER BY id"))).all()
            columns = (await conn.execute(text("SELECT * FROM auditlog LIMIT 1"))).keys()
        assert [tuple(r) for r in rows] == [(1, "join"), (2, "leave")]
        assert "channel" not in columns
    finally:
        await engine.dispose()
