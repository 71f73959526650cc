"""Replies and help that show how to report are built from the rubric (SPEC §1 "the rubric
is data"): a company rubric that renames /软文 and /朋友圈 and drops /加好友 is never
advertised with the old commands."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App

from bot.commands import RESERVED, self_report_examples
from models.periods import set_clock
from models.rubric import DEFAULT_RUBRIC_PATH, parse_rubric
from tests.utils import BOT_ID, GROUP, Capture, bind, said

OLD_COMMANDS = ("/软文", "/加好友", "/朋友圈")


def company_rubric():
    """Articles are logged with /公众号, moments with /动态, friends only through /报."""
    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
    for old, new in [
        ('commands = ["软文", "article"]', 'commands = ["公众号", "article"]'),
        ('commands = ["加好友", "friends"]', "commands = []"),
        ('commands = ["朋友圈", "moments"]', 'commands = ["动态", "moments"]'),
    ]:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return parse_rubric(text, "company.toml", reserved=set(RESERVED))


def test_examples_follow_the_rubric():
    default = parse_rubric(DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8"))
    assert self_report_examples(default) == ["/软文 链接", "/加好友 个数", "/朋友圈"]
    assert self_report_examples(company_rubric()) == ["/公众号 链接", "/动态"]


@pytest.fixture
def company(monkeypatch: pytest.MonkeyPatch) -> None:
    import plugins.nudge
    import plugins.roster
    import plugins.scores
    from bot import runtime

    rub = company_rubric()
    for module in (runtime, plugins.nudge, plugins.roster, plugins.scores):
        if hasattr(module, "rubric"):  # the others word their replies by `rubric_now`
            monkeypatch.setattr(module, "rubric", lambda: rub)
    runtime.forget_rules()  # /帮助 reads the rubric in force (bot.runtime.rubric_in_force)


def advertises_only_company_commands(text: str) -> None:
    assert "/公众号 链接" in text, text
    for old in OLD_COMMANDS:
        assert old not in text, text


@pytest.mark.usefixtures("company")
async def test_bind_reply_and_unbound_help_show_the_company_commands(app: App):
    advertises_only_company_commands(await said(app, "/帮助", 30001))
    advertises_only_company_commands(await bind(app))


@pytest.mark.usefixtures("company")
async def test_my_score_before_any_report_suggests_a_company_command(app: App):
    await bind(app)
    reply = await said(app, "/我的绩效", 30009)
    assert reply.startswith("❌ 你还没有任何记录。报一次推广（如 /公众号 链接）就会自动登记"), reply


@pytest.mark.usefixtures("company")
async def test_daily_reminder_shows_the_company_commands(app: App, monkeypatch):
    from bot.config import get_config
    from plugins.nudge import remind_due

    monkeypatch.setattr(get_config(), "kpi_daily_reminder", "17:30")
    set_clock(datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=8))))
    await bind(app)
    await said(app, "/报 朋友圈", 30001, card="张三")
    now = datetime(2026, 11, 24, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    set_clock(now)
    out: list[str] = []
    async with app.test_api() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        ctx.should_call_api(
            "send_group_msg", {"group_id": GROUP, "message": Capture(out)}, {"message_id": 1}
        )
        assert await remind_due(now) == 1
    assert "[CQ:at,qq=30001]" in out[0]
    advertises_only_company_commands(out[0])
    assert out[0].endswith("发 /公众号 链接、/动态 即可自报"), out[0]
