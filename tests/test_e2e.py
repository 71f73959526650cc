"""End to end: the bot started as `make run` starts it, spoken to over OneBot WebSockets.

One bot process serves this module (each test uses its own group and team); the simulator
(`tools.onebot_sim`) plays NapCat for QQ groups and a OneBot v12 bridge for WeChat groups.
Replies are checked as a user reads them: ✅/❌ first, then the numbers.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from websockets.exceptions import InvalidStatus

from models.periods import current_period, shift_period
from tests.utils import one
from tools.onebot_sim import (
    BotProcess,
    OneBotV11Sim,
    OneBotV12Sim,
    at,
    file_bytes,
    image,
    mention,
)

TOKEN = "e2e-secret"
SUPER = 10000
OWNER = 10001
THIS_MONTH = current_period(ZoneInfo("Asia/Shanghai"))
LAST_MONTH = shift_period(THIS_MONTH, -1)


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("e2e-bot"),
        token=TOKEN,
        superusers=(f"qq:{SUPER}", f"v12.wechat:{SUPER}"),  # SPEC §2: entries name their platform
    )
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def qq(bot: BotProcess) -> AsyncIterator[OneBotV11Sim]:
    sim = OneBotV11Sim(bot.ws_url("v11"), token=TOKEN)
    await sim.connect()
    yield sim
    await sim.disconnect()


def entry_id(reply: str) -> int:
    m = re.search(r"#(\d+)", reply)
    assert m, reply
    return int(m.group(1))


async def bind(sim: OneBotV11Sim, group: int, team: str) -> None:
    reply = one(await sim.say(group, OWNER, f"/绑定 {team}", nickname="老板", role="owner"))
    assert reply.startswith(f"✅ 本群已绑定团队「{team}」"), reply


# ---- a month of a real team ------------------------------------------------------------------


async def test_a_month_of_a_team_reports_deductions_revocations_and_scores(qq: OneBotV11Sim):
    g = 21001
    zhang, li, wang, boss = 31001, 31002, 31003, 31009
    assert "还没有绑定团队" in one(await qq.say(g, zhang, "/帮助", card="张三"))
    await bind(qq, g, "售后一组")
    qq.add_member(g, boss, card="王主管")
    promoted = one(await qq.say(g, OWNER, "/主管 ", at(boss), role="owner"))
    assert promoted == "✅ 王主管 现在是「售后一组」的主管", promoted

    # Agents report their promotion work.
    r1 = one(await qq.say(g, zhang, "/软文 https://zhuanlan.zhihu.com/p/1001 知乎", card="张三"))
    assert re.fullmatch(r"✅ #\d+ 自建渠道软文 已记录（本月 1/8，推广绩效 0\.3/10）", r1), r1
    r2 = one(await qq.say(g, zhang, "/软文 https://www.jianshu.com/p/1002"))
    assert r2.endswith("已记录（本月 2/8，推广绩效 0.5/10）"), r2
    r3 = one(await qq.say(g, zhang, "/付费软文 https://www.ssxw.com/a/1003"))
    assert r3.endswith("松松软文付费推广 已记录（本月 1/2，推广绩效 1.5/10）"), r3
    r4 = one(await qq.say(g, li, "/自媒体 https://www.toutiao.com/a/1004 头条", card="李四"))
    assert r4.endswith("自媒体平台推广 已记录（本月 1/8，推广绩效 0.3/10）"), r4
    r5 = one(await qq.say(g, li, "/加好友 15 ", image("http://127.0.0.1:9/shot.png", "shot.image")))
    assert r5.endswith("QQ/微信加好友 已记录（本月 15/60，推广绩效 0.8/10）"), r5
    r6 = one(await qq.say(g, wang, "/朋友圈 ", image(), card="王五"))
    assert r6.endswith("朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.1/10）"), r6
    r7 = one(await qq.say(g, wang, "/报 加好友 30 展会"))
    assert r7.endswith("QQ/微信加好友 已记录（本月 30/60，推广绩效 1.1/10）"), r7

    # Refusals an agent meets.
    dup = one(await qq.say(g, li, "/软文 https://zhuanlan.zhihu.com/p/1001"))
    assert dup.startswith(f"❌ 该链接已在 #{entry_id(r1)} 记录过"), dup
    assert one(await qq.say(g, li, "/软文 没有链接")).startswith("❌ ")
    assert one(await qq.say(g, li, "/加好友 0")).startswith("❌ ")
    refused = one(await qq.say(g, li, "/投诉 ", at(zhang), " 报复"))
    assert refused.startswith("❌ 只有本团队的主管可以这样做"), refused

    # The supervisor deducts, and revokes a mistake.
    c = one(await qq.say(g, boss, "/投诉 ", at(zhang), " 态度差"))
    assert re.fullmatch(
        r"✅ #\d+ 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 88\.5）", c
    ), c
    late = one(await qq.say(g, boss, "/扣分 ", at(li), " 迟到 2 堵车"))
    assert re.fullmatch(
        r"✅ #\d+ 李四 人事考核·迟到 ×2 −2（本月人事考核 8/10，总分 88\.8）", late
    ), late
    revoked = one(await qq.say(g, boss, f"/撤销 #{entry_id(late)} 堵车不算"))
    assert revoked.startswith(f"✅ 已撤销 #{entry_id(late)} 李四 人事考核·迟到"), revoked
    assert revoked.endswith(f"{THIS_MONTH} 人事考核 10/10，总分 90.8"), revoked

    # An agent takes back their own last report.
    undo = one(await qq.say(g, zhang, "/撤回"))
    assert undo.startswith(f"✅ 已撤回 #{entry_id(r3)} 松松软文付费推广"), undo
    assert "推广绩效 0.5/10" in undo, undo

    me = one(await qq.say(g, zhang, "/我的绩效"))
    assert me.startswith(f"📋 张三 {THIS_MONTH} 绩效"), me
    for line in ("业务绩效 47/50", "推广绩效 0.5/10", "软文 2/8", "付费软文 0/2", "总分 87.5（B）"):
        assert line in me, (line, me)
    assert f"#{entry_id(c)} 业务绩效·客户投诉 −3「态度差」" in me, me

    rank = one(await qq.say(g, li, "/排行"))
    lines = rank.splitlines()
    assert lines[0] == f"🏆 「售后一组」{THIS_MONTH} 排行", rank
    assert lines[2:] == [
        "1. 王五 10/50/30/1.1 91.1 A",
        "2. 李四 10/50/30/0.8 90.8 A",
        "3. 张三 10/47/30/0.5 87.5 B",
    ], rank

    detail = one(await qq.say(g, boss, "/明细 ", at(li)))
    assert "（其中已撤销 1 条）" in detail, detail
    assert "〔王主管 已撤销：堵车不算〕" in detail, detail
    assert one(await qq.say(g, zhang, "/明细 ", at(li))).startswith("❌ 只有本团队的主管")


# ---- settling last month, exporting ----------------------------------------------------------


async def test_settle_refuses_this_month_settles_last_month_posts_and_exports(
    qq: OneBotV11Sim,
):
    g = 21002
    agent = 32001
    await bind(qq, g, "售后二组")
    report = one(await qq.say(g, agent, "/软文 https://example.com/settle/1 小红书", card="赵六"))
    assert report.startswith("✅ #"), report
    old = one(await qq.say(g, OWNER, "/扣分 ", at(agent), " 迟到 上月 睡过头", role="owner"))
    assert old.endswith(f"（{LAST_MONTH} 人事考核 9/10，总分 89.0）"), old

    now = one(await qq.say(g, OWNER, "/结算 本月"))
    assert now.startswith(f"❌ {THIS_MONTH} 还没结束，不能结算"), now
    assert not group_posts(qq, g)

    since = len(qq.calls)
    settled = one(await qq.say(g, OWNER, "/结算 上月"))
    assert settled == f"✅ {LAST_MONTH} 已结算，1 人，月报马上发到群里", settled
    post = await qq.wait_for(
        lambda c: c.action == "send_group_msg" and str(c.params.get("group_id")) == str(g),
        timeout=10,
        since=since,
    )
    text = qq.describe_send(post).text
    assert text.startswith(f"📊 「售后二组」{LAST_MONTH} 月度绩效"), text
    assert "1. 赵六 9/50/30/0 89.0 B" in text, text

    again = one(await qq.say(g, OWNER, "/结算 上月"))
    assert again.startswith(f"❌ {LAST_MONTH} 已结算过，不会重复播报"), again
    frozen = one(await qq.say(g, OWNER, "/扣分 ", at(agent), " 迟到 上月"))
    assert frozen.startswith(f"❌ {LAST_MONTH} 已结算"), frozen
    unrevokable = one(await qq.say(g, OWNER, f"/撤销 #{entry_id(old)}"))
    assert unrevokable.startswith(f"❌ {LAST_MONTH} 已结算"), unrevokable
    await asyncio.sleep(1.0)  # a second post would have arrived by now
    posts = [m for m in qq.sent if m.group_id == str(g) and m.user_id is None]
    assert len(posts) == 1, [m.text for m in posts]

    since = len(qq.calls)
    exported = one(await qq.say(g, OWNER, "/导出"))
    assert exported == (f"✅ 已导出 {THIS_MONTH} 绩效表（1 人，1 条记录），文件已上传到群文件"), (
        exported
    )
    upload = await qq.wait_for(lambda c: c.action == "upload_group_file", since=since)
    assert str(upload.params["group_id"]) == str(g)
    assert upload.params["name"] == f"售后二组-{THIS_MONTH}-绩效.xlsx"
    data = file_bytes(upload.params["file"])
    book = load_workbook(io.BytesIO(data), read_only=True)
    assert len(book.sheetnames) >= 2, book.sheetnames
    cells = {
        name: [str(v) for row in book[name].iter_rows(values_only=True) for v in row if v]
        for name in book.sheetnames
    }
    assert any("赵六" in v for v in cells[book.sheetnames[0]]), cells
    assert any("https://example.com/settle/1" in v for vs in cells.values() for v in vs), cells


def group_posts(sim: OneBotV11Sim, group: int) -> list[str]:
    return [m.text for m in sim.sent if m.group_id == str(group) and m.user_id is None]


# ---- the wire: tokens, redelivery, reconnects --------------------------------------------------


async def test_wrong_access_token_is_refused_and_right_one_accepted(bot: BotProcess):
    for token in ("wrong", None):
        sim = OneBotV11Sim(bot.ws_url("v11"), self_id="88888", token=token)
        with pytest.raises(InvalidStatus) as refused:
            await sim.connect(retries=0)
        assert refused.value.response.status_code == 403
    sim = OneBotV11Sim(bot.ws_url("v11"), self_id="88888", token=TOKEN)
    await sim.connect(retries=0)
    try:
        assert "还没有绑定团队" in one(await sim.say(21003, 33001, "/帮助"))
    finally:
        await sim.disconnect()


async def test_same_message_delivered_twice_is_logged_once_and_answered_once(
    bot: BotProcess, qq: OneBotV11Sim
):
    g, agent = 21004, 34001
    await bind(qq, g, "售后三组")
    link = "https://example.com/dup/1"
    first = await qq.say(g, agent, f"/软文 {link}", card="孙七", message_id=777_000_001)
    assert one(first).startswith("✅ #")
    assert await qq.say(g, agent, f"/软文 {link}", message_id=777_000_001, expect=0) == []

    # Two deliveries in flight at once (the implementation retried before the first answer).
    event = qq.group_event(g, agent, "/朋友圈 早安", message_id=777_000_002)
    await asyncio.gather(qq.send_event(event), qq.send_event(event))
    await qq.wait_replies(g, agent, 2)
    await asyncio.sleep(0.8)
    assert len(qq.replies(g, agent)) == 2, qq.replies(g, agent)

    rows = await bot.rows(
        "SELECT COUNT(*) FROM entry WHERE source IN (:a, :b)",
        a=f"qq:{qq.self_id}:{g}:777000001",
        b=f"qq:{qq.self_id}:{g}:777000002",
    )
    assert rows == [(2,)], rows


async def test_bot_keeps_working_after_the_implementation_reconnects(qq: OneBotV11Sim):
    g, agent = 21005, 35001
    await bind(qq, g, "售后四组")
    assert one(await qq.say(g, agent, "/朋友圈", card="周八")).startswith("✅ #")
    for _ in range(2):
        await qq.disconnect()
        await qq.connect()
    after = one(await qq.say(g, agent, "/加好友 3"))
    assert after.endswith("QQ/微信加好友 已记录（本月 3/60，推广绩效 0.2/10）"), after
    assert one(await qq.say(g, agent, "/我的绩效")).startswith("📋 周八")


# ---- OneBot v12 --------------------------------------------------------------------------------


async def test_onebot_v12_group_binds_reports_and_takes_a_complaint(bot: BotProcess):
    async with OneBotV12Sim(bot.ws_url("v12"), token=TOKEN) as wx:
        g, agent = "wx-group-1", "wxid_agent1"
        bound = one(await wx.say(g, str(SUPER), "/绑定 微信客服组", name="老板"))
        assert bound.startswith("✅ 本群已绑定团队「微信客服组」"), bound
        r = one(await wx.say(g, agent, "/软文 https://mp.weixin.qq.com/s/abc", name="吴九"))
        assert re.fullmatch(r"✅ #\d+ 自建渠道软文 已记录（本月 1/8，推广绩效 0\.3/10）", r), r
        c = one(await wx.say(g, str(SUPER), "/投诉 ", mention(agent), " 回复慢"))
        assert re.fullmatch(
            r"✅ #\d+ \S+ 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87\.3）", c
        ), c
        refused = one(await wx.say(g, agent, "/投诉 ", mention(agent)))
        assert refused.startswith("❌ 只有本团队的主管可以这样做"), refused
        call = wx.calls[-1]
        assert call.action == "send_message"
        assert call.params["detail_type"] == "group"


async def test_onebot_v12_agent_is_named_by_their_group_name(bot: BotProcess):
    async with OneBotV12Sim(bot.ws_url("v12"), self_id="wxid_kpibot2", token=TOKEN) as wx:
        g, agent = "wx-group-2", "wxid_agent2"
        assert one(await wx.say(g, str(SUPER), "/绑定 微信客服二组")).startswith("✅")
        wx.add_member(g, agent, name="郑十")
        assert one(await wx.say(g, agent, "/朋友圈")).startswith("✅")
        c = one(await wx.say(g, str(SUPER), "/投诉 ", mention(agent)))
        assert " 郑十 业务绩效·客户投诉" in c, c


async def test_onebot_v12_dashboard_link_comes_by_private_message_and_opens(bot: BotProcess):
    """`/后台` in a WeChat-style group: the link goes to the person privately
    (`send_message` with detail_type private), never to the group, and opens the page."""
    import httpx

    async with OneBotV12Sim(bot.ws_url("v12"), self_id="wxid_kpibot3", token=TOKEN) as wx:
        g = "wx-group-3"
        assert one(await wx.say(g, str(SUPER), "/绑定 微信客服三组")).startswith("✅")
        reply = one(await wx.say(g, str(SUPER), "/后台"))
        assert reply == "✅ 登录链接已私聊发给你（10 分钟内有效，只能用一次）", reply
        private = (await wx.wait_replies(None, str(SUPER), 1))[0]
        call = next(c for c in reversed(wx.calls) if c.params.get("detail_type") == "private")
        assert call.action == "send_message"
        assert all("/kpi/login/" not in m for m in wx.replies(g))
    link = re.search(r"http://\S+/kpi/login/\S+", private)
    assert link, private
    async with httpx.AsyncClient() as web:
        page = await web.get(link.group(0))
    assert page.status_code == 200
    assert "进入后台" in page.text


# ---- appeals, nudges, reopening ----------------------------------------------------------------


async def test_appeal_is_rejected_or_accepted_by_revoking_and_nudges_list_the_missing(
    qq: OneBotV11Sim,
):
    g, agent, quiet, boss = 21006, 36001, 36002, 36009
    await bind(qq, g, "售后五组")
    qq.add_member(g, boss, card="钱主管")
    assert one(await qq.say(g, OWNER, "/主管 ", at(boss))).startswith("✅ 钱主管")
    qq.add_member(g, quiet, card="沉默")
    assert one(await qq.say(g, boss, "/入职 ", at(quiet))).startswith("✅ 沉默 已入职")
    assert one(await qq.say(g, agent, "/朋友圈", card="冯一")).startswith("✅ #")
    c1 = one(await qq.say(g, boss, "/投诉 ", at(agent), " 差评"))
    c2 = one(await qq.say(g, boss, "/迟到 ", at(agent)))
    first, second = entry_id(c1), entry_id(c2)

    filed = one(await qq.say(g, agent, f"/申诉 #{first} 客户是恶意差评"))
    assert filed.startswith(f"✅ 已提交对 #{first} 业务绩效·客户投诉 −3 的申诉"), filed
    assert "@钱主管" in filed, filed
    assert one(await qq.say(g, quiet, f"/申诉 #{first} 我也要")).startswith("❌ ")
    listed = one(await qq.say(g, boss, "/申诉列表"))
    assert f"#{first} 冯一 业务绩效·客户投诉 −3 理由：客户是恶意差评" in listed, listed
    preview = one(await qq.say(g, boss, "/月报"))
    assert preview.startswith(f"📊 「售后五组」{THIS_MONTH} 月报（预览，未结算）"), preview
    assert f"待处理申诉 1 条：#{first}" in preview, preview

    rejected = one(await qq.say(g, boss, f"/驳回 #{first} 有录音为证"))
    assert rejected == (
        f"✅ 已驳回 #{first} 的申诉（有录音为证）\n@冯一 你对 #{first} 的申诉已被驳回，扣分保留"
    ), rejected
    assert one(await qq.say(g, agent, f"/申诉 #{second} 地铁故障")).startswith("✅ 已提交")
    accepted = one(await qq.say(g, boss, f"/撤销 #{second} 地铁故障属实"))
    assert accepted.startswith(f"✅ 已撤销 #{second} 冯一 人事考核·迟到"), accepted
    assert accepted.endswith(f"@冯一 你对 #{second} 的申诉已受理，扣分已撤销"), accepted
    assert one(await qq.say(g, boss, "/申诉列表")) == "✅ 没有待处理的申诉"

    missing = one(await qq.say(g, boss, "/未报"))
    assert re.match(r"📋 \d{4}-\d{2}-\d{2} 还没报的 1 人：\n沉默：还差 ", missing), missing
    assert one(await qq.say(g, agent, "/未报")).startswith("❌ 只有本团队的主管")
    assert one(await qq.say(g, boss, "/提醒 17:30")).startswith("✅ 每天 17:30 提醒还没报的同事")
    assert one(await qq.say(g, boss, "/提醒 关闭")) == "✅ 本团队的每日提醒已关闭"


async def test_reopened_month_takes_a_correction_and_is_posted_again_as_such(qq: OneBotV11Sim):
    g, agent = 21007, 37001
    await bind(qq, g, "售后六组")
    qq.add_member(g, agent, card="褚二")
    assert one(await qq.say(g, OWNER, "/迟到 ", at(agent), " 上月")).startswith("✅ #")
    since = len(qq.calls)
    assert one(await qq.say(g, OWNER, "/结算 上月")).startswith(f"✅ {LAST_MONTH} 已结算，1 人")
    await qq.wait_for(lambda c: c.action == "send_group_msg", since=since)

    refused = one(await qq.say(g, OWNER, "/重开 上月"))
    assert refused.startswith("❌ 只有超级管理员可以这样做"), refused
    reopened = one(await qq.say(g, SUPER, "/重开 上月", card="超管"))
    assert reopened.startswith(f"✅ {LAST_MONTH} 已重开"), reopened
    late = one(await qq.say(g, OWNER, "/早退 ", at(agent), " 上月"))
    assert late.endswith(f"（{LAST_MONTH} 人事考核 8/10，总分 88.0）"), late

    since = len(qq.calls)
    corrected = one(await qq.say(g, OWNER, "/结算 上月"))
    assert corrected.startswith(f"✅ {LAST_MONTH} 已更正，1 人"), corrected
    post = await qq.wait_for(
        lambda c: c.action == "send_group_msg" and "更正" in qq.describe_send(c).text,
        since=since,
    )
    text = qq.describe_send(post).text
    assert text.startswith(f"📊 「售后六组」{LAST_MONTH} 月度绩效【更正】"), text
    assert "1. 褚二 8/50/30/0 88.0 B" in text, text
    await asyncio.sleep(1.0)
    assert len(group_posts(qq, g)) == 2, group_posts(qq, g)


# ---- bad input ---------------------------------------------------------------------------------

ODD_INPUTS: list[tuple[object, ...]] = [
    ("/软文 ", {"type": "reply", "data": {"id": "1"}}, "https://example.com/odd/reply"),
    ("/软文 https://例子.中国/路径?q=一#frag",),
    ("/付费软文 " + "https://example.com/" + "a" * 3000,),
    ("/加好友 ９９９９９９９９９９９９９９９９９９９９",),
    ("/加好友 1.5",),
    ("/朋友圈 \u0000\u200b😀" + "长" * 2000,),
    ("/朋友圈", {"type": "face", "data": {"id": "14"}}, {"type": "json", "data": {"data": "{}"}}),
    ("/朋友圈 ", {"type": "image", "data": {"file": "x.image"}}),
    ("/报 软文 3 http://example.com/odd/3",),
    ("/报 投诉 1",),
    ("/撤回 #99999999999999",),
    ("/我的绩效 2026-13",),
    ("/帮助 不存在的命令",),
    ("/扣分 ", {"type": "at", "data": {"qq": "all"}}, " 迟到"),
    ("/扣分 ", {"type": "at", "data": {"qq": "99999"}}, " 迟到"),
    ("/扣分 ", *[at(39000 + i) for i in range(25)], " 迟到 2"),
    ("/扣分 ", at(38001), " 不存在的项目"),
    ("/扣分 ", at(38001), " 迟到 101"),
    ("/扣分 ", at(38001), " 迟到 2099-01"),
    ("/加分 ", at(38001), " 投诉"),
    ("/严重投诉 ", at(38001), " 1e9"),
    ("/严重投诉 ", at(38001), " 100000.001"),
    ("/请假 ", at(38001), " 0.5"),
    ("/撤销 #99999999999999",),
    ("/绩效 不存在的人",),
    ("/明细 ", at(38001), " 0000-00"),
    ("/结算 2999-12",),
    ("/导出 1900-01",),
    ("/入职 ", at(38002), " " + "名" * 50),
    ("/申诉 #1",),
    ("/申诉 #99999999 理由",),
    ("/驳回 abc",),
    ("/未报 2026-02-30",),
    ("/提醒 25:99",),
    ("/绑定 " + "长" * 40,),
]


async def test_odd_input_is_answered_with_a_reason_never_an_internal_error(qq: OneBotV11Sim):
    g = 21008
    await bind(qq, g, "售后七组")
    qq.add_member(g, 38001, card="卫三")
    assert one(await qq.say(g, 38001, "/朋友圈")).startswith("✅")
    users = [38100 + i for i in range(len(ODD_INPUTS))]
    results = await asyncio.gather(
        *(
            qq.say(g, u, *parts, card=f"测{u}", role="admin", timeout=60)
            for u, parts in zip(users, ODD_INPUTS, strict=True)
        )
    )
    await asyncio.sleep(0.5)
    broken = {}
    for u, parts in zip(users, ODD_INPUTS, strict=True):
        replies = qq.replies(g, u)
        if len(replies) != 1 or "出错了" in replies[0] or not replies[0].strip():
            broken[str(parts)[:80]] = replies
    assert not broken, broken
    assert all(r for r in results)


async def test_commands_as_real_qq_clients_wrap_them_are_understood(
    bot: BotProcess, qq: OneBotV11Sim
):
    """SPEC §3 "What real clients send", through the real adapter and `get_msg`."""
    g = 21009
    zhang, boss = 31901, 31909
    await bind(qq, g, "售后八组")
    qq.add_member(g, boss, card="钱主管")
    assert one(await qq.say(g, OWNER, "/主管 ", at(boss), role="owner")).startswith("✅")
    unreachable = {"type": "reply", "data": {"id": "1"}}  # get_msg fails for it
    r = one(await qq.say(g, zhang, unreachable, "/加好友 5", card="张三"))
    assert r.endswith("QQ/微信加好友 已记录（本月 5/60，推广绩效 0.2/10）"), r
    r = one(await qq.say(g, zhang, "／加好友 ５"))
    assert r.endswith("QQ/微信加好友 已记录（本月 10/60，推广绩效 0.3/10）"), r
    r = one(await qq.say(g, zhang, image(), "/朋友圈 今日更新"))
    assert r.endswith("朋友圈/空间维护 已记录（本月 1/20，推广绩效 0.4/10）"), r
    chat = await qq.post(g, zhang, "亲，稍等一下")  # an ordinary message: no answer
    quoted = {"type": "reply", "data": {"id": str(chat)}}
    r = one(await qq.say(g, boss, quoted, at(zhang), " /投诉 回复慢"))
    assert re.fullmatch(
        r"✅ #\d+ 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87\.4）", r
    ), r
    r = one(await qq.say(g, zhang, "/加好友 " + "1" * 5000))
    assert (
        r
        == "❌ 好友数量必须是 1–500 的整数，收到 11111111111111111111…\n用法：/加好友 <个数> [备注]"
    )
    sql = (
        "SELECT e.note, e.image_file FROM entry e JOIN team t ON t.id = e.team_id"
        " WHERE t.name = :team"
    )
    assert [note for note, image_file in await bot.rows(sql, team="售后八组") if image_file] == [
        "今日更新"
    ]


async def test_a_reply_names_the_quoted_agent_only_when_quoted_in_this_group(qq: OneBotV11Sim):
    """SPEC §3: a supervisor's reply to an agent's message is about that agent; issue 20 #6:
    a message quoted from another group names no one (`get_msg` tells the chat, as NapCat)."""
    g, elsewhere = 21010, 21011
    zhang, stranger, boss = 31911, 31912, 31919
    await bind(qq, g, "售后九组")
    qq.add_member(g, boss, card="孙主管")
    assert one(await qq.say(g, OWNER, "/主管 ", at(boss), role="owner")).startswith("✅")
    assert one(await qq.say(g, zhang, "/加好友 3", card="张三")).startswith("✅")
    mine = await qq.post(g, zhang, "亲，稍等一下")
    r = one(await qq.say(g, boss, {"type": "reply", "data": {"id": str(mine)}}, "/投诉 回复慢"))
    assert re.fullmatch(r"✅ #\d+ 张三 业务绩效·客户投诉 −3（.*）", r), r
    theirs = await qq.post(elsewhere, stranger, "外群的消息", card="路人")
    r = one(await qq.say(g, boss, {"type": "reply", "data": {"id": str(theirs)}}, "/投诉 回复慢"))
    assert r.startswith("❌"), r
    assert "路人" not in r, r
    assert str(stranger) not in r, r
