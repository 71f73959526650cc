"""End to end over the WeCom intelligent robot: the bot started as a user starts it
(`python -m bot` with `WECOM_BOTS` and `WECOM_WS_URL` in its `.env`), connecting out to
`tools.wecom_sim` as `wecom-aibot-sdk` connects to the platform.

WeCom users are userids of one corp, stored as platform `wecom`: `SUPERUSERS=["wecom:…"]`.
Group messages reach the robot only when it is @-ed, with no mention list and no names: a
member's roster name is their userid (the platform gives no other), and people are named by
it; answers go back on the message's req_id, the monthly post and the login link are
proactive sends (markdown, pictures uploaded as media).

A pasted picture arrives AES-encrypted; the adapter decrypts it and the bot keeps those
bytes as the report's evidence (there is no address to fetch).
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.periods import current_period, shift_period
from tools.onebot_sim import BotProcess
from tools.wecom_sim import WeComSim

BOT_ID, SECRET, NAME = "aibot-kpi", "s3cret", "KPI助手"
SUPER, ZHANG, LI, BOSS = "chaoguan", "zhangsan", "lisi", "wangzhuguan"
GROUP = "wrkGroupKefu01"
LAST_MONTH = shift_period(current_period(ZoneInfo("Asia/Shanghai")), -1)


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


def png(width: int = 64, height: int = 48) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (40, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
async def wecom() -> AsyncIterator[WeComSim]:
    async with WeComSim({BOT_ID: (SECRET, NAME)}) as sim:
        yield sim


@pytest.fixture(scope="module")
async def bot(
    wecom: WeComSim, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("wecom-bot"),
        token="unused-onebot-token",
        superusers=(f"wecom:{SUPER}",),
        env={
            "WECOM_BOTS": json.dumps([{"bot_id": BOT_ID, "secret": SECRET, "name": NAME}]),
            "WECOM_WS_URL": wecom.ws_url,
        },
    )
    await proc.start()
    await wecom.wait_connected(BOT_ID, timeout=30)
    yield proc
    await proc.stop()


def say(wecom: WeComSim, user: str, *parts: str | bytes, chat: str | None = GROUP):
    return wecom.say(BOT_ID, user=user, parts=list(parts), chat=chat)


async def test_a_team_works_over_wecom(bot: BotProcess, wecom: WeComSim):
    bound = await say(wecom, SUPER, "/绑定 企微一组")
    assert bound.startswith("✅ 本群已绑定团队「企微一组」"), bound

    first = await say(wecom, ZHANG, "/朋友圈")
    assert first.startswith("✅ #"), first
    assert "朋友圈/空间维护 已记录（本月 1/20" in first, first

    picture = png()
    shot = await say(wecom, LI, "/朋友圈 今日更新", picture)
    assert shot.startswith("✅ #"), shot
    shot_id = int(shot.removeprefix("✅ #").split()[0])
    deadline = time.monotonic() + 15
    path = None
    while time.monotonic() < deadline and not path:
        [(path,)] = await bot.rows("SELECT image_path FROM entry WHERE id = :id", id=shot_id)
        await asyncio.sleep(0.1)
    assert path, "the decrypted picture is kept as evidence"
    assert bot.folder is not None
    stored = bot.folder / "data" / "evidence" / path.rsplit("/", 1)[-1]
    assert stored.read_bytes() == picture

    assert (await say(wecom, BOSS, "/加好友 3")).startswith("✅ #")  # on the roster now
    made = await say(wecom, SUPER, f"/主管 {BOSS}")  # no mentions on WeCom: a roster name
    assert made.startswith("✅"), made
    assert BOSS in made, made

    fined = await say(wecom, BOSS, f"/扣分 {ZHANG} 迟到")
    assert fined.startswith("✅ #"), fined
    assert f"{ZHANG} 人事考核·迟到" in fined, fined

    ranking = await say(wecom, ZHANG, "/排行")
    assert ZHANG in ranking, ranking  # the platform gives no names: the userid is the name
    assert LI in ranking, ranking


async def test_monthly_post_over_wecom_carries_the_ranking_image(bot: BotProcess, wecom: WeComSim):
    group = GROUP + "-month"
    assert (await say(wecom, SUPER, "/绑定 企微月报组", chat=group)).startswith("✅")
    assert (await say(wecom, ZHANG, "/朋友圈", chat=group)).startswith("✅ #")
    late = await say(wecom, SUPER, f"/扣分 {ZHANG} 迟到 上月", chat=group)
    assert late.startswith("✅ #"), late

    since = len(wecom.sent)
    settled = await say(wecom, SUPER, "/结算 上月", chat=group)
    assert settled == f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里", settled
    post = await wecom.wait_sent(
        lambda s: s.ok and s.cmd == "aibot_send_msg" and s.chatid == group and s.msgtype == "image",
        start=since,
        timeout=20,
    )
    texts = wecom.texts_to(group, since)
    assert any(f"「企微月报组」{LAST_MONTH} 月度绩效" in t for t in texts), texts
    picture = wecom.media[post.body["image"]["media_id"]].data
    width, height = Image.open(io.BytesIO(picture)).size
    assert 800 <= width <= 1000, width
    assert height >= 200, height


async def test_dashboard_link_goes_privately_by_userid_never_to_the_group(
    bot: BotProcess, wecom: WeComSim
):
    group = GROUP + "-desk"
    assert (await say(wecom, SUPER, "/绑定 企微后台组", chat=group)).startswith("✅")
    since = len(wecom.sent)
    sent = await say(wecom, SUPER, "/后台", chat=group)
    assert sent.startswith("✅ 登录链接已私聊发给你"), sent
    private = await wecom.wait_sent(
        lambda s: s.ok and s.cmd == "aibot_send_msg" and s.chatid == SUPER, start=since
    )
    assert "/kpi/login/" in private.text
    assert not any("/kpi/login/" in t for t in wecom.texts_to(group, since))


async def test_people_are_named_by_roster_name_where_no_at_reaches_the_bot(
    bot: BotProcess, wecom: WeComSim
):
    """SPEC §2: WeCom gives userids, no names and no mentions. `/入职 名单上的名字 姓名`
    names someone; refusals and /帮助 ask for roster names, never an @ or a QQ number."""
    chat = "wrkGroupKefu02"
    assert (await say(wecom, SUPER, "/绑定 企微二组", chat=chat)).startswith("✅")
    assert (await say(wecom, "zhaoliu", "/朋友圈", chat=chat)).startswith("✅ #")

    renamed = await say(wecom, SUPER, "/入职 zhaoliu 赵六", chat=chat)
    assert renamed == "✅ 赵六 已在团队中，姓名已更新", renamed
    ranking = await say(wecom, SUPER, "/排行", chat=chat)
    assert "赵六" in ranking, ranking
    assert "zhaoliu" not in ranking, ranking

    nobody = await say(wecom, SUPER, "/入职", chat=chat)
    assert nobody.startswith("❌ 新人在群里报一次（如 /朋友圈）就会自动入职"), nobody
    entries = "SELECT COUNT(*) FROM entry"
    before = await bot.rows(entries)
    stranger = await say(wecom, SUPER, "/扣分 wangwu 迟到", chat=chat)
    assert stranger.startswith(
        "❌ “wangwu”不是成员名单上的名字。请写要登记迟到的人在成员名单上的名字"
    ), stranger
    helped = await say(wecom, "zhaoliu", "/帮助", chat=chat)
    assert "指定某人请写成员名单上的名字" in helped, helped
    assert "QQ 号" not in helped, helped
    assert await bot.rows(entries) == before


async def test_replies_name_people_by_roster_name_never_by_userid(bot: BotProcess, wecom: WeComSim):
    """WeCom events carry the userid as the sender's name: once the roster names someone,
    an @ in a reply reads `@名字` and what they log or revoke is signed with that name."""
    chat = "wrkGroupKefu03"
    assert (await say(wecom, SUPER, "/绑定 企微三组", chat=chat)).startswith("✅")
    assert (await say(wecom, "zhouqi", "/朋友圈", chat=chat)).startswith("✅ #")
    assert (await say(wecom, "sunzhuguan", "/加好友 3", chat=chat)).startswith("✅ #")
    assert (await say(wecom, SUPER, "/入职 zhouqi 周七", chat=chat)).startswith("✅")
    assert (await say(wecom, SUPER, "/入职 sunzhuguan 孙主管", chat=chat)).startswith("✅")
    assert (await say(wecom, SUPER, "/主管 孙主管", chat=chat)).startswith("✅")

    marked = await say(wecom, "sunzhuguan", "/扣分 周七 迟到", chat=chat)
    assert marked.startswith("✅ #"), marked
    entry_id = marked.removeprefix("✅ #").split()[0]
    appealed = await say(wecom, "zhouqi", f"/申诉 #{entry_id} 那天没迟到", chat=chat)
    assert "@孙主管" in appealed, appealed
    assert "sunzhuguan" not in appealed, appealed
    listed = await say(wecom, "sunzhuguan", "/明细 周七", chat=chat)
    assert "记录人：孙主管" in listed, listed
    assert "sunzhuguan" not in listed, listed
