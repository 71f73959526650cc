"""SPEC §5a in a real browser: the boss asks the bot (over the OneBot simulator) for a link,
logs in with headless Chromium, reads the ranking, opens an agent; screenshots for a desktop
(1280×800) and a phone (390×844) are saved under tests/output/.

Needs Debian's `chromium` (`.ci/run` installs it). Without it the test is skipped with a
message, except in CI (CI=true), where a missing browser fails the run.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tools.onebot_sim import BotProcess, OneBotV11Sim, at

CHROMIUM = Path(os.environ.get("KPI_CHROMIUM", "/usr/bin/chromium"))
OUTPUT = Path(__file__).parent / "output"
TOKEN = "browser-secret"
OWNER, ZHANG, LI, WANG, BOSS = 10001, 31101, 31102, 31103, 31109
GROUP = 23001
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

if not CHROMIUM.exists():
    if os.environ.get("CI", "").lower() == "true":
        raise RuntimeError(f"CI needs {CHROMIUM}: apt-get install -y chromium chromium-driver")
    pytest.skip(
        f"浏览器测试跳过：没有 {CHROMIUM}（apt-get install -y chromium chromium-driver 后即可运行）",
        allow_module_level=True,
    )


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """This test talks to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = BotProcess(tmp_path_factory.mktemp("browser-bot"), token=TOKEN, superusers=("10000",))
    await proc.start()
    yield proc
    await proc.stop()


async def one(sim: OneBotV11Sim, *args, **kw) -> str:
    replies = await sim.say(*args, **kw)
    assert len(replies) == 1, replies
    return replies[0]


async def a_team_with_a_month(qq: OneBotV11Sim) -> None:
    assert (await one(qq, GROUP, OWNER, "/绑定 网店客服部", role="owner")).startswith("✅")
    qq.add_member(GROUP, BOSS, card="王主管")
    assert (await one(qq, GROUP, OWNER, "/主管 ", at(BOSS), role="owner")).startswith("✅")
    for n in range(6):
        await one(qq, GROUP, ZHANG, f"/软文 https://zhuanlan.zhihu.com/p/9{n} 知乎", card="张三")
    await one(qq, GROUP, ZHANG, "/加好友 45", card="张三")
    for n in range(3):
        await one(qq, GROUP, LI, f"/自媒体 https://www.toutiao.com/a/8{n}", card="李四")
    await one(qq, GROUP, LI, "/朋友圈 新品推广", card="李四")
    await one(qq, GROUP, WANG, "/付费软文 https://www.ssxw.com/a/77", card="王五")
    await one(qq, GROUP, BOSS, "/投诉 ", at(LI), " 客户说回复太慢")
    await one(qq, GROUP, BOSS, "/迟到 ", at(WANG))


async def test_boss_logs_in_from_chat_reads_the_ranking_and_opens_an_agent(bot: BotProcess):
    from playwright.async_api import async_playwright

    OUTPUT.mkdir(exist_ok=True)
    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:
        await a_team_with_a_month(qq)
        in_group = await one(qq, GROUP, BOSS, "/后台")
        assert in_group == "✅ 登录链接已私聊发给你（10 分钟内有效，只能用一次）", in_group
        private = (await qq.wait_replies(None, BOSS, 1))[0]
    link = re.search(r"http://\S+/kpi/login/\S+", private)
    assert link, private
    assert all("/kpi/login/" not in m for m in qq.replies(GROUP))
    token = link.group(0).rsplit("/", 1)[1]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            desktop = await browser.new_context(
                viewport={"width": 1280, "height": 800}, locale="zh-CN"
            )
            page = await desktop.new_page()
            await page.goto(link.group(0))
            await page.click("#enter")
            await page.wait_for_selector("#ranking")
            assert "网店客服部" in await page.title()
            rows = await page.locator("#ranking tbody tr").all_inner_texts()
            names = [r.split("\t")[1].strip() for r in rows]
            assert names == ["张三", "王五", "李四"], rows
            # 张三: articles 6/8 × 2 + friends 45/60 × 2 = 3 → 93.0; 王五: paid 1/2 × 2 = 1, late
            # −1 → 90.0; 李四: media 3/8 × 2 + moments 1/20 × 2 = 0.85, complaint −3 → 87.85.
            cells = [r.split("\t") for r in rows]
            assert [c[:8] for c in cells] == [
                ["1", "张三", "10", "50", "30", "3", "93.0", "A"],
                ["2", "王五", "9", "50", "30", "1", "90.0", "A"],
                ["3", "李四", "10", "47", "30", "0.9", "87.9", "B"],
            ]
            await page.screenshot(path=OUTPUT / "team-desktop.png")

            await page.click("#ranking >> text=李四")
            await page.wait_for_selector("#entries")
            assert "客户说回复太慢" in await page.inner_text("#entries")
            assert "王主管" in await page.inner_text("#entries")
            assert "总分 87.9" in await page.inner_text("#total")
            await page.screenshot(path=OUTPUT / "agent-desktop.png")

            phone = await browser.new_context(
                viewport={"width": 390, "height": 844},
                device_scale_factor=2,
                is_mobile=True,
                locale="zh-CN",
                has_touch=True,
            )
            await phone.add_cookies(await desktop.cookies())
            mobile = await phone.new_page()
            await mobile.goto(page.url.split("/team/")[0] + "/")
            await mobile.wait_for_selector("#ranking")
            await mobile.screenshot(path=OUTPUT / "team-phone.png")
            await mobile.click("#ranking >> text=李四")
            await mobile.wait_for_selector("#entries")
            await mobile.screenshot(path=OUTPUT / "agent-phone.png")

            again = await browser.new_page()
            await again.goto(link.group(0))
            await again.click("#enter")
            assert "登录链接已失效" in await again.inner_text("main")
        finally:
            await browser.close()

    log = bot.log()
    assert token not in log
    assert "/kpi/login/***" in log  # uvicorn's access log, with the token hidden
    assert "网页后台 / dashboard" in log
