"""The official QQ simulator speaks the protocol as `nonebot-adapter-qq` does.

A plain NoneBot bot (no KPI code: one file, the QQ adapter, the drivers a QQ bot needs) is
started as a user starts one and pointed at `tools.qq_sim` with QQ_BOTS / QQ_API_BASE /
QQ_AUTH_BASE. It must get a token, open the gateway, identify with the group intent, take a
group @ message with its role, mentions and a picture, and answer with text and an uploaded
picture (msg_type 7); a send without msg_id is refused as the platform refuses it.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image

from tools.onebot_sim import BotProcess
from tools.qq_sim import GROUP_AND_C2C_INTENT, QQOfficialSim

PLAIN_BOT = r"""
import hashlib

import httpx
import nonebot
from nonebot import on_command
from nonebot.adapters.qq import Adapter, Bot, GroupAtMessageCreateEvent, MessageSegment
from nonebot.adapters.qq import Message
from nonebot.adapters.qq.exception import ActionFailed
from nonebot.params import CommandArg

nonebot.init(driver="~fastapi+~httpx+~websockets")
nonebot.get_driver().register_adapter(Adapter)

who = on_command("who")


@who.handle()
async def _(event: GroupAtMessageCreateEvent, arg: Message = CommandArg()):
    ats = [s.data.get("username") for s in arg if s.type == "mention_user"]
    text = arg.extract_plain_text().strip()
    await who.send(f"{event.author.member_role} {event.get_user_id()} {text} @{','.join(ats)}")


look = on_command("look")


@look.handle()
async def _(event: GroupAtMessageCreateEvent):
    urls = [s.data["url"] for s in event.get_message() if s.type == "image"]
    async with httpx.AsyncClient() as client:
        data = (await client.get(urls[0])).content
    await look.send(f"sha {hashlib.sha256(data).hexdigest()[:12]}")
    await look.send(MessageSegment.file_image(data))


quote = on_command("quote")


@quote.handle()
async def _(event: GroupAtMessageCreateEvent):
    r = event.reply
    who = (r.author.member_openid or ("bot" if r.author.bot else None)) if r and r.author else None
    await quote.send(f"quoted {who}: {r.content if r else ''}")


push = on_command("push")


@push.handle()
async def _(bot: Bot, event: GroupAtMessageCreateEvent):
    try:
        await bot.send_to_group(group_openid=event.group_openid, message="月度播报")
    except ActionFailed as e:
        await push.send(f"refused {e.code}")


nonebot.run()
"""


def png(color: str = "red") -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """A plain NoneBot process and a simulator; the suite's database is not used."""


async def plain_bot(folder: Path, sim: QQOfficialSim, **env_kw) -> BotProcess:
    (folder / "plain_bot.py").write_text(PLAIN_BOT, encoding="utf-8")
    proc = BotProcess(
        folder,
        argv=[sys.executable, str(folder / "plain_bot.py")],
        database_url="sqlite+aiosqlite:///unused.db",
        env={**sim.env(**env_kw), "COMMAND_START": '["/"]'},
    )
    await proc.start()
    return proc


@pytest.fixture(scope="module")
async def qq(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[QQOfficialSim]:
    async with QQOfficialSim() as sim:
        proc = await plain_bot(tmp_path_factory.mktemp("qq-plain"), sim)
        try:
            await sim.wait_ready()
            yield sim
        finally:
            await proc.stop()


async def test_adapter_gets_a_token_and_identifies_with_the_group_intent(qq: QQOfficialSim):
    assert qq.token_requests >= 1
    ident = qq.identifies[-1]
    assert ident["intents"] & GROUP_AND_C2C_INTENT, ident
    assert ident["token"].startswith("QQBot "), ident
    assert tuple(ident["shard"]) == (0, 1)


async def test_group_message_reaches_the_bot_with_role_mentions_and_openids(qq: QQOfficialSim):
    g = qq.add_group("售后群")
    boss = qq.add_member(g, "王主管", role="admin")
    agent = qq.add_member(g, "张三")
    replies = await qq.say(g, boss, "/who 看看 ", agent)
    assert replies == [f"admin {boss.member_openid} 看看 @张三"], replies
    sent = qq.sent[-1]
    assert (sent.scope, sent.target) == ("group", g.group_openid)
    assert (sent.body["msg_type"], sent.body["msg_seq"]) == (0, 1), sent.body


async def test_picture_in_and_picture_out_as_an_upload_then_msg_type_7(qq: QQOfficialSim):
    g = qq.add_group()
    agent = qq.add_member(g, "李四")
    data = png("blue")
    replies = await qq.say(g, agent, "/look ", qq.picture(data), expect=2)
    assert replies == [f"sha {hashlib.sha256(data).hexdigest()[:12]}", "[图片]"], replies
    media = [s for s in qq.sent if s.reply_to and s.body.get("msg_type") == 7][-1]
    assert media.images == [data]
    assert media.body["media"]["file_info"] in qq.files
    assert media.body["msg_seq"] == 2  # the second reply to the same message


async def test_a_quote_of_the_bots_message_or_a_persons_arrives_as_the_adapter_reads_it(
    qq: QQOfficialSim,
):
    g = qq.add_group()
    boss, agent = qq.add_member(g, "主管"), qq.add_member(g, "客服")
    await qq.say(g, boss, "/who 早")
    bots = qq.sent[-1]
    assert bots.ref_idx, bots
    assert await qq.say(g, boss, "/quote", qq.quote(bots)) == [
        f"quoted bot: {bots.body['content']}"
    ]
    await qq.post(g, agent, "亲，稍等")
    said = qq.last_ref
    assert said is not None
    assert await qq.say(g, boss, "/quote", qq.quote(said)) == [
        f"quoted {agent.member_openid}:  亲，稍等"
    ]


async def test_a_send_without_msg_id_is_proactive_and_refused(qq: QQOfficialSim):
    g = qq.add_group()
    agent = qq.add_member(g, "王五")
    replies = await qq.say(g, agent, "/push")
    assert replies == ["refused 40034102"], replies
    (refused,) = qq.proactive(g.group_openid)
    assert refused.status == 400
    assert refused.error["message"] == "主动消息失败, 无权限"


async def test_a_reply_after_the_window_or_a_sixth_reply_is_refused(qq: QQOfficialSim):
    g = qq.add_group()
    agent = qq.add_member(g, "赵六")
    qq.group_reply_window = 0.0
    try:
        assert await qq.say(g, agent, "/who 迟到", expect=0, linger=1.0) == []
    finally:
        qq.group_reply_window = 300.0
    late = [s for s in qq.sent if s.target == g.group_openid][-1]
    assert (late.status, late.error["code"]) == (400, 40034025), late


async def test_without_the_group_intent_no_group_message_is_delivered(tmp_path: Path):
    async with QQOfficialSim() as sim:
        proc = await plain_bot(tmp_path, sim, intents={"c2c_group_at_messages": False})
        try:
            await sim.wait_ready()
            assert not sim.identifies[-1]["intents"] & GROUP_AND_C2C_INTENT
            g = sim.add_group()
            with pytest.raises(RuntimeError, match="takes no group messages"):
                await sim.post(g, sim.add_member(g, "张三"), "/who")
        finally:
            await proc.stop()
