"""SPEC §4: settle on schedule, exactly once, catch up after downtime, reopen, export."""

import asyncio
import io
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App
from openpyxl import load_workbook
from sqlalchemy import func, select

from bot import db
from models.periods import set_clock
from models.settlement import claim_post, settle
from models.tables import Entry, Post, Settlement
from tests.utils import BOT_ID, GROUP, OWNER, SUPER, Capture, at, bind, said

UTC = timezone.utc


def monthly():
    """The plugin module (imported after NoneBot is initialised)."""
    import plugins.monthly

    return plugins.monthly


async def flush_posts() -> int:
    return await monthly().flush_posts()


async def settle_due():
    return await monthly().settle_due()


def monthly_trigger():
    return monthly().monthly_trigger()


SHANGHAI = timezone(timedelta(hours=8))


async def month_of_october(app: App) -> None:
    """Team bound on 2026-10-05; 张三 reports 4 articles, gets one complaint."""
    set_clock(datetime(2026, 10, 5, 9, 0, tzinfo=SHANGHAI))
    await bind(app)
    for n in range(4):
        await said(app, f"/软文 https://example.com/oct/{n}", 30001, card="张三")
    await said(app, ["/投诉 ", at(30001)], OWNER, role="owner")


async def count(model, *where) -> int:
    async with db.reading() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar()


async def flush_expecting(app: App, n_messages: int) -> list[str]:
    """Run the outbox with a connected bot; expect n group messages."""
    out: list[str] = []
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for _ in range(n_messages):
            ctx.should_call_api(
                "send_group_msg", {"group_id": GROUP, "message": Capture(out)}, {"message_id": 1}
            )
        await flush_posts()
    return out


def test_job_fires_on_the_1st_at_10_shanghai_time_even_when_the_server_runs_in_utc():
    """Default cron `0 10 1 * *` in Asia/Shanghai: 2026-12-01 10:00 +08:00 = 02:00 UTC."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        fire = monthly_trigger().get_next_fire_time(None, datetime(2026, 11, 28, tzinfo=UTC))
        assert fire.astimezone(UTC) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        fire = monthly_trigger().get_next_fire_time(None, fire + timedelta(seconds=1))
        assert fire.astimezone(UTC) == datetime(2027, 1, 1, 2, 0, tzinfo=UTC)
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


async def test_restart_after_the_1st_catches_up_exactly_once_and_posts_when_a_bot_connects(
    app: App,
):
    await month_of_october(app)
    set_clock(datetime(2026, 11, 1, 9, 59, tzinfo=SHANGHAI))
    assert await settle_due() == []  # not due before 10:00
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))  # the bot was down on the 1st
    done = await settle_due()
    assert [p for _, p in done] == ["2026-10"]
    assert await settle_due() == []  # a second start settles nothing
    # No bot connected: the post stays pending instead of failing.
    assert await flush_posts() == 0
    async with db.reading() as s:
        post = (await s.execute(select(Post))).scalar_one()
    assert post.status == "pending"
    assert post.attempts == 0
    texts = await flush_expecting(app, 1)
    assert "「客服一组」2026-10 月度绩效" in texts[0]
    assert "1. 张三 10/47/30/1 88.0 B" in texts[0]  # 4/8 articles × 2 = 1; 50 − 3 = 47
    assert "当月共 5 条记录，客户投诉 1 次" in texts[0]  # counted by the rubric's count_as
    assert await flush_expecting(app, 0) == []  # posted once


async def test_two_processes_on_one_database_settle_and_post_once(app: App, fresh_db):
    """Two engines (as two bot processes) race to settle and to claim the post."""
    from bot.runtime import rubric

    await month_of_october(app)
    set_clock(datetime(2026, 11, 1, 10, 0, 1, tzinfo=SHANGHAI))
    engines = [db.make_engine(fresh_db) for _ in range(2)]

    async def settle_with(engine):
        from sqlalchemy.ext.asyncio import AsyncSession

        bind = engine.execution_options(sqlite_begin="IMMEDIATE")
        async with AsyncSession(bind, expire_on_commit=False) as s, s.begin():
            return (await s.run_sync(settle, rubric(), 1, "2026-10", "system", None)).created

    async def claim_with(engine, post):
        from sqlalchemy.ext.asyncio import AsyncSession

        bind = engine.execution_options(sqlite_begin="IMMEDIATE")
        async with AsyncSession(bind, expire_on_commit=False) as s, s.begin():
            return await s.run_sync(claim_post, post)

    try:
        created = await asyncio.gather(*(settle_with(e) for e in engines))
        assert sorted(created) == [False, True]
        async with db.reading() as s:
            post = (await s.execute(select(Post))).scalar_one()
        claims = await asyncio.gather(*(claim_with(e, post) for e in engines))
        assert sorted(claims) == [False, True]
    finally:
        for e in engines:
            await e.dispose()
    assert await count(Settlement) == 1


async def test_settle_twice_posts_once(app: App):
    await month_of_october(app)
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    assert (
        await said(app, "/结算 2026-10", OWNER, role="owner")
        == "✅ 2026-10 已结算，1 人，月报马上发到群里"
    )
    again = await said(app, "/结算 2026-10", OWNER, role="owner")
    assert again.startswith("❌ 2026-10 已结算过，不会重复播报")
    assert await count(Post) == 1
    assert len(await flush_expecting(app, 1)) == 1


async def test_current_month_cannot_be_settled_before_it_ends(app: App):
    await month_of_october(app)
    reply = await said(app, "/结算 本月", OWNER, role="owner")
    assert reply.startswith("❌ 2026-10 还没结束")
    assert await count(Settlement) == 0


async def test_reopen_then_settle_posts_one_correction(app: App):
    await month_of_october(app)
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    await said(app, "/结算 上月", OWNER, role="owner")
    await flush_expecting(app, 1)
    assert (await said(app, "/重开 2026-10", OWNER, role="owner")).startswith("❌ 只有超级管理员")
    assert (await said(app, "/重开 2026-10", SUPER)).startswith("✅ 2026-10 已重开")
    await said(app, "/撤销 #5 投诉不成立", OWNER, role="owner")
    assert (await said(app, "/结算 2026-10", OWNER, role="owner")).startswith("✅ 2026-10 已更正")
    texts = await flush_expecting(app, 1)
    assert "【更正】" in texts[0]
    assert "1. 张三 10/50/30/1 91.0 A" in texts[0]
    assert await flush_expecting(app, 0) == []


async def test_settled_month_refuses_deductions_reports_and_revocations(app: App):
    await month_of_october(app)
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    await said(app, "/结算 2026-10", OWNER, role="owner")
    before = await count(Entry)
    reply = await said(app, ["/扣分 ", at(30001), " 迟到 2026-10"], OWNER, role="owner")
    assert reply.startswith("❌ 2026-10 已结算")
    assert (await said(app, "/撤销 #1", OWNER, role="owner")).startswith("❌ 2026-10 已结算")
    set_clock(datetime(2026, 10, 31, 23, 0, tzinfo=SHANGHAI))  # a late message for October
    reply = await said(app, "/软文 https://example.com/late", 30001, card="张三")
    assert reply.startswith("❌ 2026-10 已结算")
    assert await count(Entry) == before
    assert await count(Entry, Entry.revoked_at.is_not(None)) == 0


async def test_settled_month_keeps_its_rubric_when_the_file_changes(app: App, monkeypatch):
    from bot import runtime
    from models.rubric import parse_rubric

    await month_of_october(app)
    set_clock(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    await said(app, "/结算 2026-10", OWNER, role="owner")
    text = runtime.rubric().text.replace(
        'points = -3\ncommands = ["投诉"', 'points = -5\ncommands = ["投诉"'
    )
    edited = parse_rubric(text, "edited.toml")
    assert edited.version != runtime.rubric().version
    monkeypatch.setattr(runtime, "rubric", lambda: edited)
    card = await said(app, "/我的绩效 2026-10", 30001, card="张三")
    assert "业务绩效 47/50" in card
    assert "总分 88.0" in card


async def test_export_workbook_numbers_equal_the_scoring_engine(app: App):
    from bot.runtime import rubric
    from models.ledger import month_ranking

    await month_of_october(app)
    await said(app, "/加好友 45", 30002, card="李四")
    files: list[str] = []
    out = []
    async with app.test_matcher() as ctx:
        from tests.utils import group_event

        adapter = ctx.create_adapter(base=Adapter)
        bot = ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        event = group_event("/导出", OWNER, role="owner")
        ctx.receive_event(bot, event)
        ctx.should_call_api(
            "upload_group_file",
            {"group_id": GROUP, "file": Capture(files), "name": "客服一组-2026-10-绩效.xlsx"},
            None,
        )
        ctx.should_call_send(event, Capture(out), {"message_id": 1})
    assert out[0] == "✅ 已导出 2026-10 绩效表（2 人，6 条记录），文件已上传到群文件"
    import base64

    wb = load_workbook(io.BytesIO(base64.b64decode(files[0].removeprefix("base64://"))))
    summary = wb["汇总"]
    rows = {r[1]: r for r in summary.iter_rows(min_row=3, values_only=True)}
    async with db.reading() as s:
        ranking = await s.run_sync(month_ranking, rubric(), 1, "2026-10", None)
    for r in ranking:
        row = rows[r.member.name]
        assert row[0] == r.rank
        assert [pytest.approx(float(c.earned)) for c in r.score.categories] == list(row[3:7])
        assert row[7] == pytest.approx(float(r.score.total))
        assert row[8] == r.score.grade
    assert rows["李四"][7] == pytest.approx(91.5)  # 45/60 × 2 = 1.5
    detail = list(wb["明细"].iter_rows(min_row=2, values_only=True))
    assert [d[0] for d in detail] == [1, 2, 3, 4, 5, 6]
    assert detail[4][4] == "客户投诉"
    assert detail[4][6] == -3


ROOT = str(Path(__file__).resolve().parent.parent)


async def test_export_cli_writes_the_same_workbook(app: App, fresh_db, tmp_path):
    """`python -m bot export`, run as a user runs it, reads the same `.env` settings."""
    import subprocess
    import sys

    await month_of_october(app)
    await db.dispose()
    (tmp_path / ".env").write_text(
        f"KPI_DATABASE_URL={fresh_db}\nKPI_TIMEZONE=Asia/Shanghai\n", encoding="utf-8"
    )
    out = tmp_path / "oct.xlsx"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "export", "--team", "客服一组", "--month", "2026-10",
         "-o", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ROOT},
    )  # fmt: skip
    db.init_engine(fresh_db)
    assert done.returncode == 0, done.stderr
    assert "✅ 已导出到" in done.stdout
    rows = list(load_workbook(out)["汇总"].iter_rows(min_row=3, values_only=True))
    assert rows[0][1] == "张三"
    assert rows[0][7] == pytest.approx(88.0)


async def test_monthly_dm_sends_each_agent_their_breakdown_once(app: App, monkeypatch):
    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_monthly_dm", True)
    await month_of_october(app)
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    group: list[str] = []
    private: list[str] = []
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        ctx.should_call_api(
            "send_group_msg", {"group_id": GROUP, "message": Capture(group)}, {"message_id": 1}
        )
        ctx.should_call_api(
            "send_private_msg", {"user_id": 30001, "message": Capture(private)}, {"message_id": 2}
        )
        assert await flush_posts() == 2
    assert private[0].startswith("📋 张三 2026-10 绩效")
    assert "总分 88.0（B）" in private[0]
    assert await flush_expecting(app, 0) == []


async def test_monthly_dm_tells_apart_one_user_id_on_two_platforms(app: App, monkeypatch):
    """The same user id on QQ and on WeChat is two people (SPEC §2): each DM finds its own
    member and goes out through a bot of its own platform, or waits."""
    from bot.config import get_config
    from models.tables import Member, Tenure

    monkeypatch.setattr(get_config(), "kpi_monthly_dm", True)
    await month_of_october(app)
    async with db.writing() as s:
        twin = Member(team_id=1, platform="wechat", user_id="30001", name="微信张三")
        twin.joined_on = datetime(2026, 10, 6).date()
        s.add(twin)
        await s.flush()
        s.add(Tenure(member_id=twin.id, start=twin.joined_on))
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    private: list[str] = []
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        ctx.should_call_api("send_group_msg", {"group_id": GROUP, "message": Capture([])}, {})
        ctx.should_call_api(
            "send_private_msg", {"user_id": 30001, "message": Capture(private)}, {"message_id": 2}
        )
        assert await flush_posts() == 2
    assert private[0].startswith("📋 张三 2026-10 绩效"), private
    assert await count(Post, Post.platform == "wechat", Post.status == "pending") == 1


# ---- the outbox: never twice, and a person told when it is unknown ------------------------------


async def october_settled_and_claimed_by_a_process_that_died() -> None:
    """October settled on Nov 3; its post claimed (pending → sending) and then nothing:
    the process died after, or during, the send."""
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    async with db.writing() as s:
        post = (await s.execute(select(Post))).scalar_one()
        assert await s.run_sync(claim_post, post)


async def flush_with(app: App, calls: list[tuple[str, dict, object]]) -> int:
    """Run the outbox with a connected bot that expects exactly `calls` (result or exception)."""
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for api, data, result in calls:
            if isinstance(result, Exception):
                ctx.should_call_api(api, data, exception=result)
            else:
                ctx.should_call_api(api, data, result)
        return await flush_posts()


async def post_status() -> tuple[str, int]:
    async with db.reading() as s:
        post = (await s.execute(select(Post))).scalar_one()
    return post.status, post.attempts


async def test_a_post_stuck_in_sending_is_held_and_superusers_are_told_never_resent(app: App):
    await month_of_october(app)
    await october_settled_and_claimed_by_a_process_that_died()
    set_clock(datetime(2026, 11, 3, 8, 11, tzinfo=SHANGHAI))  # past the 10-minute lease
    told: list[str] = []
    private = {"user_id": int(SUPER), "message": Capture(told)}
    assert await flush_with(app, [("send_private_msg", private, {"message_id": 7})]) == 0
    assert told == [
        "⚠️ 「客服一组」2026-10 月报发往群 20001 时中断，不确定是否已经发出。为免重复，"
        "机器人不会自动重发。请到群里确认：没收到就在「客服一组」的群里发 /重发 2026-10"
    ]
    assert await post_status() == ("unknown", 0)
    set_clock(datetime(2026, 11, 5, 8, 0, tzinfo=SHANGHAI))
    assert await flush_with(app, []) == 0  # neither re-sent nor told twice


async def test_resend_by_a_superuser_posts_the_held_month_once(app: App):
    await month_of_october(app)
    await october_settled_and_claimed_by_a_process_that_died()
    set_clock(datetime(2026, 11, 3, 8, 11, tzinfo=SHANGHAI))
    await flush_with(
        app, [("send_private_msg", {"user_id": int(SUPER), "message": Capture([])}, {})]
    )
    refused = await said(app, "/重发 2026-10", OWNER, role="owner")
    assert refused.startswith("❌ 只有超级管理员可以这样做"), refused
    reply = await said(app, "/重发 2026-10", SUPER)
    assert reply == "✅ 2026-10 的月报已重新排队（1 条），马上发出", reply
    texts = await flush_expecting(app, 1)
    assert texts[0].startswith("📊 「客服一组」2026-10 月度绩效"), texts
    assert await post_status() == ("sent", 0)
    assert await flush_expecting(app, 0) == []
    again = await said(app, "/重发", SUPER)
    assert again.startswith("❌ 「客服一组」没有需要重发的月报"), again


async def test_a_send_that_times_out_is_held_not_retried(app: App):
    from nonebot.adapters.onebot.v11 import NetworkError

    await month_of_october(app)
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    group = {"group_id": GROUP, "message": Capture([])}
    told: list[str] = []
    calls = [
        ("send_group_msg", group, NetworkError("WebSocket call api send_group_msg timeout")),
        ("send_private_msg", {"user_id": int(SUPER), "message": Capture(told)}, {}),
    ]
    assert await flush_with(app, calls) == 0
    assert await post_status() == ("unknown", 0)
    assert "发往群 20001 时中断" in told[0], told
    set_clock(datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))
    assert await flush_with(app, []) == 0


async def test_a_send_the_implementation_refuses_is_retried_later(app: App):
    from nonebot.adapters.onebot.v11 import ActionFailed

    await month_of_october(app)
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    group = {"group_id": GROUP, "message": Capture([])}
    refused = ActionFailed(status="failed", retcode=1200, message="发送失败")
    assert await flush_with(app, [("send_group_msg", group, refused)]) == 0
    assert await post_status() == ("pending", 1)
    set_clock(datetime(2026, 11, 3, 8, 5, tzinfo=SHANGHAI))
    assert len(await flush_expecting(app, 1)) == 1
    assert await post_status() == ("sent", 1)


async def test_a_monthly_dm_that_times_out_is_held_and_names_the_agent(app: App, monkeypatch):
    from nonebot.adapters.onebot.v11 import NetworkError

    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_monthly_dm", True)
    await month_of_october(app)
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    await settle_due()
    told: list[str] = []
    calls = [
        ("send_group_msg", {"group_id": GROUP, "message": Capture([])}, {"message_id": 1}),
        ("send_private_msg", {"user_id": 30001, "message": Capture([])}, NetworkError("timeout")),
        ("send_private_msg", {"user_id": int(SUPER), "message": Capture(told)}, {}),
    ]
    assert await flush_with(app, calls) == 1
    assert told[0].startswith("⚠️ 「客服一组」2026-10 月报私信给 张三 时中断"), told
    assert "请到对方确认" in told[0], told
    assert await count(Post, Post.status == "unknown") == 1


async def test_the_monthly_post_counts_the_links_checked_and_revoked(app: App):
    """SPEC §4 Evidence checks: the post says how many links were re-checked, how many were
    found deleted, and how many of those people revoked."""
    from bot import door
    from models.linkcheck import CheckResult, record_checks
    from models.linkpage import ALIVE, REMOVED

    await month_of_october(app)
    at_ = datetime(2026, 10, 29, 6, 0, tzinfo=SHANGHAI)
    checks = [
        CheckResult(
            1, "recheck", "https://example.com/oct/0", REMOVED, "HTTP 404", at_, status=404
        ),
        CheckResult(
            2, "recheck", "https://example.com/oct/1", REMOVED, "HTTP 410", at_, status=410
        ),
        CheckResult(3, "recheck", "https://example.com/oct/2", ALIVE, "", at_, status=200),
        CheckResult(4, "recheck", "https://example.com/oct/3", ALIVE, "", at_, status=200),
    ]
    await door.write(1, lambda s: record_checks(s, checks))
    await said(app, "/撤销 #1 文章已删", OWNER, role="owner")
    set_clock(datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI))
    await settle_due()
    (text,) = await flush_expecting(app, 1)
    assert "🔎 核查 4 条链接，已删除 2 条，撤销 1 条" in text
