"""Issue 20 (2): identity is (platform, account, user). A OneBot v12 event's platform lives in
its own namespace (`v12.<declared>`), so a v12 client declaring `qq` is never the QQ user of
that id; SUPERUSERS entries name their platform, and a bare id holds only on the platform it
is first seen on. Migration 0006 moves stored v12 platforms into the namespace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from nonebot.adapters.onebot import v12
from nonebot.adapters.onebot.v12.event import BotSelf
from nonebug import App
from sqlalchemy import select, text

from bot import db, identity
from tests.utils import BOT_ID, GROUP, SUPER, Capture, group_event, next_id, say
from tools import testdb

V12_GROUP = "wx-880001"


def v12_event(content: str, user_id: str, platform: str, group_id: str = V12_GROUP):
    msg = v12.Message(content)
    return v12.GroupMessageEvent(
        id=str(next_id()),
        time=datetime.now(UTC),
        type="message",
        detail_type="group",
        sub_type="",
        self=BotSelf(platform=platform, user_id=BOT_ID),
        message_id=str(next_id()),
        message=msg,
        original_message=msg,
        alt_message=content,
        user_id=user_id,
        group_id=group_id,
    )


async def say_v12(app: App, event, platform: str) -> str:
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=v12.Adapter)
        bot = ctx.create_bot(
            base=v12.Bot, adapter=adapter, self_id=BOT_ID, platform=platform, impl="test"
        )
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, Capture(out), result={"message_id": str(next_id())})
    return out[0]


@pytest.fixture
def superusers(monkeypatch):
    """Set SUPERUSERS for one test."""
    import nonebot

    def use(*entries: str) -> None:
        monkeypatch.setattr(nonebot.get_driver().config, "superusers", set(entries))

    return use


async def test_a_v12_client_declaring_qq_is_not_the_qq_user_of_that_id(app: App):
    """SUPERUSERS has the bare QQ id 10000, first seen on QQ. A OneBot v12 connection that
    declares platform `qq` and sends user_id 10000 is someone else (`v12.qq`)."""
    reply = (await say(app, group_event("/绑定 真团队", SUPER)))[0]
    assert reply.startswith("✅ 本群已绑定团队「真团队」"), reply
    forged = await say_v12(app, v12_event("/绑定 真团队", str(SUPER), "qq"), "qq")
    assert forged.startswith("❌"), forged
    async with db.reading() as s:
        from models.tables import GroupBinding

        bound = (await s.execute(select(GroupBinding.platform, GroupBinding.group_id))).all()
    assert bound == [("qq", str(GROUP))]


async def test_a_bare_superuser_id_holds_only_on_the_platform_it_is_first_seen_on(app: App):
    first = await say_v12(app, v12_event("/绑定 微信组", str(SUPER), "wechat"), "wechat")
    assert first.startswith("✅ 本群已绑定团队「微信组」"), first
    on_qq = (await say(app, group_event("/绑定 QQ组", SUPER)))[0]
    assert on_qq.startswith("❌"), on_qq
    assert await testdb.rows(
        db.engine().url.render_as_string(hide_password=False),
        "SELECT value FROM web_secret WHERE name = 'superuser:10000'",
    ) == [("v12.wechat",)]


async def test_named_superuser_entries_hold_on_their_platform_only(superusers):
    superusers("qq:10000", "v12.wechat:wxid_boss", "OneBotV11:10001")
    assert identity.is_superuser("qq", "10000")
    assert not identity.is_superuser("v12.qq", "10000")
    assert not identity.is_superuser("v12.wechat", "10000")
    assert identity.is_superuser("v12.wechat", "wxid_boss")
    assert not identity.is_superuser("v12.qq", "wxid_boss")
    assert not identity.is_superuser("qq", "wxid_boss")
    assert identity.is_superuser("qq", "10001")  # the older adapter-prefixed form
    await identity.note_sighting("v12.qq", "10000")  # named ids are never claimed
    assert not identity.is_superuser("v12.qq", "10000")


async def test_two_platforms_seeing_one_bare_id_at_once_agree_on_one():
    """Two processes see the bare id at the same moment on two platforms: one claim wins,
    both read the same."""
    from models.identity import claim_platform

    async def claim(platform: str) -> str:
        async with db.writing() as s:
            return await claim_platform(s, "777", platform)

    got = await asyncio.gather(*(claim(p) for p in ["qq", "v12.wechat"] * 4))
    assert len(set(got)) == 1, got


async def test_held_post_news_go_to_the_superusers_of_the_posts_platform(superusers):
    superusers("qq:10000", "v12.wechat:wxid_boss", "20000", "30000")
    await identity.note_sighting("v12.wechat", "30000")
    assert identity.superuser_ids("qq") == ["10000", "20000"]
    assert identity.superuser_ids("v12.wechat") == ["20000", "30000", "wxid_boss"]


def test_a_v12_platform_gets_its_own_namespace():
    assert identity.v12_platform("qq") == "v12.qq"
    assert identity.v12_platform("wechat") == "v12.wechat"
    assert identity.v12_platform("we:chat") == "v12.we_chat"  # a colon would split actors
    assert identity.v12_platform("") == "v12.unknown"


# ---- migration 0006 ----------------------------------------------------------------------------

ROWS_AT_0005 = [
    "INSERT INTO team (id, name, created_at) VALUES (1, '一组', '2026-11-01 00:00:00')",
    "INSERT INTO groupbinding (platform, group_id, team_id, adapter, self_id, bound_at, bound_by)"
    " VALUES ('qq', '20001', 1, 'OneBot V11', '99999', '2026-11-01 00:00:00', 'qq:10001'),"
    " ('wechat', 'wx1', 1, 'OneBot V12', 'wxid_bot', '2026-11-01 00:00:00', 'wechat:wxid_b')",
    "INSERT INTO member (id, team_id, platform, user_id, name, role, joined_on) VALUES"
    " (1, 1, 'qq', '30001', '张三', 'agent', '2026-11-01'),"
    " (2, 1, 'wechat', '30001', '微信张三', 'agent', '2026-11-01')",
    "INSERT INTO entry (team_id, member_id, period, item_key, quantity, fine_cents, created_at,"
    " created_by, created_by_name, source, revoked_at, revoked_by) VALUES"
    " (1, 1, '2026-11', 'friends', 5, 0, '2026-11-02 00:00:00', 'qq:30001', '张三',"
    " 'qq:99999:20001:7', NULL, NULL),"
    " (1, 2, '2026-11', 'friends', 5, 0, '2026-11-02 00:00:00', 'wechat:30001', '微信张三',"
    " 'wechat:wxid_bot:wx1:7', '2026-11-03 00:00:00', 'wechat:wxid_b')",
    "INSERT INTO processedmessage (key, created_at) VALUES ('qq:99999:20001:7',"
    " '2026-11-02 00:00:00'), ('wechat:wxid_bot:wx1:7', '2026-11-02 00:00:00')",
    "INSERT INTO settlement (team_id, period, status, revision, rubric_version, rubric_text,"
    " appeals_accepted,"
    " settled_at, settled_by) VALUES (1, '2026-10', 'settled', 1, 'v', 't', 0,"
    " '2026-11-01 02:00:00', 'system'), (1, '2026-09', 'settled', 1, 'v', 't', 0,"
    " '2026-10-01 02:00:00', 'wechat:wxid_b')",
    "INSERT INTO post (team_id, period, revision, platform, group_id, status, attempts)"
    " VALUES (1, '2026-10', 1, 'qq', '20001', 'sent', 0),"
    " (1, '2026-10', 1, 'wechat', 'wx1', 'sent', 0)",
    "INSERT INTO appeal (entry_id, team_id, member_id, reason, status, created_at, closed_by)"
    " VALUES (2, 1, 2, '理由', 'rejected', '2026-11-02 00:00:00', 'wechat:wxid_b'),"
    " (1, 1, 1, '理由', 'expired', '2026-11-02 00:00:00', 'system')",
    "INSERT INTO auditlog (team_id, at, actor, action, target) VALUES"
    " (1, '2026-11-01 00:00:00', 'wechat:wxid_b', 'bind', 'wechat:wx1'),"
    " (1, '2026-11-01 00:00:00', 'wechat:wxid_b', 'join', 'wechat:30001'),"
    " (1, '2026-11-01 00:00:00', 'qq:10001', 'team.create', 'a:b'),"
    " (1, '2026-11-01 00:00:00', 'system', 'settle', '2026-10')",
    "INSERT INTO web_login (token_hash, platform, adapter, user_id, name, created_at,"
    " expires_at) VALUES ('h1', 'qq', 'OneBotV11', '30001', '张三', '2026-11-01 00:00:00',"
    " '2026-11-01 00:10:00'), ('h2', 'wechat', 'OneBotV12', '30001', '微信张三',"
    " '2026-11-01 00:00:00', '2026-11-01 00:10:00')",
]

AFTER_0006 = {
    "SELECT platform, bound_by FROM groupbinding ORDER BY id": [
        ("qq", "qq:10001"),
        ("v12.wechat", "v12.wechat:wxid_b"),
    ],
    "SELECT platform, name FROM member ORDER BY id": [("qq", "张三"), ("v12.wechat", "微信张三")],
    "SELECT created_by, source, revoked_by FROM entry ORDER BY id": [
        ("qq:30001", "qq:99999:20001:7", None),
        ("v12.wechat:30001", "v12.wechat:wxid_bot:wx1:7", "v12.wechat:wxid_b"),
    ],
    "SELECT key FROM processedmessage ORDER BY key": [
        ("qq:99999:20001:7",),
        ("v12.wechat:wxid_bot:wx1:7",),
    ],
    "SELECT settled_by FROM settlement ORDER BY id": [("system",), ("v12.wechat:wxid_b",)],
    "SELECT platform FROM post ORDER BY id": [("qq",), ("v12.wechat",)],
    "SELECT closed_by FROM appeal ORDER BY id": [("v12.wechat:wxid_b",), ("system",)],
    "SELECT actor, target FROM auditlog ORDER BY id": [
        ("v12.wechat:wxid_b", "v12.wechat:wx1"),
        ("v12.wechat:wxid_b", "v12.wechat:30001"),
        ("qq:10001", "a:b"),
        ("system", "2026-10"),
    ],
    "SELECT platform, adapter FROM web_login ORDER BY id": [
        ("qq", "OneBotV11"),
        ("v12.wechat", "OneBotV12"),
    ],
}


async def _snapshot(engine) -> dict[str, list[tuple]]:
    async with engine.connect() as conn:
        return {q: [tuple(r) for r in (await conn.execute(text(q))).all()] for q in AFTER_0006}


async def test_migration_0006_moves_stored_v12_platforms_into_their_namespace_keeping_rows(
    tmp_path,
):
    engine = db.make_engine(await testdb.create_database(tmp_path, "m6"))
    try:
        await db.migrate("0005", engine)
        async with engine.begin() as conn:
            for sql in ROWS_AT_0005:
                await conn.execute(text(sql))
        before = await _snapshot(engine)
        await db.migrate("head", engine)
        after = await _snapshot(engine)
        assert after == AFTER_0006
        assert [len(v) for v in after.values()] == [len(v) for v in before.values()]

        def down(sync_conn) -> None:
            from alembic import command

            cfg = db.alembic_config(engine.url.render_as_string(hide_password=False))
            cfg.attributes["connection"] = sync_conn
            command.downgrade(cfg, "0005")

        async with engine.begin() as conn:
            await conn.run_sync(down)
        assert await _snapshot(engine) == before
    finally:
        await engine.dispose()


def test_superusers_of_every_platform_are_known():
    """`qqbot.<AppID>:`, `feishu.<app>:`, `wecom:` and `wecom.<corp>:` entries name platforms
    the bot has (no "unknown platform" warning); a made-up one does not."""
    entries = frozenset(
        {"qq:1", "qqbot.102:o1", "feishu.cli_a:ou_1", "wecom:zhang", "wecom.acme:li", "foo:1"}
    )
    found = identity.parse_superusers(entries)
    assert found.unknown == ("foo:1",)
    assert ("wecom", "zhang") in found.named
