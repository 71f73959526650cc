"""End to end over the official QQ bot API: the bot started as a user starts it (`python -m
bot` with `QQ_BOTS`, `QQ_API_BASE` and `QQ_AUTH_BASE` in its `.env`), connecting to
`tools.qq_sim` as nonebot-adapter-qq does (token, gateway, intents, openids).

Users are openids of this bot app, stored as platform `qqbot.<appid>`; group events carry
no names (a mention does), so people are named by @ and found by their roster name; the
platform refuses proactive messages, so the monthly post goes out as a reply to a message
of the group (`/结算`, `/重发`) and a private link only to someone writing privately.
"""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from models.periods import current_period, period_bounds, shift_period
from tests.utils import one, png
from tools.onebot_sim import BotProcess
from tools.qq_sim import GROUP_AND_C2C_INTENT, Person, QQOfficialSim

THIS_MONTH = current_period(ZoneInfo("Asia/Shanghai"))
LAST_MONTH = shift_period(THIS_MONTH, -1)
APPID = "102000777"
SUPER = Person("超管")


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def qq() -> AsyncIterator[QQOfficialSim]:
    async with QQOfficialSim(appid=APPID) as sim:
        yield sim


@pytest.fixture(scope="module")
async def bot(
    qq: QQOfficialSim, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("qq-bot"),
        token="unused-onebot-token",
        superusers=(f"qqbot.{APPID}:{SUPER.member_openid}",),
        env={**qq.env(), "KPI_FETCH_ALLOW_HOSTS": "127.0.0.1"},
    )
    await proc.start()
    await qq.wait_ready(30)
    yield proc
    await proc.stop()


async def test_the_bot_identifies_with_the_group_intent(bot: BotProcess, qq: QQOfficialSim):
    assert qq.identifies[-1]["intents"] & GROUP_AND_C2C_INTENT
    assert "平台不认识" not in bot.log()  # SUPERUSERS "qqbot.<AppID>:<openid>" is understood


async def test_a_team_works_over_the_official_qq_api(bot: BotProcess, qq: QQOfficialSim):
    g = qq.add_group("售后群")
    owner = qq.add_member(g, "老板", role="owner")
    zhang, li, boss = (qq.add_member(g, n) for n in ("张三", "李四", "王主管"))

    bound = one(await qq.say(g, owner, "/绑定 QQ一组"))
    assert bound.startswith("✅ 本群已绑定团队「QQ一组」"), bound

    # No names in group events: the owner puts people on the team by @ (a mention names them)
    joined = one(await qq.say(g, owner, "/入职 ", zhang, " ", li))
    assert "✅ 张三 已入职" in joined, joined
    assert "✅ 李四 已入职" in joined, joined

    first = one(await qq.say(g, zhang, "/朋友圈"))
    assert re.fullmatch(r"✅ #\d+ 朋友圈/空间维护 已记录（本月 1/20，推广绩效 0\.1/10）", first), (
        first
    )
    picture = png("blue")
    shot = one(await qq.say(g, li, "/朋友圈 今日更新", qq.picture(picture)))
    assert shot.startswith("✅ #"), shot
    assert "朋友圈/空间维护 已记录" in shot, shot

    made = one(await qq.say(g, owner, "/主管 ", boss))
    assert made == "✅ 王主管 现在是「QQ一组」的主管", made

    by_at = one(await qq.say(g, boss, "/扣分 ", zhang, " 迟到"))
    assert re.fullmatch(
        r"✅ #\d+ 张三 人事考核·迟到 −1（本月人事考核 9/10，总分 \d+(\.\d)?）", by_at
    ), by_at
    by_name = one(await qq.say(g, boss, "/投诉 李四 回复慢"))
    assert re.match(r"✅ #\d+ 李四 业务绩效·客户投诉 −3", by_name), by_name

    # a reply to 李四's message is about 李四; a reply to the bot's confirmation names its entry
    await qq.post(g, li, "亲，稍等")
    by_quote = one(await qq.say(g, boss, "/投诉 又回复慢", qq.quote(qq.last_ref)))
    assert re.match(r"✅ #\d+ 李四 业务绩效·客户投诉 −3", by_quote), by_quote
    confirmation = qq.sent[-1]
    undone = one(await qq.say(g, boss, "/撤销 弄错了", qq.quote(confirmation)))
    entry = re.match(r"✅ #(\d+)", by_quote).group(1)  # type: ignore[union-attr]
    assert undone.startswith(f"✅ 已撤销 #{entry} 李四 业务绩效·客户投诉"), undone

    exported = one(await qq.say(g, boss, "/导出"))  # no group files on this platform
    assert exported.startswith(f"✅ 已导出 {THIS_MONTH} 绩效表"), exported
    assert "无法上传群文件，已保存在服务器" in exported, exported

    ranking = one(await qq.say(g, zhang, "/排行"))
    assert ranking.splitlines()[0] == f"🏆 「QQ一组」{THIS_MONTH} 排行", ranking
    assert "张三" in ranking, ranking
    assert "李四" in ranking, ranking
    for p in (zhang, li, boss, owner):
        assert p.member_openid not in ranking, ranking  # names, never openids

    # every answer was a reply (msg_id), none proactive
    assert not qq.proactive(g.group_openid)

    # the picture is kept as evidence, fetched from the platform's media URL
    deadline = time.monotonic() + 15
    rows: list[tuple] = []
    while time.monotonic() < deadline:
        rows = await bot.rows(
            "SELECT image_url, image_path FROM entry WHERE image_url IS NOT NULL ORDER BY id"
        )
        if rows and rows[-1][1]:
            break
        await asyncio.sleep(0.1)
    assert rows, rows
    assert rows[-1][1], rows
    assert bot.folder is not None
    stored = bot.folder / "data" / "evidence" / rows[-1][1].rsplit("/", 1)[-1]
    assert stored.read_bytes() == picture


async def test_someone_who_reports_before_any_at_is_named_by_the_first_at_of_them(
    bot: BotProcess, qq: QQOfficialSim
):
    """SPEC §2: events carry no names here, so a first report registers the agent under
    their openid; the first @ of them (a deduction, or /入职) gives them their name."""
    g = qq.add_group("新人群")
    owner = qq.add_member(g, "群主", role="owner")
    zhao, qian = qq.add_member(g, "赵六"), qq.add_member(g, "钱七")
    assert one(await qq.say(g, owner, "/绑定 QQ二组")).startswith("✅")
    for agent in (zhao, qian):
        assert one(await qq.say(g, agent, "/朋友圈")).startswith("✅ #")
    names = "SELECT name FROM member WHERE user_id = :u"
    assert await bot.rows(names, u=zhao.member_openid) == [(zhao.member_openid,)]

    marked = one(await qq.say(g, owner, "/投诉 ", zhao, " 回复慢"))
    assert re.match(r"✅ #\d+ 赵六 业务绩效·客户投诉 −3", marked), marked
    joined = one(await qq.say(g, owner, "/入职 ", qian))
    assert "钱七" in joined, joined
    assert qian.member_openid not in joined, joined

    ranking = one(await qq.say(g, owner, "/排行"))
    for agent in (zhao, qian):
        assert agent.name in ranking, ranking
        assert agent.member_openid not in ranking, ranking
    assert await bot.rows(names, u=qian.member_openid) == [("钱七",)]


async def test_replies_never_ask_for_qq_numbers_nor_show_openids(
    bot: BotProcess, qq: QQOfficialSim
):
    """SPEC §2: no QQ numbers here, and an openid means nothing to anyone: a typed number
    is refused as such, /成员 and a duplicate name list names only, /帮助 asks for none."""
    g = qq.add_group("名单群")
    owner = qq.add_member(g, "群主", role="owner")
    wang1, wang2 = qq.add_member(g, "小王"), qq.add_member(g, "小王")
    assert one(await qq.say(g, owner, "/绑定 QQ三组")).startswith("✅")
    assert "✅" in one(await qq.say(g, owner, "/入职 ", wang1, " ", wang2))

    number = one(await qq.say(g, owner, "/扣分 123456789 迟到"))
    assert number.startswith("❌ 本平台不能用号码指定人（没有 QQ 号）。请 @ 要登记迟到的人"), number
    twice = one(await qq.say(g, owner, "/投诉 小王 回复慢"))
    assert "“小王”有重名（2 人），请用 @ 指定" in twice, twice
    roster = one(await qq.say(g, owner, "/成员"))
    helped = one(await qq.say(g, owner, "/帮助"))
    for text in (number, twice, roster):
        for p in (wang1, wang2, owner):
            assert p.member_openid not in text, text
    assert "1. 小王 客服" in roster, roster
    assert "QQ 号" not in helped, helped
    assert "@某人 也可写成员姓名" in helped, helped


async def test_monthly_post_is_a_reply_with_its_image_and_a_refused_one_waits_for_resend(
    bot: BotProcess, qq: QQOfficialSim
):
    g = qq.add_group("月报群")
    owner = qq.add_member(g, "老板", role="owner")
    zhao = qq.add_member(g, "赵六")
    assert one(await qq.say(g, owner, "/绑定 QQ月报组")).startswith("✅")
    assert one(await qq.say(g, owner, "/入职 ", zhao)).startswith("✅ 赵六 已入职")
    late = one(await qq.say(g, owner, "/扣分 ", zhao, " 迟到 上月"))
    assert late.startswith("✅ #"), late

    msg_id = await qq.post(g, owner, "/结算 上月")
    replies = await qq.replies_to(msg_id, expect=2, linger=1.0, timeout=20)
    texts = [s.text for s in replies]
    assert texts[0] == f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里", texts
    post = next(s for s in replies if f"「QQ月报组」{LAST_MONTH} 月度绩效" in s.text)
    assert "赵六" in post.text, post.text
    assert zhao.member_openid not in post.text, post.text
    assert post.body["msg_type"] == 7  # the image uploaded for this group, sent by file_info
    width, height = Image.open(io.BytesIO(post.images[0])).size
    assert 800 <= width <= 1000, (width, height)
    assert height >= 200, (width, height)
    assert not qq.proactive(g.group_openid)


async def test_dashboard_link_privately_when_written_privately_never_in_the_group(
    bot: BotProcess, qq: QQOfficialSim
):
    g = qq.add_group("后台群")
    owner = qq.add_member(g, "老板", role="owner")
    sun = qq.add_member(g, "孙八")
    assert one(await qq.say(g, owner, "/绑定 QQ后台组")).startswith("✅")
    assert one(await qq.say(g, owner, "/入职 ", sun)).startswith("✅ 孙八 已入职")
    assert one(await qq.say(g, sun, "/朋友圈")).startswith("✅ #")
    asked = one(await qq.say(g, sun, "/后台"))
    assert asked.startswith(
        "❌ 私聊发送失败：QQ 官方机器人不能主动私聊：请在 QQ 里打开机器人的资料页"
    ), asked
    assert all("/kpi/login/" not in s.text for s in qq.sent)

    # 孙八 writes to the bot privately: another openid, the same union_openid
    private = one(await qq.say_private(sun, "/后台"))
    assert private.startswith("✅ 🔑 网页后台登录链接"), private
    assert "/kpi/login/" in private
    sent = qq.sent[-1]
    assert (sent.scope, sent.target) == ("c2c", sun.user_openid)
    assert sent.reply_to is not None  # a reply to the private message, not a proactive send


async def test_a_scheduled_post_the_platform_refuses_is_held_until_a_superuser_resends(
    tmp_path,
):
    """The monthly job runs at night: no message to answer, so the post is a proactive
    send, which the platform refuses. It is held (not retried into the void), `/状态`
    lists it, and `/重发` in the group sends it as the reply to that very message."""
    appid = "102000888"
    async with QQOfficialSim(appid=appid) as sim:
        boss = Person("超管")
        proc = BotProcess(
            tmp_path,
            superusers=(f"qqbot.{appid}:{boss.member_openid}",),
            env={**sim.env(), "KPI_MONTHLY_CRON": "0 0 1 * *"},
        )
        await proc.start()
        try:
            await sim.wait_ready(30)
            g = sim.add_group("夜班群")
            sim.add_member(g, "超管", person=boss)
            zhou = sim.add_member(g, "周九")
            assert one(await sim.say(g, boss, "/绑定 QQ夜班组")).startswith("✅")
            assert one(await sim.say(g, boss, "/入职 ", zhou)).startswith("✅ 周九 已入职")
            assert one(await sim.say(g, boss, "/扣分 ", zhou, " 迟到 上月")).startswith("✅ #")

            await proc.stop()
            # as if the team had worked all last month (test_e2e_catchup does the same)
            start = period_bounds(LAST_MONTH)[0] + timedelta(days=1)
            created = datetime(start.year, start.month, start.day) - timedelta(hours=8)
            await proc.rows("UPDATE team SET created_at = :t", t=created)
            await proc.rows("UPDATE tenure SET start = :d", d=start)
            await proc.rows("UPDATE member SET joined_on = :d", d=start)
            await proc.start()  # the catch-up settles last month and posts it
            await sim.wait_ready(30)
            refused = await sim.wait_sent(
                lambda s: s.reply_to is None and s.target == g.group_openid, timeout=30
            )
            assert (refused.status, refused.error["code"]) == (400, 40034102), refused
            assert "月度绩效" in refused.text, refused.text

            # who writes privately is still known after the restart (union_openid, kept)
            link = one(await sim.say_private(boss, "/后台"))
            assert link.startswith("✅ 🔑 网页后台登录链接"), link

            status = one(await sim.say(g, boss, "/状态"))
            assert "待确认" in status, status

            msg_id = await sim.post(g, boss, "/重发 上月")
            replies = [s.text for s in await sim.replies_to(msg_id, expect=2, linger=1.0)]
            assert replies[0].startswith(f"✅ {LAST_MONTH} 的月报已重新排队"), replies
            assert f"「QQ夜班组」{LAST_MONTH} 月度绩效" in replies[1], replies
            assert replies[1].endswith("[图片]"), replies
            log = proc.log()
            assert "被平台拒绝" in log, log[-2000:]
        finally:
            await proc.stop()


async def test_api_calls_share_one_kept_alive_connection(bot: BotProcess, qq: QQOfficialSim):
    """`bot.platforms.qq` gives the adapter one HTTP session (a new client and connection
    per call would cost every reply a TCP and TLS handshake)."""
    g = qq.add_group("连接群")
    owner = qq.add_member(g, "老板", role="owner")
    since = len(qq.peers)
    assert one(await qq.say(g, owner, "/绑定 QQ连接组")).startswith("✅")
    for _ in range(5):
        assert "「QQ连接组」" in one(await qq.say(g, owner, "/排行"))
    peers = qq.peers[since:]
    assert len(peers) >= 6, peers
    assert len(set(peers)) == 1, peers


async def test_over_the_webhook_a_report_with_a_picture_is_taken_and_forgeries_are_not(tmp_path):
    """Webhook mode (`"use_websocket": false`): the platform checks the callback URL, then
    POSTs signed payloads to `/qq/webhook`; one signed by another key is refused."""
    async with QQOfficialSim(appid="102000888", protocol="webhook") as sim:
        proc = BotProcess(tmp_path, env={**sim.env(), "KPI_FETCH_ALLOW_HOSTS": "127.0.0.1"})
        await proc.start()
        try:
            sim.use_webhook(f"http://{proc.host}:{proc.port}")
            await sim.wait_ready(30)
            assert sim.identifies == []  # no gateway
            g = sim.add_group("回调群")
            owner = sim.add_member(g, "老板", role="owner")
            assert one(await sim.say(g, owner, "/绑定 QQ回调组")).startswith("✅")
            agent = sim.add_member(g, "钱七")
            picture = png("orange")
            shot = one(await sim.say(g, agent, "/朋友圈 ", sim.picture(picture)))
            assert re.fullmatch(r"✅ #\d+ 朋友圈/空间维护 已记录（.*）", shot), shot
            assert set(sim.webhook_answers) <= {200, 204}, sim.webhook_answers

            sent = len(sim.sent)
            assert await sim.forge(g, agent, "/朋友圈") == 403
            await asyncio.sleep(1.0)
            assert len(sim.sent) == sent  # nothing answered, nothing recorded
            rows = await proc.rows("SELECT count(*) FROM entry")
            assert rows == [(1,)], rows
        finally:
            await proc.stop()
