"""Migration 0008: links stored before issue 23's normalisation get today's spelling, on
both engines; an article active twice under two old spellings keeps both rows (the older
takes the new spelling), and nothing is revoked."""

from __future__ import annotations

from sqlalchemy import text

from bot import db
from tools import testdb

ROWS_AT_0007 = [
    "INSERT INTO team (id, name, created_at) VALUES (1, '一组', '2026-11-01 00:00:00'),"
    " (2, '二组', '2026-11-01 00:00:00')",
    "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on) VALUES"
    " (1, 1, 'qq', '30001', '张三', 'agent', '2026-11-01'),"
    " (2, 2, 'qq', '30002', '李四', 'agent', '2026-11-01')",
]
LINKS = [  # (id, team, link as stored then, revoked)
    (1, 1, "http://mp.weixin.qq.com/s/abc", False),
    (2, 1, "https://mp.weixin.qq.com/s/./abc", False),  # the same article, counted twice
    (3, 1, "https://Zhuanlan.Zhihu.com//p/1", False),
    (4, 1, "http://mp.weixin.qq.com/s/old", True),
    (5, 2, "http://mp.weixin.qq.com/s/abc", False),  # another team: its own
    (6, 1, "https://mp.weixin.qq.com/s/kept", False),
]


async def test_migration_0008_gives_old_links_todays_spelling_keeping_every_row(tmp_path):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m8"))
    try:
        await db.migrate("0007", engine)
        async with engine.begin() as conn:
            for sql in ROWS_AT_0007:
                await conn.execute(text(sql))
            for id_, team, link, revoked in LINKS:
                await conn.execute(
                    text(
                        "INSERT INTO entry (id, team_id, member_id, period, item_key, quantity,"
                        " fine_cents, link, created_at, created_by, created_by_name,"
                        " revoked_at) VALUES (:id, :team, :team, '2026-11', 'article', 1, 0,"
                        " :link, '2026-11-02 00:00:00', 'qq:1', '张三', "
                        + ("'2026-11-03 00:00:00'" if revoked else "NULL")
                        + ")"
                    ),
                    {"id": id_, "team": team, "link": link},
                )
        await db.migrate("head", engine)
        async with engine.connect() as conn:
            rows = (
                await conn.execute(text("SELECT id, link, revoked_at FROM entry ORDER BY id"))
            ).all()
        assert [(r[0], r[1], r[2] is not None) for r in rows] == [
            (1, "https://mp.weixin.qq.com/s/abc", False),
            (2, "https://mp.weixin.qq.com/s/./abc", False),
            (3, "https://zhuanlan.zhihu.com/p/1", False),
            (4, "https://mp.weixin.qq.com/s/old", True),
            (5, "https://mp.weixin.qq.com/s/abc", False),
            (6, "https://mp.weixin.qq.com/s/kept", False),
        ]
    finally:
        await engine.dispose()
