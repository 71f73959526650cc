"""SPEC §4 nudges: the daily reminder (controlled clock) and /未报."""

from datetime import datetime, timedelta, timezone

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App

from bot.config import get_config
from models.periods import set_clock
from tests.utils import BOT_ID, GROUP, OWNER, Capture, at, bind, said

SHANGHAI = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)
TUESDAY_1730 = datetime(2026, 11, 24, 17, 30, tzinfo=SHANGHAI)


@pytest.fixture
def reminder_at_1730(monkeypatch):
    monkeypatch.setattr(get_config(), "kpi_daily_reminder", "17:30")


async def team_with_three_agents(app: App) -> None:
    """Monday: 张三 30001, 李四 30002, 王五 30003 report; 赵六 30004 reports then leaves."""
    set_clock(MONDAY)
    await bind(app)
    await said(app, "/软文 https://e.com/1", 30001, card="张三")
    await said(app, "/加好友 40", 30002, card="李四")
    await said(app, "/朋友圈", 30003, card="王五")
    await said(app, "/朋友圈", 30004, card="赵六")
    await said(app, ["/离职 ", at(30004)], OWNER, role="owner")


async def run_reminder(app: App, now: datetime, messages: int) -> list[str]:
    from plugins.nudge import remind_due

    out: list[str] = []
    set_clock(now)
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for _ in range(messages):
            ctx.should_call_api(
                "send_group_msg", {"group_id": GROUP, "message": Capture(out)}, {"message_id": 1}
            )
        assert await remind_due(now) == messages
    return out


async def test_reminder_at_the_set_time_mentions_exactly_who_has_not_reported(
    app: App, reminder_at_1730
):
    await team_with_three_agents(app)
    set_clock(TUESDAY_1730 - timedelta(hours=3))
    await said(app, "/软文 https://e.com/2", 30001, card="张三")
    [text] = await run_reminder(app, TUESDAY_1730, 1)
    assert "[CQ:at,qq=30001]" not in text
    assert "[CQ:at,qq=30004]" not in text  # left the team
    assert "[CQ:at,qq=30002] 还差 8 篇软文、2 篇付费软文" in text
    assert "[CQ:at,qq=30003] 还差 8 篇软文、2 篇付费软文" in text


async def test_reminder_is_not_sent_twice_nor_late_nor_at_another_minute(
    app: App, reminder_at_1730
):
    await team_with_three_agents(app)
    await run_reminder(app, TUESDAY_1730, 1)
    await run_reminder(app, TUESDAY_1730 + timedelta(seconds=30), 0)  # same minute again
    # Restart after the time on Wednesday: a missed reminder is skipped, not sent late.
    await run_reminder(app, TUESDAY_1730 + timedelta(days=1, minutes=12), 0)
    await run_reminder(app, TUESDAY_1730 + timedelta(days=1, minutes=-1), 0)


async def test_reminder_only_on_the_configured_days(app: App, reminder_at_1730):
    await team_with_three_agents(app)
    saturday = TUESDAY_1730 + timedelta(days=4)
    await run_reminder(app, saturday, 0)
    get_config().kpi_reminder_days = "all"
    try:
        await run_reminder(app, saturday, 1)
    finally:
        get_config().kpi_reminder_days = "mon-fri"


async def test_reminder_is_silent_when_everyone_reported(app: App, reminder_at_1730):
    await team_with_three_agents(app)
    set_clock(TUESDAY_1730 - timedelta(hours=1))
    for uid in (30001, 30002, 30003):
        await said(app, "/朋友圈", uid)
    await run_reminder(app, TUESDAY_1730, 0)


async def test_team_remind_command_overrides_and_turns_off(app: App):
    await team_with_three_agents(app)
    assert (
        await said(app, "/提醒 18:05", OWNER, role="owner")
        == "✅ 每天 18:05 提醒还没报的同事（mon-fri）"
    )
    await run_reminder(app, TUESDAY_1730, 0)
    await run_reminder(app, TUESDAY_1730.replace(hour=18, minute=5), 1)
    assert await said(app, "/提醒 关闭", OWNER, role="owner") == "✅ 本团队的每日提醒已关闭"
    await run_reminder(app, TUESDAY_1730.replace(hour=18, minute=5) + timedelta(days=1), 0)
    assert (await said(app, "/提醒 25:00", OWNER, role="owner")).startswith("❌ 请写提醒时间")


async def test_missing_lists_names_and_gaps_for_a_supervisor(app: App):
    await team_with_three_agents(app)
    set_clock(TUESDAY_1730)
    await said(app, "/软文 https://e.com/3", 30001, card="张三")
    reply = await said(app, "/未报", OWNER, role="owner")
    assert reply == (
        "📋 2026-11-24 还没报的 2 人：\n"
        "李四：还差 8 篇软文、2 篇付费软文\n"
        "王五：还差 8 篇软文、2 篇付费软文"
    )
    assert (
        await said(app, "/未报 2026-11-23", OWNER, role="owner")
    ) == "✅ 2026-11-23 大家都报过了"
    assert (await said(app, "/未报", 30002)).startswith("❌ 只有本团队的主管")
