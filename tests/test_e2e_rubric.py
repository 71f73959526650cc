"""End to end: a company adds a promotion channel with its own chat command by editing the
rubric TOML alone (SPEC §1), and the bot started on that file logs through the new command."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.utils import company_rubric_text
from tools.onebot_sim import BotProcess, OneBotV11Sim

GROUP = 24001
OWNER = 10001


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """Not the in-process database of conftest: this test talks to a bot process."""


async def test_a_channel_added_in_the_toml_gets_its_command_help_and_score(tmp_path: Path):
    company = tmp_path / "company.toml"
    company.write_text(company_rubric_text(), encoding="utf-8")

    bot = BotProcess(tmp_path / "bot", env={"KPI_RUBRIC": str(company)})
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    try:
        await qq.connect()
        assert (await qq.say(GROUP, OWNER, "/绑定 视频组", role="owner"))[0].startswith("✅")
        [reply] = await qq.say(GROUP, 30001, "/短视频 https://v.douyin.com/abc 抖音", card="张三")
        # video 1/4 × 1 = 0.25 → promotion 0.25, shown 0.3
        assert reply == "✅ #1 短视频推广 已记录（本月 1/4，推广绩效 0.3/10）"
        [again] = await qq.say(GROUP, 30001, "/video https://v.douyin.com/abc", card="张三")
        assert again.startswith("❌ 该链接已在 #1 记录过")
        [helped] = await qq.say(GROUP, 30001, "/帮助 短视频", card="张三")
        assert helped == "/短视频 <链接> [平台或备注]（/video）\n自报短视频推广（目标 4条/月）"
        [table] = await qq.say(GROUP, 30001, "/考核表", card="张三")
        assert "短视频 4条=1分" in table
        assert "朋友圈 20次=1分" in table
    finally:
        await qq.disconnect()
        await bot.stop()
