"""The WeCom intelligent-robot adapter (`adapters.wecom`) against the protocol simulator
(`tools.wecom_sim`): a plain NoneBot matcher sees its events, the SDK does the protocol."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import nonebot
import pytest
from nonebot import on_message
from nonebot.exception import ActionFailed as BaseActionFailed
from nonebot.rule import Rule
from PIL import Image

from adapters.wecom import (
    ActionFailed,
    Adapter,
    Bot,
    BotInfo,
    Config,
    GroupMessageEvent,
    MessageEvent,
    MessageSegment,
    NetworkError,
    NoticeEvent,
    PrivateMessageEvent,
)
from adapters.wecom.adapter import strip_bot_mention
from adapters.wecom.bot import MARKDOWN_MAX_BYTES, split_utf8
from tools.wecom_sim import ERR_CHAT, ERR_INVALID_REQ_ID, ERR_MSGTYPE, WeComSim

BOT_ID = "aibot-kpi"
SECRET = "s3cret"
NAME = "KPI助手"
GROUP = "wrkSFfCgAAxxxx"
ROOT = Path(__file__).resolve().parent.parent


def png(color: str = "red", size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
async def sim():
    s = await WeComSim({BOT_ID: (SECRET, NAME)}).start()
    yield s
    await s.stop()


def make_adapter(sim: WeComSim, **overrides) -> Adapter:
    cfg = {
        "wecom_bots": [BotInfo(bot_id=BOT_ID, secret=SECRET, name=NAME)],
        "wecom_ws_url": sim.ws_url,
        "wecom_heartbeat_interval": 150,
        "wecom_reconnect_interval": 100,
        **overrides,
    }
    return Adapter(nonebot.get_driver(), config=Config(**cfg))


@pytest.fixture
async def adapter(sim):
    from bot.platforms.wecom import install_uniseg

    install_uniseg()  # as the bot's start-up does: the KPI dispatcher sees these events too
    a = make_adapter(sim)
    await a.startup()
    await sim.wait_connected(BOT_ID)
    await asyncio.sleep(0)  # the SDK's "authenticated" follows the subscribe ack
    yield a
    await a.shutdown()


@pytest.fixture
def bot(adapter) -> Bot:
    return adapter.all_bots[BOT_ID]


@pytest.fixture
def events():
    """Every WeCom message event handled by NoneBot during the test."""
    queue: asyncio.Queue[tuple[Bot, MessageEvent]] = asyncio.Queue()
    matcher = on_message(rule=Rule(lambda event: isinstance(event, MessageEvent)), block=False)

    @matcher.handle()
    async def _(bot: Bot, event: MessageEvent) -> None:
        queue.put_nowait((bot, event))

    yield queue
    matcher.destroy()


async def next_event(queue: asyncio.Queue) -> MessageEvent:
    _, event = await asyncio.wait_for(queue.get(), 5)
    return event


# ---- connection ------------------------------------------------------------------------------


async def test_connects_authenticates_and_keeps_a_heartbeat(sim, adapter):
    assert sim.auths == [(BOT_ID, True)]
    subscribe = sim.frames[0][1]
    assert subscribe["cmd"] == "aibot_subscribe"
    assert subscribe["body"] == {"bot_id": BOT_ID, "secret": SECRET}
    await sim.wait_until(lambda: BOT_ID in adapter.bots)
    assert isinstance(nonebot.get_bot(BOT_ID), Bot)
    await sim.wait_until(lambda: sim.pings[BOT_ID] >= 2, timeout=3)


async def test_a_wrong_secret_is_refused_and_the_bot_stays_offline(sim):
    a = Adapter(
        nonebot.get_driver(),
        config=Config(
            wecom_bots=[BotInfo(bot_id=BOT_ID, secret="wrong")],
            wecom_ws_url=sim.ws_url,
            wecom_reconnect_interval=100,
        ),
    )
    await a.startup()
    try:
        await sim.wait_until(lambda: len(sim.auths) >= 2, timeout=3)  # the SDK retries
        assert all(not ok for _, ok in sim.auths)
        assert BOT_ID not in a.bots
        assert not sim.connected(BOT_ID)
    finally:
        await a.shutdown()


@pytest.mark.parametrize("code", [1011, 1000])
async def test_reconnects_after_the_server_drops_and_delivers_again(sim, adapter, events, code):
    await sim.wait_until(lambda: BOT_ID in adapter.bots)
    await sim.drop(BOT_ID, code)
    await sim.wait_until(lambda: BOT_ID not in adapter.bots)
    await sim.wait_connected(BOT_ID, auths=2)
    await sim.wait_until(lambda: BOT_ID in adapter.bots)
    bot = adapter.bots[BOT_ID]
    assert bot is adapter.all_bots[BOT_ID]  # the same Bot, connected again
    await sim.send_message(BOT_ID, user="lisi", parts=["还在吗"])
    event = await next_event(events)
    assert event.get_plaintext() == "还在吗"


async def test_unanswered_heartbeats_close_the_connection_and_it_reconnects(sim, adapter):
    sim.answer_pings = False
    await sim.wait_until(lambda: not sim.connected(BOT_ID), timeout=3)
    sim.answer_pings = True
    await sim.wait_connected(BOT_ID, auths=2, timeout=3)


async def test_a_second_connection_of_the_robot_replaces_the_first_for_good(sim, adapter):
    await sim.wait_until(lambda: BOT_ID in adapter.bots)
    second = make_adapter(sim)
    await second.startup()
    try:
        await sim.wait_connected(BOT_ID, auths=2)
        await sim.wait_until(lambda: BOT_ID not in adapter.bots)  # told, and it let go
        await asyncio.sleep(0.5)  # several reconnect delays: the first does not come back
        assert sim.auth_count(BOT_ID) == 2
        assert sim.connected(BOT_ID)  # the second one (in one process NoneBot sees one bot)
    finally:
        await second.shutdown()


# ---- messages in -----------------------------------------------------------------------------


async def test_group_message_arrives_only_when_at_and_without_the_robots_at(sim, adapter, events):
    assert (
        await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["你好"], at_bot=False)
        is None
    )
    cb = await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/扣分 @李四 迟到"])
    assert cb is not None
    assert cb.body["text"]["content"] == f"@{NAME} /扣分 @李四 迟到"  # as the platform sends it
    event = await next_event(events)
    assert isinstance(event, GroupMessageEvent)
    assert event.get_plaintext() == "/扣分 @李四 迟到"  # other @names stay text
    assert event.to_me
    assert event.is_tome()
    assert (event.user_id, event.chat_id, event.group_id) == ("zhangsan", GROUP, GROUP)
    assert event.message_id == cb.msgid
    assert event.req_id == cb.req_id
    assert event.self_id == BOT_ID
    assert events.empty()  # the message without the @ never came


async def test_private_message_is_to_me_with_the_user_as_its_chat(sim, adapter, events):
    cb = await sim.send_message(BOT_ID, user="wangwu", parts=["/我的"])
    event = await next_event(events)
    assert isinstance(event, PrivateMessageEvent)
    assert event.get_plaintext() == "/我的"
    assert (event.user_id, event.chat_id, event.to_me) == ("wangwu", "wangwu", True)
    assert event.req_id == cb.req_id


async def test_a_picture_arrives_decrypted(sim, adapter, events):
    picture = png("blue")
    await sim.send_message(BOT_ID, user="wangwu", parts=[picture])
    event = await next_event(events)
    assert event.msgtype == "image"
    [seg] = event.message
    assert seg.type == "image"
    assert seg.data["raw"] == picture
    assert seg.data["name"] == "image.png"
    assert seg.data["error"] is None
    assert len(sim.downloads) == 1


async def test_text_with_a_picture_in_a_group_is_one_mixed_message(sim, adapter, events):
    picture = png("green", (64, 64))
    await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/朋友圈 今日更新", picture])
    event = await next_event(events)
    assert event.msgtype == "mixed"
    assert [s.type for s in event.message] == ["text", "image"]
    assert event.get_plaintext() == "/朋友圈 今日更新"
    assert event.message[1].data["raw"] == picture


async def test_a_picture_that_cannot_be_downloaded_leaves_the_text(sim, adapter, events):
    sim.picture = lambda data, filename="x": {
        "url": f"{sim.http_base}/media/gone",
        "aeskey": "AAAA",
    }
    await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/朋友圈", b"lost"])
    event = await next_event(events)
    assert event.get_plaintext() == "/朋友圈"
    image = event.message[1]
    assert image.data["raw"] is None
    assert image.data["error"]


# ---- messages out ----------------------------------------------------------------------------


async def test_a_reply_echoes_the_callbacks_req_id(sim, bot, events):
    cb = await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/排行"])
    event = await next_event(events)
    await bot.send(event, "✅ 已记录\n本月 3/8")
    sent = await sim.wait_sent(lambda s: s.cmd == "aibot_respond_msg")
    assert sent.ok
    assert sent.req_id == cb.req_id
    assert sent.chatid == GROUP
    assert sent.msgtype == "stream"
    assert sent.body["stream"]["finish"] is True
    assert sent.text == "✅ 已记录\n本月 3/8"


async def test_a_reply_with_a_picture_uploads_it_then_replies_with_its_media(sim, bot, events):
    cb = await sim.send_message(BOT_ID, user="wangwu", parts=["/月报"])
    event = await next_event(events)
    picture = png("yellow")
    await bot.send(event, MessageSegment.text("本月排行") + MessageSegment.image(picture))
    replies = [s for s in sim.sent if s.cmd == "aibot_respond_msg"]
    assert [s.msgtype for s in replies] == ["stream", "image"]
    assert all(s.ok and s.req_id == cb.req_id for s in replies)
    media = sim.media[replies[1].body["image"]["media_id"]]
    assert (media.type, media.data) == ("image", picture)


async def test_the_simulators_say_returns_the_first_answer_to_a_message(sim, bot, events):
    async def answer() -> None:
        event = await next_event(events)
        await bot.send(event, f"✅ {event.get_plaintext()}")

    task = asyncio.create_task(answer())
    assert await sim.say(BOT_ID, user="zhangsan", parts=["/排行"], chat=GROUP) == "✅ /排行"
    await task
    assert sim.texts_to(GROUP) == ["✅ /排行"]


async def test_a_late_reply_is_sent_proactively_to_the_chat(sim, bot, events):
    await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/排行"])
    event = await next_event(events)
    event.time = datetime.now(timezone.utc) - timedelta(minutes=10)
    await bot.send(event, "迟到的回答")
    assert [s.cmd for s in sim.sent] == ["aibot_send_msg"]
    sent = sim.sent[0]
    assert sent.ok
    assert sent.chatid == GROUP
    assert sent.msgtype == "markdown"
    assert sent.text == "迟到的回答"


async def test_a_reply_refused_on_its_req_id_is_sent_proactively(sim, bot, events):
    await sim.send_message(BOT_ID, user="wangwu", parts=["/我的"])
    event = await next_event(events)
    sim.reply_window = 0  # the platform no longer takes this req_id
    await bot.send(event, "你的本月得分 92")
    assert [(s.cmd, s.errcode) for s in sim.sent] == [
        ("aibot_respond_msg", ERR_INVALID_REQ_ID),
        ("aibot_send_msg", 0),
    ]
    assert sim.sent[1].chatid == "wangwu"
    assert sim.sent[1].text == "你的本月得分 92"


async def test_proactive_markdown_to_a_group_and_to_a_user(sim, bot):
    sim.groups[GROUP] = {BOT_ID}
    sim.users.add("zhangsan")
    await bot.send_markdown(GROUP, "**11 月月报**\n1. 张三 92.5")
    await bot.send_markdown("zhangsan", "后台登录链接：https://kpi.example/login")
    assert [(s.cmd, s.chatid, s.msgtype, s.ok) for s in sim.sent] == [
        ("aibot_send_msg", GROUP, "markdown", True),
        ("aibot_send_msg", "zhangsan", "markdown", True),
    ]
    assert sim.sent[0].text == "**11 月月报**\n1. 张三 92.5"


async def test_proactive_picture_is_uploaded_then_sent_as_media(sim, bot):
    sim.groups[GROUP] = {BOT_ID}
    picture = png("purple", (800, 600))
    await bot.send_image(GROUP, picture)
    [sent] = [s for s in sim.sent if s.cmd == "aibot_send_msg"]
    assert sent.ok
    assert sent.chatid == GROUP
    assert sent.msgtype == "image"
    assert sim.media[sent.body["image"]["media_id"]].data == picture
    assert [s.cmd for s in sim.sent[:3]] == [
        "aibot_upload_media_init",
        "aibot_upload_media_chunk",
        "aibot_upload_media_finish",
    ]


async def test_a_big_picture_is_uploaded_in_chunks(sim, bot):
    sim.groups[GROUP] = {BOT_ID}
    big = png("white", (16, 16)) + bytes(range(256)) * 5000  # ~1.2 MB: three chunks
    media_id = await bot.upload_image(big)
    assert sim.media[media_id].data == big
    assert sum(s.cmd == "aibot_upload_media_chunk" for s in sim.sent) == 3


async def test_long_markdown_is_sent_in_pieces_within_the_limit(sim, bot):
    sim.groups[GROUP] = {BOT_ID}
    lines = [f"{i}. 客服{i:03d} 得分 {i % 100}.5 分，提成 1234.56 元" for i in range(300)]
    await bot.send_markdown(GROUP, "\n".join(lines))
    pieces = [s for s in sim.sent if s.cmd == "aibot_send_msg"]
    assert len(pieces) > 1
    assert all(s.ok for s in pieces)
    assert all(len(s.text.encode()) <= MARKDOWN_MAX_BYTES for s in pieces)
    assert "\n".join(s.text for s in pieces) == "\n".join(lines)


async def test_a_refused_send_raises_action_failed(sim, bot):
    with pytest.raises(ActionFailed) as refused:
        await bot.send_markdown("wrkNotAMemberGroup", "月报")
    assert refused.value.errcode == ERR_CHAT
    sim.refusals[GROUP] = (45009, "api freq out of limit")
    with pytest.raises(BaseActionFailed) as limited:  # NoneBot's own class catches it too
        await bot.send_markdown(GROUP, "月报")
    assert (limited.value.errcode, limited.value.errmsg) == (45009, "api freq out of limit")
    sim.users.add("zhangsan")
    with pytest.raises(ActionFailed) as text:  # the platform sends no `text` proactively
        await bot.call_api(
            "send_message", chatid="zhangsan", body={"msgtype": "text", "text": {"content": "x"}}
        )
    assert text.value.errcode == ERR_MSGTYPE


async def test_a_send_without_a_connection_raises_network_error(sim, bot):
    await sim.stop()
    await sim.wait_until(lambda: not bot.client.is_connected, timeout=3)
    with pytest.raises(NetworkError):
        await bot.send_markdown(GROUP, "月报")


async def test_a_picture_file_is_sent_by_its_path(sim, bot, tmp_path):
    sim.users.add("zhangsan")
    picture = png("orange")
    path = tmp_path / "月报.png"
    path.write_bytes(picture)
    await bot.send_to("zhangsan", MessageSegment.image(path=path))
    [sent] = [s for s in sim.sent if s.cmd == "aibot_send_msg"]
    assert sent.msgtype == "image"
    assert sim.media[sent.body["image"]["media_id"]].data == picture


async def test_a_file_is_uploaded_as_file_media_and_sent_with_its_name(sim, bot):
    sim.groups[GROUP] = {BOT_ID}
    workbook = b"PK\x03\x04" + bytes(range(256)) * 40
    await bot.send_to(GROUP, MessageSegment.file(workbook, name="2026-11 绩效.xlsx"))
    [sent] = [s for s in sim.sent if s.cmd == "aibot_send_msg"]
    assert sent.ok
    assert sent.msgtype == "file"
    media = sim.media[sent.body["file"]["media_id"]]
    assert (media.type, media.filename, media.data) == ("file", "2026-11 绩效.xlsx", workbook)


async def test_an_event_callback_is_a_notice_event(sim, adapter):
    seen: asyncio.Queue[NoticeEvent] = asyncio.Queue()
    matcher = nonebot.on_notice(rule=Rule(lambda event: isinstance(event, NoticeEvent)))

    @matcher.handle()
    async def _(event: NoticeEvent) -> None:
        seen.put_nowait(event)

    try:
        req_id = await sim.send_event(BOT_ID, "enter_chat", user="zhangsan")
        event = await asyncio.wait_for(seen.get(), 5)
    finally:
        matcher.destroy()
    assert (event.event_type, event.user_id, event.req_id) == ("enter_chat", "zhangsan", req_id)
    assert event.get_event_name() == "notice.enter_chat"


APP = textwrap.dedent(
    """
    import nonebot
    from nonebot import on_message

    nonebot.init(driver="~none")
    from adapters.wecom import Adapter, MessageEvent

    nonebot.get_driver().register_adapter(Adapter)
    echo = on_message()

    @echo.handle()
    async def _(bot, event: MessageEvent):
        await bot.send(event, f"echo {event.user_id}: {event.get_plaintext()}")

    nonebot.run()
    """
)


async def test_a_plain_nonebot_app_configured_by_env_connects_and_answers(sim):
    env = {
        **os.environ,
        "WECOM_BOTS": json.dumps([{"bot_id": BOT_ID, "secret": SECRET, "name": NAME}]),
        "WECOM_WS_URL": sim.ws_url,
        "LOG_LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", APP, cwd=ROOT, env=env)
    try:
        await sim.wait_connected(BOT_ID, timeout=20)
        cb = await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/排行"])
        sent = await sim.wait_sent(lambda s: s.cmd == "aibot_respond_msg", timeout=10)
        assert sent.req_id == cb.req_id
        assert sent.text == "echo zhangsan: /排行"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)
    assert proc.returncode == 0


# ---- pure helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "expected"),
    [
        ("@KPI助手 /排行", "KPI助手", "/排行"),
        ("/扣分 @张三 迟到 @KPI助手", "KPI助手", "/扣分 @张三 迟到"),
        ("/扣分 @KPI助手\u2005@张三 迟到", "KPI助手", "/扣分 @张三 迟到"),
        ("@KPI助手小号 /排行", "KPI助手", "@KPI助手小号 /排行"),
        ("@机器人 /扣分 @张三", None, "/扣分 @张三"),
        ("/排行 @机器人", None, "/排行"),
    ],
)
def test_the_robots_at_is_stripped_and_other_ats_stay(text, name, expected):
    assert strip_bot_mention(text, name) == expected


def test_split_utf8_keeps_every_character_within_the_limit():
    text = "短行\n" + "长" * 3000 + "\n尾"
    pieces = split_utf8(text, 4096)
    assert all(len(p.encode()) <= 4096 for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")
    assert split_utf8("一行", 4096) == ["一行"]


# ---- the platform glue (bot/platforms/wecom.py) and uniseg (adapters/wecom/uniseg.py) -----


@pytest.fixture
def glue():
    from bot.platforms import of_adapter
    from bot.platforms.wecom import install_uniseg

    install_uniseg()
    return of_adapter("WeCom")


async def test_the_glue_describes_a_group_message_by_userid_with_no_name_or_role(
    sim, bot, events, glue
):
    await sim.send_message(BOT_ID, chat=GROUP, user="zhangsan", parts=["/排行"])
    facts = await glue.describe(bot, await next_event(events))
    assert (facts.platform, facts.adapter, facts.user_id, facts.group_id) == (
        "wecom",
        "WeCom",
        "zhangsan",
        GROUP,
    )
    assert (facts.sender_name, facts.sender_role, facts.to_me) == ("zhangsan", None, True)
    await sim.send_message(BOT_ID, user="lisi", parts=["/我的"])
    private = await glue.describe(bot, await next_event(events))
    assert (private.user_id, private.group_id) == ("lisi", None)
    assert not glue.caps.mentions
    assert not glue.caps.numeric_ids
    assert not glue.caps.names_in_events


async def test_users_of_a_named_corp_are_not_another_corps(sim, glue):
    a = make_adapter(sim, wecom_bots=[BotInfo(bot_id=BOT_ID, secret=SECRET, corp="acme")])
    try:
        await a.startup()
        assert glue.identity(a.all_bots[BOT_ID]) == "wecom.acme"
    finally:
        await a.shutdown()


async def test_uniseg_reads_a_picture_with_its_bytes(sim, bot, events, glue):
    from nonebot_plugin_alconna.uniseg import Image as UniImage
    from nonebot_plugin_alconna.uniseg import Text as UniText

    from bot.platforms import to_uniseg

    picture = png("navy")
    await sim.send_message(BOT_ID, chat=GROUP, user="lisi", parts=["/朋友圈 今日", picture])
    event = await next_event(events)
    text, image = to_uniseg(bot, event.message)
    assert isinstance(text, UniText)
    assert text.text == "/朋友圈 今日"
    assert isinstance(image, UniImage)
    assert image.raw_bytes == picture


async def test_uniseg_sends_text_names_pictures_and_files_through_the_robot(sim, bot, glue):
    from nonebot_plugin_alconna.uniseg import At, File, UniMessage
    from nonebot_plugin_alconna.uniseg import Image as UniImage

    sim.groups[GROUP] = {BOT_ID}
    picture, sheet = png("teal"), b"PK\x03\x04 workbook"
    message = UniMessage(["本月第一 ", At("user", "zhangsan", display="张三")])
    message += UniImage(raw=picture)
    message += File(raw=sheet, name="11月.xlsx")
    await glue.send_group(bot, GROUP, await message.export(bot, fallback=False))
    sent = [s for s in sim.sent if s.cmd == "aibot_send_msg"]
    assert [s.msgtype for s in sent] == ["markdown", "image", "file"]
    assert sent[0].text == "本月第一 @张三"
    assert sim.media[sent[1].body["image"]["media_id"]].data == picture
    media = sim.media[sent[2].body["file"]["media_id"]]
    assert (media.filename, media.data) == ("11月.xlsx", sheet)
