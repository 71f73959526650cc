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
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "locale": "zh-CN",
    "has_touch": True,
}
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

            phone = await browser.new_context(**PHONE)
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


PHONE_GROUP, SUN, ZHOU, BOSS2 = 23002, 31201, 31202, 31209

# Every element of `selector` (or its bounding box's right edge) inside the viewport and
# its scroll box, and no scroll box in `main` wider than it shows (nothing to scroll sideways).
OVERFLOW = """(selector) => {
  const W = document.documentElement.clientWidth, bad = [];
  for (const e of document.querySelectorAll(selector)) {
    const r = e.getBoundingClientRect();
    if (r.width === 0) continue;
    if (r.left < -0.5 || r.right > W + 0.5 || e.scrollWidth > e.clientWidth + 1)
      bad.push(`${e.tagName} ${e.innerText.slice(0, 30)} ${r.left}..${r.right} / ${W}`);
  }
  for (const s of document.querySelectorAll('main .scroll, main table'))
    if (s.scrollWidth > s.clientWidth + 1) bad.push(`scrolls: ${s.id || s.className} ${s.scrollWidth} > ${s.clientWidth}`);
  return bad;
}"""


async def test_every_key_column_and_money_is_on_screen_on_a_390px_phone(bot: BotProcess):
    """SPEC §5a, readable on a phone: at 390 px the ranking shows name, total, 罚款 and 提成
    whole (the category columns go to the chart), the entries and the agent's own entries are
    cards with nothing off-screen, every tab is on screen, and the chart's text is ≥ 11 px."""
    from playwright.async_api import async_playwright

    OUTPUT.mkdir(exist_ok=True)
    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:
        g = PHONE_GROUP
        assert (await one(qq, g, OWNER, "/绑定 手机客服部", role="owner")).startswith("✅")
        qq.add_member(g, BOSS2, card="周主管")
        assert (await one(qq, g, OWNER, "/主管 ", at(BOSS2), role="owner")).startswith("✅")
        await one(
            qq, g, SUN, "/软文 https://zhuanlan.zhihu.com/p/123456789012345 知乎", card="孙小美"
        )
        await one(qq, g, ZHOU, "/加好友 30", card="周大福")
        fined = await one(qq, g, BOSS2, "/严重投诉 ", at(SUN), " 12000 客户投诉到平台，要求退款")
        assert "罚款 ¥12000" in fined, fined
        assert (await one(qq, g, BOSS2, "/提成基数 12345.67")).startswith("✅")
        await one(qq, g, BOSS2, "/后台")
        boss_link = (await qq.wait_replies(None, BOSS2, 1))[0]
        await one(qq, g, SUN, "/后台", card="孙小美")
        agent_link = (await qq.wait_replies(None, SUN, 1))[0]
    urls = [re.search(r"http://\S+/kpi/login/\S+", t).group(0) for t in (boss_link, agent_link)]

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            pages = []
            for url in urls:
                phone = await browser.new_context(**PHONE)
                page = await phone.new_page()
                await page.goto(url)
                await page.click("#enter")
                await page.wait_for_selector("#ranking")
                pages.append(page)
            boss, agent = pages
            team = boss.url.split("?")[0]

            heads = await boss.locator("#ranking thead th:visible").all_inner_texts()
            assert heads == ["名次", "姓名", "总分", "等级", "罚款", "提成"], heads
            sun = await boss.locator("#ranking tbody tr", has_text="孙小美").inner_text()
            assert "¥12000.00" in sun, sun  # 罚款, whole
            assert "¥" in sun.split("¥12000.00")[1], sun  # and 提成 after it
            assert await boss.evaluate(OVERFLOW, "#ranking td, #ranking th, nav.tabs a") == []
            sizes = await boss.evaluate(
                "() => [...document.querySelectorAll('.bars .who, .bars .sum, .bars li')]"
                ".map(e => parseFloat(getComputedStyle(e).fontSize))"
            )
            assert sizes, sizes
            assert min(sizes) >= 11, sizes
            await boss.screenshot(path=OUTPUT / "team-phone-390.png", full_page=True)

            await boss.goto(team + "/entries")
            fine = boss.locator("#entries td.num", has_text="罚款")
            assert await fine.inner_text() == "−3 罚款 ¥12000"
            assert await boss.evaluate(OVERFLOW, "#entries td, #entries form *") == []
            await boss.screenshot(path=OUTPUT / "entries-phone-390.png", full_page=True)

            await agent.click("nav.tabs >> text=我的绩效")
            await agent.wait_for_selector("#entries")
            own = agent.locator("#entries td.num", has_text="罚款")
            assert await own.inner_text() == "−3 罚款 ¥12000"
            assert await agent.evaluate(OVERFLOW, "#entries td, #total span, svg.chart") == []
            labels = await agent.evaluate(
                "() => [...document.querySelectorAll('svg.trend text')]"
                ".filter(t => getComputedStyle(t).display !== 'none')"
                ".map(t => t.getBoundingClientRect().height)"
            )
            assert labels, labels
            assert min(labels) >= 11, labels  # drawn text, in CSS px
            await agent.screenshot(path=OUTPUT / "agent-phone-390.png", full_page=True)

            for tab in ("roster", "settings", "rubric", "appeals", "audit"):
                await boss.goto(f"{team}/{tab}")
                assert await boss.evaluate(OVERFLOW, "main td, main th, nav.tabs a") == [], tab
        finally:
            await browser.close()
