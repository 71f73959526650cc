"""End to end: a bot that was down on the 1st settles the missed month when it starts, posts
it once a QQ client connects, and neither a second restart nor a reconnect posts it again."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.periods import current_period, period_bounds, shift_period
from tools.onebot_sim import BotProcess, OneBotV11Sim

GROUP = 23001
OWNER = 10001
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """Not the in-process database of conftest: this test talks to a bot process."""


def posts_to(qq: OneBotV11Sim) -> list[str]:
    return [m.text for m in qq.sent if m.group_id == str(GROUP) and "月度绩效" in m.text]


async def test_missed_month_is_settled_on_start_and_posted_once_when_qq_connects(tmp_path):
    bot = BotProcess(tmp_path / "bot", env={"KPI_MONTHLY_CRON": "0 0 1 * *"})
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    await qq.connect()
    assert (await qq.say(GROUP, OWNER, "/绑定 早班组", role="owner"))[0].startswith("✅")
    assert (await qq.say(GROUP, 30001, "/软文 https://e.com/a", card="张三"))[0].startswith("✅")
    await qq.disconnect()
    await bot.stop()

    # Pretend it all happened last month (Shanghai time): its scheduled settlement, the 1st
    # at 00:00 here, passed while the bot was down.
    period = shift_period(current_period(SHANGHAI), -1)
    start = period_bounds(period)[0] + timedelta(days=1)
    created = datetime(start.year, start.month, start.day) - timedelta(hours=8)  # UTC
    await bot.rows("UPDATE team SET created_at = :t", t=created)
    await bot.rows("UPDATE entry SET period = :p", p=period)
    await bot.rows("UPDATE tenure SET start = :d", d=start)
    await bot.rows("UPDATE member SET joined_on = :d", d=start)

    await bot.start()  # no QQ client yet: settled, the post waits
    assert await bot.rows("SELECT period, status FROM settlement") == [(period, "settled")]
    assert await bot.rows("SELECT status FROM post") == [("pending",)]
    qq = OneBotV11Sim(bot.ws_url())
    await qq.connect()
    await qq.wait_for(lambda _c: len(posts_to(qq)) >= 1, timeout=20)
    assert f"「早班组」{period} 月度绩效" in posts_to(qq)[0]
    assert "1. 张三 10/50/30/0.3 90.3 A" in posts_to(qq)[0]

    await qq.disconnect()
    await bot.stop()
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    await qq.connect()
    assert (await qq.say(GROUP, 30001, "/排行 上月", card="张三"))[0].startswith("🏆")
    assert posts_to(qq) == []  # neither the restart nor the reconnect posted it again
    assert await bot.rows("SELECT count(*) FROM settlement") == [(1,)]
    assert await bot.rows("SELECT status FROM post") == [("sent",)]
    await qq.disconnect()
    await bot.stop()
