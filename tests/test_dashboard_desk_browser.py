"""Issues 24 and 25 in a real browser (Debian's Chromium, desktop 1280×800 and phone 390×844):
the boss runs a what-if of the rubric, imports a month's records, logs a deduction for two
people and revokes one (on the phone); keeps one link `/核查` found deleted (desktop) and
revokes another from the 待核实 list (phone), and chat agrees; an agent appeals on their
page and the boss rejects it; screenshots go to KPI_SHOTS (default tests/output/desk/).

Needs Debian's `chromium` (tools/ensure_browser.sh); skipped without it, except in CI."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.linkcheck_site import Site, serve
from tests.test_dashboard_browser import (
    ARGS,
    BOSS,
    CHROMIUM,
    GROUP,
    LI,
    TOKEN,
    ZHANG,
    a_team_with_a_month,
    one,
)
from tools.onebot_sim import BotProcess, OneBotV11Sim

SHOTS = Path(os.environ.get("KPI_SHOTS", Path(__file__).parent / "output" / "desk"))
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """This test talks to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("desk-bot"),
        token=TOKEN,
        superusers=("10000",),
        env={"KPI_FETCH_ALLOW_HOSTS": "127.0.0.1"},  # the local site of the reported links
    )
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    """Today's attendance: 张三 late, 李四 left early."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "考勤.csv"
    path.write_text(
        f"姓名或QQ,项目,次数,日期,备注\n张三,迟到,1,{_today()},地铁故障\n{LI},早退,1,{_today()},\n",
        encoding="utf-8-sig",
    )
    return path


async def link_for(qq: OneBotV11Sim, user_id: int) -> str:
    assert (await one(qq, GROUP, user_id, "/后台")).startswith("✅")
    private = (await qq.wait_replies(None, user_id, 1))[0]
    found = re.search(r"http://\S+/kpi/login/\S+", private)
    assert found, private
    return found.group(0)


async def reported(qq: OneBotV11Sim, user_id: int, card: str, url: str) -> str:
    """The entry id of a link reported in the group."""
    ok = await one(qq, GROUP, user_id, f"/软文 {url}", card=card)
    found = re.match(r"✅ #(\d+)", ok)
    assert found, ok
    return found.group(1)


async def test_the_boss_acts_on_the_month_on_desktop_and_phone(bot: BotProcess, sheet: Path):
    from playwright.async_api import async_playwright

    with serve() as site:
        await _acts(bot, sheet, site, async_playwright)


async def _acts(bot: BotProcess, sheet: Path, site: Site, async_playwright) -> None:
    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:
        await a_team_with_a_month(qq)
        link = await link_for(qq, BOSS)
        agent_link = await link_for(qq, LI)
        moved = await reported(qq, ZHANG, "张三", site.url("/a/1"))
        deleted = await reported(qq, LI, "李四", site.url("/b/2"))
        await asyncio.sleep(1)  # the snapshots after the ✅
        site.gone |= {"/a/1", "/b/2"}
        checked = "\n".join(await qq.say(GROUP, BOSS, "/核查", linger=1, timeout=60))
        assert "待核实 2 条" in checked, checked
        assert f"#{moved} 张三 自建渠道软文 链接已删除（HTTP 404）" in checked, checked
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            desktop = await browser.new_context(
                viewport={"width": 1280, "height": 800}, locale="zh-CN"
            )
            page = await desktop.new_page()
            await page.goto(link)
            await page.click("#enter")
            await page.wait_for_selector("#ranking")
            team = page.url.split("?")[0]

            # what-if: 迟到 from −1 to −3; 王五 was late once (90.0 → 88.0)
            await page.goto(f"{team}/rubric")
            text = await page.input_value("#toml-text")
            old = 'key = "late"\nname = "迟到"\ncategory = "hr"\npoints = -1'
            assert old in text
            await page.fill("#toml-text", text.replace(old, old[:-2] + "-3"))
            await page.click("#whatif-run")
            await page.wait_for_selector("#whatif")
            rows = await page.locator("#whatif tbody tr").all_inner_texts()
            assert any(r.startswith("王五") and "90.0 → 88.0" in r for r in rows), rows
            await page.screenshot(path=SHOTS / "whatif-desktop.png", full_page=True)

            # import: preview every row, then all at once
            await page.goto(f"{team}/import")
            await page.set_input_files("#import-file", str(sheet))
            await page.click("#import-preview")
            await page.wait_for_selector("#preview")
            assert "✅" in await page.inner_text("#preview")
            await page.screenshot(path=SHOTS / "import-preview-desktop.png", full_page=True)
            await page.click("#confirm")
            await page.wait_for_selector("text=已导入 2 条记录")
            await page.screenshot(path=SHOTS / "import-done-desktop.png")
            await page.goto(f"{team}/entries")
            assert "地铁故障" in await page.inner_text("#entries")

            phone = await browser.new_context(locale="zh-CN", **PHONE)
            await phone.add_cookies(await desktop.cookies())
            mobile = await phone.new_page()
            await mobile.goto(f"{team}/rubric")
            await mobile.wait_for_selector("#toml-text")
            await mobile.click("#whatif-run")  # the rubric as it is: nobody changes
            await mobile.wait_for_selector("#whatif")
            assert "<b>0</b>" in await mobile.content()
            await mobile.screenshot(path=SHOTS / "whatif-phone.png", full_page=True)
            await mobile.goto(f"{team}/import")
            await mobile.set_input_files("#import-file", str(sheet))
            await mobile.click("#import-preview")
            await mobile.wait_for_selector("text=这个文件已经导入过")  # the same content: refused
            await mobile.screenshot(path=SHOTS / "import-again-phone.png", full_page=True)
            width = await mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width

            # on the phone: log a deduction for two people, then revoke one of them
            await mobile.goto(f"{team}/log")
            await mobile.check(f"input[name=who][value='{LI}']")
            await mobile.check(f"input[name=who][value='{ZHANG}']")
            await mobile.select_option("#log-item", "early_leave")
            await mobile.fill("#log-note", "提前下班")
            await mobile.screenshot(path=SHOTS / "log-phone.png", full_page=True)
            await mobile.click("#log-submit")
            await mobile.wait_for_selector("#message")
            logged = await mobile.inner_text("#message")
            assert logged.count("✅") == 2, logged
            await mobile.screenshot(path=SHOTS / "log-done-phone.png")
            first = re.search(r"#(\d+)", logged).group(1)
            await mobile.goto(f"{team}/entries")
            row = mobile.locator(f"#entries tr:has(#revoke-{first})")
            await row.locator("input[name=reason]").fill("登记错人")
            await mobile.click(f"#revoke-{first}")
            await mobile.wait_for_selector("#message")
            assert f"已撤销 #{first}" in await mobile.inner_text("#message")
            await mobile.screenshot(path=SHOTS / "revoke-phone.png")
            await mobile.goto(f"{team}/entries")
            assert "登记错人" in await mobile.inner_text("#entries")
            await mobile.screenshot(path=SHOTS / "entries-after-revoke-phone.png", full_page=True)

            # the 待核实 list: keep 张三's link on the desktop (the article moved), revoke
            # 李四's on the phone with the prefilled reason, edited
            await page.goto(team)
            await page.wait_for_selector("#flags")
            listed = await page.inner_text("#flags")
            assert "待核实（2 条）" in listed, listed
            assert "链接已删除（HTTP 404）" in listed
            assert site.url("/a/1") in listed
            await page.screenshot(path=SHOTS / "flags-desktop.png", full_page=True)
            await page.click(f"#keep-{moved}")
            await page.wait_for_selector("#message")
            assert f"已保留 #{moved} 张三" in await page.inner_text("#message")
            await page.screenshot(path=SHOTS / "flag-kept-desktop.png")
            await mobile.goto(team)
            await mobile.wait_for_selector("#flags")
            assert f"flag-{moved}" not in await mobile.inner_html("#flags")
            reason = mobile.locator(f"#flag-{deleted} input[name=reason]")
            assert await reason.input_value() == "链接已删除"
            await reason.fill("链接已删除，本人确认")
            await mobile.screenshot(path=SHOTS / "flags-phone.png", full_page=True)
            width = await mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, width
            await mobile.click(f"#flag-revoke-{deleted}")
            await mobile.wait_for_selector("#message")
            assert (
                f"已撤销 #{deleted} 李四（原因：链接已删除，本人确认）"
                in await mobile.inner_text("#message")
            )
            await mobile.screenshot(path=SHOTS / "flag-revoked-phone.png")
            await mobile.click("#back")
            await mobile.wait_for_selector("#ranking")
            assert await mobile.locator("#flags").count() == 0
            await mobile.screenshot(path=SHOTS / "flags-done-phone.png", full_page=True)

            # an agent appeals their complaint on their own page; the boss rejects it
            li = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
            mine = await li.new_page()
            await mine.goto(agent_link)
            await mine.click("#enter")
            await mine.wait_for_selector("#ranking")
            await mine.click("text=我的绩效")
            await mine.wait_for_selector("#entries")
            form = mine.locator("form:has(button[id^=appeal-])").first
            await form.locator("input[name=reason]").fill("客户后来说是误会")
            await form.locator("button").click()
            await mine.wait_for_selector("#message")
            assert "已提交" in await mine.inner_text("#message")
            await mine.screenshot(path=SHOTS / "appeal-filed-desktop.png")
            await page.goto(f"{team}/appeals")
            decide = page.locator("form.decide").first
            await decide.locator("input[name=reason]").fill("录音里确有此事")
            await decide.locator("button[id^=reject-]").click()
            await page.wait_for_selector("#message")
            assert "已驳回" in await page.inner_text("#message")
            await page.goto(f"{team}/appeals")
            assert "录音里确有此事" in await page.inner_text("#appeals")
            await page.screenshot(path=SHOTS / "appeal-rejected-desktop.png", full_page=True)
        finally:
            await browser.close()

    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:  # chat agrees
        again = "\n".join(await qq.say(GROUP, BOSS, "/核查", linger=1, timeout=60))
        assert "✅ 没有待核实的记录" in again, again
        monthly = "\n".join(await qq.say(GROUP, BOSS, "/月报", linger=1))
        assert "撤销 1 条" in monthly, monthly
        assert "待核实" not in monthly, monthly


def _today() -> str:
    from datetime import datetime, timedelta, timezone

    return (datetime.now(timezone(timedelta(hours=8)))).strftime("%Y-%m-%d")
