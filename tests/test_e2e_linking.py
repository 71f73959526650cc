"""End to end, the same person on two platforms (SPEC §2 "Linked accounts"): one bot
process serving a QQ group over OneBot v11 (`tools.onebot_sim`) and a WeCom group
(`tools.wecom_sim`) bound to the same team. 张三 reports on QQ, asks for a code on WeCom
(it comes privately), a superuser links it on QQ, 张三 reports on WeCom; the supervisor,
linked the same way, deducts 张三 on WeCom by the name after @ (WeCom sends no mention
list); `/我的绩效` from either account shows the one month of both."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from tests.utils import one
from tools.onebot_sim import BotProcess, OneBotV11Sim, at
from tools.wecom_sim import WeComSim

TOKEN = "link-secret"
BOT_ID, SECRET, NAME = "aibot-link", "s3cret", "KPI助手"
SUPER, ZHANG, BOSS = 10000, 30001, 30009
W_SUPER, W_ZHANG, W_BOSS = "chaoguan", "zhangsan", "wangzhuguan"
QQ_GROUP, W_GROUP = 80001, "wrkGroupMove01"


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def wecom() -> AsyncIterator[WeComSim]:
    async with WeComSim({BOT_ID: (SECRET, NAME)}) as sim:
        yield sim


@pytest.fixture(scope="module")
async def bot(
    wecom: WeComSim, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("link-bot"),
        token=TOKEN,
        superusers=(f"qq:{SUPER}", f"wecom:{W_SUPER}"),
        env={
            "WECOM_BOTS": json.dumps([{"bot_id": BOT_ID, "secret": SECRET, "name": NAME}]),
            "WECOM_WS_URL": wecom.ws_url,
        },
    )
    await proc.start()
    await wecom.wait_connected(BOT_ID, timeout=30)
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def qq(bot: BotProcess) -> AsyncIterator[OneBotV11Sim]:
    sim = OneBotV11Sim(bot.ws_url("v11"), token=TOKEN)
    sim.add_member(QQ_GROUP, SUPER, nickname="超管")
    sim.add_member(QQ_GROUP, ZHANG, card="张三")
    sim.add_member(QQ_GROUP, BOSS, card="王主管")
    await sim.connect()
    yield sim
    await sim.disconnect()


def total_of(card: str) -> str:
    found = re.search(r"总分\s*([\d.]+)", card)
    assert found, card
    return found.group(1)


async def code_on_wecom(wecom: WeComSim, user: str) -> str:
    """`/关联` in the WeCom group; the code comes by private message."""
    since = len(wecom.sent)
    said = await wecom.say(BOT_ID, user=user, parts=["/关联"], chat=W_GROUP)
    assert said.startswith("✅ 关联码已私聊发给你"), said
    private = await wecom.wait_sent(
        lambda s: s.ok and s.cmd == "aibot_send_msg" and s.chatid == user, start=since
    )
    assert not any("关联码 " in t for t in wecom.texts_to(W_GROUP, since))
    found = re.search(r"关联码 (\d{6})", private.text)
    assert found, private.text
    return found.group(1)


async def test_a_person_linked_on_wecom_is_the_same_member_as_on_qq(
    bot: BotProcess, qq: OneBotV11Sim, wecom: WeComSim
):
    bound = one(await qq.say(QQ_GROUP, SUPER, "/绑定 迁移组", nickname="超管"))
    assert bound.startswith("✅ 本群已绑定团队「迁移组」"), bound
    made = one(await qq.say(QQ_GROUP, SUPER, "/主管 ", at(BOSS)))
    assert made.startswith("✅ 王主管 现在是「迁移组」的主管"), made
    first = one(await qq.say(QQ_GROUP, ZHANG, "/朋友圈", card="张三"))
    assert "本月 1/20" in first, first

    moved = await wecom.say(BOT_ID, user=W_SUPER, parts=["/绑定 迁移组"], chat=W_GROUP)
    assert moved.startswith("✅ 本群已绑定团队「迁移组」（已有团队"), moved

    code = await code_on_wecom(wecom, W_ZHANG)
    refused = one(await qq.say(QQ_GROUP, BOSS, f"/关联 {code} ", at(ZHANG)))
    assert refused.startswith("❌ 只有超级管理员可以关联账号"), refused
    linked = one(await qq.say(QQ_GROUP, SUPER, f"/关联 {code} ", at(ZHANG)))
    assert linked.startswith(f"✅ 企业微信账号「{W_ZHANG}」已关联到 张三"), linked
    again = one(await qq.say(QQ_GROUP, SUPER, f"/关联 {code} ", at(ZHANG)))
    assert again.startswith(f"❌ 关联码 {code} 不对、已过期或已用过"), again

    second = await wecom.say(BOT_ID, user=W_ZHANG, parts=["/朋友圈"], chat=W_GROUP)
    assert "本月 2/20" in second, second  # the QQ report counts: one person

    boss_code = await code_on_wecom(wecom, W_BOSS)
    assert one(await qq.say(QQ_GROUP, SUPER, f"/关联 {boss_code} 王主管")).startswith("✅")
    fined = await wecom.say(BOT_ID, user=W_BOSS, parts=["/扣分 @张三 迟到"], chat=W_GROUP)
    assert fined.startswith("✅ #"), fined  # 王主管 supervises on WeCom too
    assert "张三 人事考核·迟到" in fined, fined

    on_wecom = await wecom.say(BOT_ID, user=W_ZHANG, parts=["/我的绩效"], chat=W_GROUP)
    on_qq = one(await qq.say(QQ_GROUP, ZHANG, "/我的绩效", card="张三"))
    assert total_of(on_wecom) == total_of(on_qq), (on_wecom, on_qq)
    assert "2/20" in on_qq, on_qq
    assert "9/10" in on_qq, on_qq  # 迟到 −1 in 人事考核

    rows = await bot.rows("SELECT COUNT(*) FROM member WHERE name = '张三'")
    assert rows == [(1,)]
    roster = one(await qq.say(QQ_GROUP, BOSS, "/成员"))
    assert roster.count("张三") == 1, roster
