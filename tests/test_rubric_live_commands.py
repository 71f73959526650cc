"""A rubric version activated on the dashboard that adds an item with its own chat commands:
the groups answer them at the next message, without a restart; `/帮助`, `/考核表` and the
usage lines follow (issue 24, SPEC §5a "Rubric versions")."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from nonebug import App

from models import rubricstore
from models.periods import set_clock
from models.rubric import DEFAULT_RUBRIC_PATH
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    ZHANG,
    frozen_clock,
    ids,
    login,
    team_a,
)
from tests.utils import OTHER_GROUP, OWNER, SUPER, at, group_event, plain, said, say

LATE = 'key = "late"\nname = "迟到"\ncategory = "hr"\npoints = -1\ncommands = ["迟到", "late"]\n'
OVERTIME = (
    '[[items]]\nkey = "overtime"\nname = "加班"\ncategory = "hr"\npoints = 1\n'
    'commands = ["加班", "overtime"]\n\n'
)
WITH_OVERTIME = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8").replace(
    "[[items]]\n" + LATE, OVERTIME + "[[items]]\n" + LATE
)
UNKNOWN = "❓ 是不是 /加分？"  # what `/加班` gets where no rubric in force defines it


def test_the_draft_adds_one_item_with_its_commands():
    assert OVERTIME in WITH_OVERTIME
    draft = rubricstore.check_draft(WITH_OVERTIME, "加班.toml", set())
    assert draft.item("overtime").commands == ("加班", "overtime")


async def activate_on_the_web(app: App, month: str, toml: str = WITH_OVERTIME) -> None:
    """A superuser activates the version on the dashboard, as a boss does."""
    a = (await ids())["客服一组"]
    root = await login(app, SUPER)
    html = (await root.get(f"/kpi/team/{a}/rubric")).text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)
    r = await root.post(
        f"/kpi/team/{a}/rubric/activate",
        data={"csrf": token, "toml": toml, "from": month, "name": "加班版"},
    )
    assert r.status_code == 200, r.text
    assert f"从 {month} 起生效" in r.text


async def overtime(app: App, group_id: int | None = None) -> str:
    kw = {"group_id": group_id} if group_id else {}
    return await said(app, ["/加班 ", at(ZHANG), " 周末值班"], OWNER, role="owner", **kw)


async def test_an_activated_item_command_is_scored_at_once_in_the_groups(app: App):
    await team_a(app)
    before = await overtime(app)
    assert before.startswith(UNKNOWN), before
    await activate_on_the_web(app, "2026-11")
    reply = await overtime(app)
    assert reply.startswith("✅ #"), reply
    assert "张三 人事考核·加班 +1" in reply
    detail = await said(app, ["/明细 ", at(ZHANG)], OWNER, role="owner")
    assert "加班" in detail, detail
    # the second team's group follows the version too: it is every team's (启用（对所有团队）)
    other = await said(app, ["/加班 ", at(30003)], OWNER, group_id=OTHER_GROUP, role="owner")
    assert other.startswith("✅ #"), other
    # a group bound to no team stays silent, as for every command there
    await say(app, group_event(["/加班 ", at(ZHANG)], OWNER, group_id=20099), replies=0)


async def test_help_rubric_and_usage_lines_follow_the_version_in_force(app: App):
    await team_a(app)
    assert "/加班" not in await said(app, "/帮助", ZHANG)
    await activate_on_the_web(app, "2026-11")
    assert "/加班" in await said(app, "/帮助", ZHANG)
    assert (
        plain(await said(app, "/帮助 加班", ZHANG))
        == "/加班 @某人… [次数] [备注] [月份]（/overtime）\n加班 +1/次"
    )
    assert "加班+1" in await said(app, "/考核表", ZHANG)
    refused = plain(await said(app, "/加班", OWNER, role="owner"))  # nobody named
    assert refused.startswith("❌ "), refused
    assert refused.endswith("用法：/加班 @某人… [次数] [备注] [月份]"), refused
    english = await said(app, ["/overtime ", at(ZHANG)], OWNER, role="owner")
    assert english.startswith("✅ #"), english


async def test_a_version_from_next_month_answers_from_next_month(app: App):
    await team_a(app)
    await activate_on_the_web(app, "2026-12")
    assert (await overtime(app)).startswith(UNKNOWN)  # November keeps its rubric
    assert "/加班" not in await said(app, "/帮助", ZHANG)
    set_clock(datetime(2026, 12, 2, 10, 0, tzinfo=timezone(timedelta(hours=8))))
    reply = await overtime(app)
    assert reply.startswith("✅ #"), reply


async def test_another_process_activation_shows_within_the_rules_ttl(app: App):
    """Activated by another bot process on the same database (nothing here is told): the
    next message after `RULES_TTL` follows it."""
    await team_a(app)
    assert (await overtime(app)).startswith(UNKNOWN)

    from bot import door, runtime

    def elsewhere(s):
        row = rubricstore.save_draft(s, WITH_OVERTIME, "加班版", "qq:10000", "老板", set())
        rubricstore.activate(s, row.id, "2026-11", "qq:10000", "老板", superuser=True)

    await door.write(None, elsewhere)
    assert (await overtime(app)).startswith(UNKNOWN)  # within RULES_TTL: as read before
    runtime._now.update({k: (0.0, v) for k, (_, v) in runtime._now.items()})  # TTL over
    runtime._rules.update({k: (0.0, *v[1:]) for k, v in runtime._rules.items()})
    reply = await overtime(app)
    assert reply.startswith("✅ #"), reply


async def test_a_burst_of_messages_reads_the_rubric_in_force_once(app: App, monkeypatch):
    import asyncio

    from bot import door, runtime

    reads = []
    real = door.read

    async def counted(work):
        reads.append(1)
        await asyncio.sleep(0.01)
        return await real(work)

    monkeypatch.setattr(door, "read", counted)
    runtime.forget_rules()
    got = await asyncio.gather(*(runtime.rubric_in_force() for _ in range(50)))
    assert len(reads) == 1
    assert {r.version for r in got} == {runtime.rubric().version}


async def test_the_desk_logs_an_item_the_version_in_force_added(app: App):
    """The web's 登记 form lists and logs the items of the version in force, scored with it
    (the same rules as the chat command), not the file's rubric."""
    from tests.test_dashboard import BOSS
    from tests.test_web_desk import token as page_token

    await team_a(app)
    await activate_on_the_web(app, "2026-11")
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}/log")
    assert 'value="overtime"' in page.text
    t = await page_token(boss, f"/kpi/team/{a}/log")
    r = await boss.post(
        f"/kpi/team/{a}/log", data={"csrf": t, "who": [str(ZHANG)], "item": "overtime"}
    )
    assert r.status_code == 200, r.text
    assert "张三 人事考核·加班 +1" in r.text


async def test_a_backdated_mark_is_answered_with_its_own_months_rules(app: App):
    """From November 迟到 costs 2 (a version activated from then); a 迟到 logged into
    October is answered with October's rules (−1), as the settlement will score it."""
    harsher = WITH_OVERTIME.replace(LATE, LATE.replace("points = -1", "points = -2"))
    await team_a(app)
    await activate_on_the_web(app, "2026-11", harsher)
    now = await said(app, ["/迟到 ", at(ZHANG)], OWNER, role="owner")
    assert "人事考核·迟到 −2" in now, now
    before = await said(app, ["/迟到 ", at(ZHANG), " 2026-10"], OWNER, role="owner")
    assert "人事考核·迟到 −1" in before, before
    assert "2026-10 人事考核 9/10" in before, before
