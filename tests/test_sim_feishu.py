"""The Feishu simulator speaks the protocol as `nonebot-adapter-feishu` does.

A plain NoneBot bot (one file, the Feishu adapter, the drivers it needs) is started as a user
starts one with FEISHU_BOTS / FEISHU_API_BASE pointing at `tools.feishu_sim`, over the long
connection (protobuf frames, split events, acks) and over the webhook (challenge, encrypted
events). It must take a group message that @s it, read a picture from a `post` through the
message-resource API, upload one with `im/v1/images` and send it by `image_key`.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from tools.feishu_sim import FeishuSim, Frame
from tools.onebot_sim import BotProcess

PLAIN_BOT = r"""
import hashlib
import json

import nonebot
from nonebot import on_command, on_message
from nonebot.adapters.feishu import Adapter, Bot, GroupMessageEvent, Message, MessageSegment
from nonebot.params import CommandArg

nonebot.init(driver="~fastapi+~httpx+~websockets")
nonebot.get_driver().register_adapter(Adapter)

who = on_command("who", block=True)


@who.handle()
async def _(bot: Bot, event: GroupMessageEvent, arg: Message = CommandArg()):
    others = [
        m.name for m in event.event.message.mentions or [] if m.id.open_id != bot.bot_info.open_id
    ]
    info = await bot.call_api(f"contact/v3/users/{event.get_user_id()}", method="GET")
    chat = await bot.call_api(f"im/v1/chats/{event.event.message.chat_id}", method="GET")
    owner = chat["data"]["owner_id"] == event.get_user_id()
    text = arg.extract_plain_text().strip()
    await who.send(f"{info['data']['user']['name']} owner={owner} {text} @{','.join(others)}")


book = on_command("book", block=True)


@book.handle()
async def _(bot: Bot, event: GroupMessageEvent):
    up = await bot.post_file("xls", "月报.xlsx", b"PK-workbook")
    await book.send(MessageSegment.file(up["data"]["file_key"], "月报.xlsx"))


pictures = on_message(priority=20, block=True)


@pictures.handle()
async def _(bot: Bot, event: GroupMessageEvent):
    keys = []
    for seg in event.get_message():
        if seg.type == "image":
            keys.append(seg.data["image_key"])
        elif seg.type == "post":
            keys += [n["image_key"] for line in seg.data["content"] for n in line if n["tag"] == "img"]
    if not keys:
        await pictures.finish(f"plain {event.get_plaintext()!r}")
    data = await bot.get_msg_resource(event.message_id, keys[0], "image")
    await pictures.send(f"sha {hashlib.sha256(data).hexdigest()[:12]}")
    up = await bot.call_api(
        "im/v1/images",
        method="POST",
        data={"image_type": "message"},
        files={"image": ("back.png", data, "image/png")},
    )
    await pictures.send(MessageSegment.image(up["data"]["image_key"]))


nonebot.run()
"""


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """A plain NoneBot process and a simulator; the suite's database is not used."""


def plain_bot(folder: Path, sim: FeishuSim) -> BotProcess:
    (folder / "plain_bot.py").write_text(PLAIN_BOT, encoding="utf-8")
    return BotProcess(
        folder,
        argv=[sys.executable, str(folder / "plain_bot.py")],
        database_url="sqlite+aiosqlite:///unused.db",
        env={**sim.env(), "COMMAND_START": '["/"]'},
    )


@pytest.fixture(scope="module")
async def fs(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FeishuSim]:
    async with FeishuSim(protocol="ws", split=3, ping_interval=1) as sim:
        proc = plain_bot(tmp_path_factory.mktemp("feishu-plain"), sim)
        await proc.start()
        try:
            await sim.wait_connected()
            yield sim
        finally:
            await proc.stop()


def test_frames_round_trip_as_the_platform_encodes_them():
    from nonebot.adapters.feishu.ws import frame_pb2

    f = Frame(7, 9, 1001, 1, [("type", "event"), ("sum", "1")], b'{"a": 1}')
    theirs = frame_pb2.Frame()
    theirs.ParseFromString(f.encode())
    assert (theirs.seq_id, theirs.log_id, theirs.service, theirs.method) == (7, 9, 1001, 1)
    assert [(h.key, h.value) for h in theirs.headers] == f.headers
    assert Frame.decode(theirs.SerializeToString()) == f


async def test_a_group_message_at_the_bot_arrives_over_the_long_connection(fs: FeishuSim):
    boss = fs.add_user("王主管")
    chat = fs.add_chat("售后群", owner=boss)
    agent = fs.add_user("张三")
    replies = await fs.say(chat, boss, "/who 看看 ", agent)
    assert replies == ["王主管 owner=True 看看 @张三"], replies
    assert fs.acks, "the adapter acks each event"
    assert fs.acks[-1]["payload"] == {"code": 200}
    sent = fs.sent[-1]
    assert (sent.receive_id_type, sent.chat_id, sent.msg_type) == ("chat_id", chat.chat_id, "text")


async def test_a_group_message_without_the_bots_at_is_not_delivered(fs: FeishuSim):
    chat = fs.add_chat()
    assert await fs.post(chat, fs.add_user("李四"), "/who", at_bot=False) is None


async def test_text_with_a_picture_is_one_post_read_and_answered_with_an_upload(fs: FeishuSim):
    chat = fs.add_chat()
    data = png("green")
    replies = await fs.say(chat, fs.add_user("李四"), "/朋友圈 ", fs.picture(data), expect=2)
    assert replies == [f"sha {hashlib.sha256(data).hexdigest()[:12]}", "[图片]"], replies
    assert fs.sent[-1].images == [data]
    assert ("POST", "/open-apis/im/v1/images") in fs.api_calls


async def test_a_file_is_uploaded_then_sent_by_file_key(fs: FeishuSim):
    chat = fs.add_chat()
    assert await fs.say(chat, fs.add_user("钱七"), "/book") == ["[文件] 月报.xlsx"]
    key = fs.sent[-1].content["file_key"]
    assert fs.files[key] == ("月报.xlsx", b"PK-workbook")


async def test_the_adapter_pings_and_gets_pong(fs: FeishuSim):
    import asyncio

    before = fs.pings
    await asyncio.sleep(1.5)
    assert fs.pings > before


async def test_webhook_with_encryption_answers_the_challenge_and_takes_events(tmp_path: Path):
    async with FeishuSim(protocol="http", encrypt_key="k3y-for-events") as sim:
        proc = plain_bot(tmp_path, sim)
        await proc.start()
        try:
            sim.use_webhook(f"http://{proc.host}:{proc.port}")
            await sim.wait_connected()
            boss = sim.add_user("老板")
            chat = sim.add_chat(owner=boss)
            assert await sim.say(chat, boss, "/who hi") == ["老板 owner=True hi @"]
            event, _ = sim.message_event(chat, boss, "/who x")
            event["header"]["token"] = "wrong"
            with pytest.raises(RuntimeError, match="403"):
                await sim.deliver(event)
        finally:
            await proc.stop()


def test_env_names_the_app_and_the_api_base():
    sim = FeishuSim(protocol="http", encrypt_key="k")
    env = sim.env()
    (bot,) = json.loads(env["FEISHU_BOTS"])
    assert bot == {
        "app_id": sim.app_id,
        "app_secret": sim.app_secret,
        "verification_token": sim.verification_token,
        "protocol": "http",
        "encrypt_key": "k",
    }
    assert env["FEISHU_API_BASE"] == sim.api_base


async def test_a_command_with_a_picture_is_a_post_the_command_matcher_does_not_read(fs: FeishuSim):
    """What the platform does and NoneBot's `on_command` misses: the text of a post starts
    with the bot's @ key, so `/who` with a picture falls through to the message handler."""
    chat = fs.add_chat()
    data = png("white")
    replies = await fs.say(chat, fs.add_user("王五"), "/who 看看", fs.picture(data), expect=2)
    assert replies[0] == f"sha {hashlib.sha256(data).hexdigest()[:12]}", replies
    event, msg = fs.message_event(chat, fs.add_user("赵六"), "/who ", fs.picture(data))
    content = json.loads(event["event"]["message"]["content"])
    assert event["event"]["message"]["message_type"] == "post"
    assert content["content"][0][0] == {
        "tag": "at",
        "user_id": "@_user_1",
        "user_name": fs.bot.name,
        "style": [],
    }
    assert content["content"][1] == [
        {"tag": "img", "image_key": next(iter(msg.images)), "width": 64, "height": 64}
    ]
