"""Issue 20 finding 10 (SPEC §6: bad input never ends in 「出错了」): image fields that are not
text, lone surrogates and control characters in names and notes, links too long for an
index; and the daily pruning of login links, sessions and message claims (plain pytest on
the engine the suite runs on)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from nonebot.adapters.onebot.v11 import Message, MessageSegment
from nonebug import App
from sqlalchemy import select

from models.tables import AuditLog, Member
from tests.utils import bind, entries, group_event, plain, said, say

ZHANG = 30001


async def members() -> list[Member]:
    from bot import db

    async with db.reading() as s:
        return list((await s.execute(select(Member).order_by(Member.id))).scalars())


@pytest.mark.parametrize(
    "data",
    [
        {"file": "a.image", "url": ["http://example.com/a.png"]},
        {"file": "a.image", "url": {"href": "http://example.com/a.png"}},
        {"file": 12345, "url": 67890},
        {"file": ["x"], "url": None},
    ],
)
async def test_an_image_whose_url_or_file_is_not_text_is_no_evidence_not_an_error(
    app: App, data: dict
):
    await bind(app)
    message = Message([MessageSegment.text("/朋友圈 "), MessageSegment("image", data)])
    reply = await said(app, message, ZHANG, card="张三")
    assert reply.startswith("✅ #1 朋友圈"), reply
    [e] = await entries()
    assert (e.image_url, e.image_file) == (
        None,
        data["file"] if isinstance(data["file"], str) else None,
    )


async def test_a_lone_surrogate_in_a_group_card_is_replaced_and_the_report_counts(app: App):
    await bind(app)
    reply = await said(app, "/朋友圈", ZHANG, card="张\ud800三")
    assert reply.startswith("✅ #1 "), reply
    [m] = await members()
    assert m.name == "张\ufffd三"
    assert (await said(app, "/朋友圈 又一条", ZHANG, card="张\ud800三")).startswith("✅ #2 ")


async def test_control_characters_are_stripped_from_names_and_notes_keeping_line_breaks(
    app: App,
):
    await bind(app)
    reply = await said(app, "/朋友圈 早\x07安\ud83d 好", ZHANG, card="张\n三\x1b\x9b")
    assert reply.startswith("✅ #1 "), reply
    [m] = await members()
    assert m.name == "张三"
    [e] = await entries()
    assert e.note == "早安\ufffd 好"


async def test_a_lone_surrogate_in_an_image_url_or_file_is_no_error(app: App):
    await bind(app)
    message = Message(
        [
            MessageSegment.text("/朋友圈 "),
            MessageSegment("image", {"file": "a\ud800.image", "url": "http://x/\udc00"}),
        ]
    )
    reply = await said(app, message, ZHANG, card="张三")
    assert reply.startswith("✅ #1 "), reply
    [e] = await entries()
    assert e.image_file == "a\ufffd.image"


async def test_a_name_given_to_join_is_stored_clean(app: App):
    from tests.test_roster import member_info
    from tests.utils import GROUP, OWNER, at

    await bind(app)
    reply = await said(
        app,
        ["/入职 ", at(40001), " 王\x07五"],
        OWNER,
        role="owner",
        api=[member_info(GROUP, 40001, "群名片")],
    )
    assert reply.startswith("✅ 王五 已入职"), reply


@pytest.mark.parametrize("length", [2001, 4000, 9000])
async def test_a_link_longer_than_2000_characters_is_refused_on_every_engine(app: App, length: int):
    await bind(app)
    link = "https://example.com/" + "a" * (length - len("https://example.com/"))
    reply = await said(app, f"/软文 {link}", ZHANG, card="张三")
    assert reply.startswith("❌ 链接太长（最多 2000 个字符）"), reply
    assert plain(reply).endswith("用法：/软文 <链接> [平台或备注]"), reply
    assert await entries() == []


async def test_a_link_of_2000_characters_is_logged(app: App):
    await bind(app)
    link = "https://example.com/" + "a" * (2000 - len("https://example.com/"))
    reply = await said(app, f"/软文 {link}", ZHANG, card="张三")
    assert reply.startswith("✅ #1 "), reply


async def test_a_link_of_few_characters_but_many_bytes_is_refused(app: App):
    """1,000 Chinese characters are 3,000 bytes: past PostgreSQL's index row limit."""
    await bind(app)
    reply = await said(app, "/软文 https://example.com/" + "文" * 1000, ZHANG, card="张三")
    assert reply.startswith("❌ 链接太长"), reply


async def test_refusals_of_bad_input_write_no_audit_row(app: App):
    from bot import db

    await bind(app)
    await say(app, group_event("/软文 https://e.com/" + "a" * 5000, ZHANG))
    async with db.reading() as s:
        actions = [a.action for a in (await s.execute(select(AuditLog))).scalars()]
    assert actions == ["team.create", "bind"]


def test_clean_text_and_clean_name():
    from models.text import clean_name, clean_text

    assert clean_text("a\x00b\x07c\td\ne\r\x7f\x85\ud800") == "abc\td\ne\ufffd"
    assert clean_name("a\tb\nc\x00\udfff") == "abc\ufffd"


# ---- pruning ------------------------------------------------------------------------------------


async def test_prune_deletes_old_logins_and_claims_and_keeps_live_ones():
    from bot import db
    from models.housekeeping import prune
    from models.tables import ProcessedMessage, WebLogin

    now = datetime(2026, 11, 20, 12, 0)
    hour = timedelta(hours=1)

    def login(name: str, created: datetime, *, used=None, ended=None) -> WebLogin:
        return WebLogin(
            token_hash=name,
            platform="qq",
            adapter="OneBotV11",
            user_id="1",
            name=name,
            created_at=created,
            expires_at=created + timedelta(minutes=10),
            used_at=used,
            ended_at=ended,
        )

    rows = [
        login("fresh-link", now - hour),  # expired an hour ago: kept a day
        login("old-link", now - 30 * hour),  # expired more than a day ago
        login("live-session", now - 2 * hour, used=now - 2 * hour),
        login("ran-out", now - 40 * hour, used=now - 40 * hour),  # 12 h + more than a day
        login("ran-out-recently", now - 20 * hour, used=now - 20 * hour),
        login("logged-out", now - 30 * hour, used=now - 30 * hour, ended=now - 29 * hour),
        login("logged-out-today", now - 5 * hour, used=now - 5 * hour, ended=now - 4 * hour),
    ]
    claims = [
        ProcessedMessage(key="old", created_at=now - timedelta(days=31)),
        ProcessedMessage(key="recent", created_at=now - timedelta(days=29)),
    ]
    async with db.writing() as s:
        s.add_all(rows + claims)
    pruned = await db.write(None, lambda s: prune(s, now))
    assert (pruned.logins, pruned.messages) == (3, 1)
    async with db.reading() as s:
        left = sorted((await s.execute(select(WebLogin.name))).scalars())
        keys = list((await s.execute(select(ProcessedMessage.key))).scalars())
    assert left == ["fresh-link", "live-session", "logged-out-today", "ran-out-recently"]
    assert keys == ["recent"]
    again = await db.write(None, lambda s: prune(s, now))
    assert (again.logins, again.messages) == (0, 0)


async def test_the_pruning_job_is_scheduled_daily(app: App):
    from nonebot_plugin_apscheduler import scheduler

    import plugins.housekeeping

    await plugins.housekeeping._schedule()
    job = scheduler.get_job(plugins.housekeeping.JOB_ID)
    assert job is not None
    assert str(job.trigger).startswith("cron[")
    assert (await plugins.housekeeping.prune_job()).messages == 0
