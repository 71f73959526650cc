"""Issue 25, SPEC §4 "Evidence checks", end to end in chat on the test's database engine: the
snapshot after the ✅ (never delaying it), `/核查` flagging removed links and the same
article under two URLs, the agent's private message, `/申诉` of a flag, `/保留` and
`/撤销` by people, the month's summary; reused screenshots in any month; and the switch."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App
from sqlalchemy import select

import bot.evidence
import bot.fetch
import bot.linkcheck
from bot import db, door
from bot.config import Config, get_config
from models.ledger import Refused
from models.linkcheck import (
    flags_of,
    keep,
    month_summary,
    pending_flags,
    preview_lines,
)
from models.periods import current_period, set_clock
from models.tables import Entry, EvidenceFlag, LinkCheck, Member
from tests.linkcheck_site import Site, serve
from tests.utils import BOT_ID, OWNER, Capture, bind, group_event, image, plain, said, say

ZHANG, LI = 30001, 30002
WX = "mp.weixin.qq.com"
ADMIN = 10002


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """The local site under the name mp.weixin.qq.com (fake DNS, allowed by name)."""
    real = bot.fetch._resolve

    async def fake(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host in (WX, "127.0.0.1") else await real(host, port)

    monkeypatch.setattr(bot.fetch, "_resolve", fake)
    allowed = Config(kpi_fetch_allow_hosts=f"{WX},127.0.0.1").kpi_fetch_allow_hosts
    monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", allowed)
    monkeypatch.setattr(bot.fetch, "_slots", weakref.WeakKeyDictionary())
    monkeypatch.setattr(bot.linkcheck, "_hosts", weakref.WeakKeyDictionary())
    monkeypatch.setattr(bot.evidence, "_usage", {})
    with serve() as s:
        yield s


async def rows(model) -> list:
    async with db.reading() as s:
        return list((await s.execute(select(model).order_by(model.id))).scalars())


async def supervise(app: App, text: str, *, api=()) -> list[str]:
    event = group_event(text, ADMIN, role="admin", card="王主管")
    return [plain(r) for r in await say(app, event, api=api)]


def private_to(user_id: int, sink: list[str]) -> tuple[str, dict, object]:
    return ("send_private_msg", {"user_id": user_id, "message": Capture(sink)}, {"message_id": 1})


async def report(app: App, text, user_id: int, card: str) -> str:
    return plain(await said(app, text, user_id, card=card))


async def test_a_month_with_deleted_links_is_flagged_and_people_keep_or_revoke(
    app: App, site: Site
):
    await bind(app)
    assert (await report(app, f"/软文 {site.url('/a/1', WX)}", ZHANG, "张三")).startswith("✅ #1")
    assert (await report(app, f"/软文 {site.url('/b/2', WX)}", LI, "李四")).startswith("✅ #2")
    assert (await report(app, f"/自媒体 {site.url('/a/3', WX)}", LI, "李四")).startswith("✅ #3")
    await bot.linkcheck.wait_snapshots()

    snapshots = sorted(await rows(LinkCheck), key=lambda c: c.entry_id)
    assert [(c.entry_id, c.kind, c.verdict) for c in snapshots] == [
        (1, "snapshot", "alive"),
        (2, "snapshot", "alive"),
        (3, "snapshot", "alive"),
    ]
    assert snapshots[0].title == "售后服务流程分享"
    assert snapshots[0].url == site.url("/a/1", WX)  # as reported, not the https key
    assert snapshots[0].fingerprint == snapshots[2].fingerprint
    flags = await rows(EvidenceFlag)  # the same article under two URLs, at report time
    assert [(f.entry_id, f.kind, f.earlier_entry_id) for f in flags] == [(3, "same_article", 1)]
    assert flags[0].notified_at is None  # no bot was online to tell 李四: told later

    site.gone |= {"/a/1", "/b/2"}
    told_zhang: list[str] = []
    told_li: list[str] = []
    api = [private_to(ZHANG, told_zhang), private_to(LI, told_li), private_to(LI, told_li)]
    (reply,) = await supervise(app, "/核查", api=api)
    period = current_period(get_config().tz)
    assert reply.startswith(f"🔎 {period} 核查 3 条链接：正常 1，已删除 2，无法确认 0")
    assert "待核实 3 条" in reply
    assert "#1 张三 自建渠道软文 链接已删除（HTTP 404）" in reply
    assert "#2 李四 自建渠道软文 链接已删除（HTTP 404）" in reply
    assert "#3 李四 自媒体平台推广 重复文章（与 #1 张三 同一篇）" in reply
    assert "/保留 #编号" in reply
    assert all(e.revoked_at is None for e in await rows(Entry))  # nobody revoked anything yet

    (zhang_note,) = [plain(t) for t in told_zhang]
    assert "#1 自建渠道软文" in zhang_note
    assert site.url("/a/1", WX).replace("http://", "https://") in zhang_note
    assert "链接已删除（HTTP 404）" in zhang_note
    assert "/申诉 #1" in zhang_note
    assert [("#2" in plain(t), "#3" in plain(t)) for t in told_li] == [(True, False), (False, True)]

    (kept,) = await supervise(app, "/保留 #1 文章搬家了，已核实")
    assert kept == "✅ 已保留 #1 张三（链接已删除），照常计分"
    (revoked,) = await supervise(app, "/撤销 #2 文章已删")
    assert revoked.startswith("✅ 已撤销 #2 李四")
    appeal = plain(await said(app, "/申诉 #3 这是我自己写的另一篇", LI, card="李四"))
    assert appeal.startswith("✅ 已提交对 #3 核查结果的申诉（理由：这是我自己写的另一篇）")
    assert "/保留 #3" in appeal

    (again,) = await supervise(app, "/核查")  # nothing new to tell anyone
    assert "待核实 1 条" in again
    assert (
        "#3 李四 自媒体平台推广 重复文章（与 #1 张三 同一篇）；申诉：这是我自己写的另一篇" in again
    )
    assert "\n#1 " not in again

    def summary(s):
        return month_summary(s, 1, period)

    got = await door.read(summary)
    assert got is not None
    assert got.text == "核查 3 条链接，已删除 2 条，撤销 1 条"
    assert (got.open, got.flagged) == (1, 3)
    names = {"media": "自媒体平台推广", "article": "自建渠道软文"}
    preview = await door.read(lambda s: preview_lines(s, 1, period, names))
    assert preview[0] == "🔎 核查 3 条链接，已删除 2 条，撤销 1 条"
    assert preview[1] == "待核实 1 条："
    monthly = "\n".join(await supervise(app, "/月报"))  # the supervisors' preview
    assert "🔎 核查 3 条链接，已删除 2 条，撤销 1 条" in monthly
    assert "待核实 1 条：" in monthly
    assert "#3 李四 自媒体平台推广 重复文章（与 #1 张三 同一篇）" in monthly
    mine = plain(await said(app, "/我的绩效", ZHANG, card="张三"))
    assert "软文 1/8" in mine  # kept: it counts
    entries = {e.id: e for e in await rows(Entry)}
    assert entries[1].revoked_at is None
    assert entries[2].revoked_by_name == "王主管"
    assert entries[3].revoked_at is None


async def test_only_supervisors_keep_and_only_flagged_entries(app: App, site: Site):
    await bind(app)
    await report(app, f"/软文 {site.url('/a/1', WX)}", ZHANG, "张三")
    await bot.linkcheck.wait_snapshots()
    no_flag = await supervise(app, "/保留 #1")
    assert no_flag[0].startswith("❌ #1 没有待核实的标记")
    site.gone.add("/a/1")
    await bot.linkcheck.recheck_month(1, current_period(get_config().tz))
    agent = plain(await said(app, "/保留 #1", ZHANG, card="张三"))
    assert agent.startswith("❌ 只有本团队的主管可以这样做")
    missing = await supervise(app, "/保留 #99")
    assert missing[0].startswith("❌ 本团队没有 #99")
    assert (await supervise(app, "/保留"))[0].startswith("❌ 请写要保留的编号")
    assert len(await door.read(lambda s: pending_flags(s, 1))) == 1


async def test_nobody_keeps_their_own_flagged_entry(app: App, site: Site):
    await bind(app)
    await report(app, f"/软文 {site.url('/a/1', WX)}", ZHANG, "张三")
    await bot.linkcheck.wait_snapshots()
    site.gone.add("/a/1")
    await bot.linkcheck.recheck_month(1, current_period(get_config().tz))

    def own(s):
        member = s.execute(select(Member).where(Member.user_id == str(ZHANG))).scalar_one()
        return keep(s, 1, 1, f"qq:{ZHANG}", "张三", member.id)

    with pytest.raises(Refused, match="不能处理自己的记录"):
        await door.write(1, own)
    flags = await door.read(lambda s: flags_of(s, 1))
    assert [f.state for f in flags] == ["open"]


async def test_the_ok_is_not_delayed_by_a_slow_page(app: App, site: Site, monkeypatch):
    monkeypatch.setattr(bot.linkcheck, "TIMEOUT", 2.0)
    await bind(app)
    start = time.monotonic()
    reply = await report(app, f"/软文 {site.url('/slow', WX)}", ZHANG, "张三")
    assert reply.startswith("✅ #1")
    assert time.monotonic() - start < 3
    assert await rows(LinkCheck) == []  # the page is still being read
    await asyncio.wait_for(bot.linkcheck.wait_snapshots(), 15)
    (snap,) = await rows(LinkCheck)
    assert (snap.verdict, snap.reason) == ("unknown", "超时")


async def test_a_reported_loopback_link_is_never_fetched(app: App, site: Site, monkeypatch):
    monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", "")
    await bind(app)
    assert (await report(app, f"/软文 {site.url('/a/1')}", ZHANG, "张三")).startswith("✅ #1")
    await bot.linkcheck.wait_snapshots()
    (snap,) = await rows(LinkCheck)
    assert (snap.verdict, snap.reason) == ("unknown", "不允许访问的地址")
    assert site.hits["/a/1"] == 0


async def test_the_same_screenshot_in_another_month_is_flagged_naming_the_first(
    app: App, site: Site
):
    await bind(app)
    set_clock(datetime(2026, 10, 20, 4, 0, tzinfo=timezone.utc))
    shot = site.url("/shot?seed=1&fmt=PNG")
    assert (await report(app, ["/朋友圈 ", image(shot, "a.image")], ZHANG, "张三")).startswith(
        "✅ #1"
    )
    await bot.evidence.wait_downloads()
    set_clock(datetime(2026, 11, 5, 4, 0, tzinfo=timezone.utc))
    again = site.url("/shot?seed=1&fmt=JPEG&w=360")  # re-encoded and resized
    other = site.url("/shot?seed=2&fmt=PNG")
    text = ["/加好友 20 ", image(again, "b.image")]
    assert (await report(app, text, LI, "李四")).startswith("✅ #2")
    assert (await report(app, ["/朋友圈 ", image(other, "c.image")], LI, "李四")).startswith(
        "✅ #3"
    )
    await bot.evidence.wait_downloads()
    entries = await rows(Entry)
    assert all(e.image_path for e in entries)
    assert entries[0].period == "2026-10"
    flags = await door.read(lambda s: flags_of(s, 1))
    assert [(f.entry_id, f.kind, f.earlier_entry_id, f.period) for f in flags] == [
        (2, "same_image", 1, "2026-11")
    ]
    assert flags[0].why == "重复截图（与 #1 张三 同一张）"

    told: list[str] = []
    async with app.test_api() as ctx:
        ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        ctx.should_call_api(*private_to(LI, told))
        assert await bot.linkcheck.notify([flags[0].flag_id]) == 1
    assert "#2 QQ/微信加好友" in plain(told[0])
    assert "重复截图（与 #1 张三 同一张）" in plain(told[0])
    assert await bot.linkcheck.notify([flags[0].flag_id]) == 0  # told once


async def test_switched_off_nothing_is_fetched_or_checked(app: App, site: Site, monkeypatch):
    monkeypatch.setattr(get_config(), "kpi_linkcheck", False)
    await bind(app)
    await report(app, f"/软文 {site.url('/a/1', WX)}", ZHANG, "张三")
    await bot.linkcheck.wait_snapshots()
    (off,) = await supervise(app, "/核查")
    assert off.startswith("❌ 链接核查已关闭")
    assert await bot.linkcheck.recheck_due(datetime(2026, 11, 30, 6, 0)) == []
    assert await rows(LinkCheck) == []
    assert site.hits["/a/1"] == 0


async def test_the_daily_job_rechecks_each_team_on_the_last_days_only(app: App, site: Site):
    await bind(app)
    set_clock(datetime(2026, 11, 20, 4, 0, tzinfo=timezone.utc))
    await report(app, f"/软文 {site.url('/a/1', WX)}", ZHANG, "张三")
    await bot.linkcheck.wait_snapshots()
    site.gone.add("/a/1")
    assert await bot.linkcheck.recheck_due(datetime(2026, 11, 27, 6, 0)) == []
    (done,) = await bot.linkcheck.recheck_due(datetime(2026, 11, 28, 6, 0))
    assert (done.team_id, done.period, done.counts["removed"]) == (1, "2026-11", 1)
    assert await bot.linkcheck.recheck_due(datetime(2026, 11, 28, 6, 0)) == []  # claimed once
    assert site.hits["/a/1"] == 2  # the snapshot and one re-check
    flags = await rows(EvidenceFlag)
    assert [(f.entry_id, f.kind) for f in flags] == [(1, "removed")]
    assert flags[0].notified_at is None  # no bot online: told at the next check


async def test_a_month_with_no_links_says_so(app: App):
    await bind(app)
    (reply,) = await supervise(app, "/核查 上月")
    assert reply.endswith("没有需要核查的链接")
    (bad,) = await supervise(app, "/核查 2099-01")
    assert bad.startswith("❌ 2099-01 还没到")


async def test_an_ordinary_appeal_of_a_deduction_still_works(app: App):
    from tests.utils import at

    await bind(app)
    await report(app, "/朋友圈", ZHANG, "张三")
    await said(app, ["/投诉 ", at(ZHANG), " 态度差"], OWNER, role="owner")
    reply = plain(await said(app, "/申诉 #2 客户认错人了", ZHANG, card="张三"))
    assert reply.startswith("✅ 已提交对 #2")
    assert "核查结果" not in reply


async def test_a_teams_snapshots_fetched_together_are_recorded_in_one_write(
    app: App, site: Site, monkeypatch: pytest.MonkeyPatch
):
    """A run of reports is one write of their snapshots, not one each (each write is a
    transaction of the team's lane, competing with the next report)."""
    await bind(app)
    links = [site.url(f"/a/{n}", WX) for n in range(1, 5)]
    for n, link in enumerate(links):
        assert (await report(app, f"/软文 {link}", ZHANG + n, f"客服{n}")).startswith("✅")
    await bot.linkcheck.wait_snapshots()
    before = len(await rows(LinkCheck))
    writes: list[object] = []
    real = door.write

    async def counted(team_id, work, **how):
        writes.append(team_id)
        return await real(team_id, work, **how)

    monkeypatch.setattr(door, "write", counted)
    entries = await rows(Entry)
    team_id, ids = entries[0].team_id, [e.id for e in entries]
    assert len(ids) == len(links)
    await asyncio.gather(*(bot.linkcheck.snapshot(team_id, i, links[0]) for i in ids))
    assert writes == [team_id]
    assert len(await rows(LinkCheck)) == before + len(ids)


async def test_snapshots_waiting_for_a_cancelled_batch_end_with_it(monkeypatch: pytest.MonkeyPatch):
    """Shutdown cancels the snapshot that writes its team's batch: the others waiting on
    that batch end too (nothing hangs the shutdown's wait)."""
    from models.linkcheck import CheckResult
    from models.periods import utcnow

    async def fetched(entry_id, url, kind="recheck"):
        return CheckResult(entry_id, kind, url, "unknown", "抓取失败", utcnow())

    monkeypatch.setattr(bot.linkcheck, "check", fetched)
    monkeypatch.setattr(db, "engine", lambda: "the engine")
    first = asyncio.create_task(bot.linkcheck.snapshot(7, 1, "https://a.example/1"))
    await asyncio.sleep(0)
    second = asyncio.create_task(bot.linkcheck.snapshot(7, 2, "https://a.example/2"))
    await asyncio.sleep(0.01)
    first.cancel()
    done = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 2)
    assert all(isinstance(d, asyncio.CancelledError) for d in done), done
    assert 7 not in bot.linkcheck._batches
