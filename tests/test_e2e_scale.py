"""End to end, on whichever engine the suite runs on (SPEC §5 scale-out, §6):

- commands fired at the same moment keep every rule that one at a time keeps;
- several bot processes on one database: both start on an empty database, and a missed
  month and a daily reminder go out once;
- several QQ accounts in one group: one serves it, no message is logged or answered twice,
  and a scheduled post goes through an account that is in the group.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.periods import current_period, period_bounds, shift_period
from tools import testdb
from tools.onebot_sim import BotProcess, OneBotV11Sim, at

OWNER = 10001
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to bot processes; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory):
    proc = BotProcess(tmp_path_factory.mktemp("scale-bot"))
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def qq(bot: BotProcess):
    sim = OneBotV11Sim(bot.ws_url())
    await sim.connect()
    yield sim
    await sim.disconnect()


async def bind(sim: OneBotV11Sim, group: int, team: str) -> None:
    reply = await sim.say(group, OWNER, f"/绑定 {team}", role="owner")
    assert reply[0].startswith("✅"), reply


async def at_once(sim: OneBotV11Sim, group: int, said: list[tuple[int, str]]) -> list[str]:
    """Every (user, text) sent in the same instant; the replies once all have come."""
    events = [sim.group_event(group, u, t, card=f"客服{u}") for u, t in said]
    before = len(sim.replies(group))
    await asyncio.gather(*(sim.send_event(e) for e in events))
    await sim.wait_replies(group, None, before + len(said), timeout=60)
    await asyncio.sleep(0.5)
    return sim.replies(group)[before:]


async def first_of(sims: list[OneBotV11Sim], done, timeout: float) -> None:
    """Wait until `done()` holds after a call on any of the simulators."""
    waits = [asyncio.create_task(s.wait_for(lambda _c: done(), timeout=timeout)) for s in sims]
    finished, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in finished:
        task.result()


async def polled(read, expected, tries: int = 50):
    """`await read()` until it returns `expected` (a status the bot writes just after a send)."""
    got = None
    for _ in range(tries):
        got = await read()
        if got == expected:
            break
        await asyncio.sleep(0.2)
    return got


# ---- races -------------------------------------------------------------------------------------


async def test_same_link_from_20_agents_at_once_is_logged_once(bot: BotProcess, qq: OneBotV11Sim):
    g = 41001
    await bind(qq, g, "并发一组")
    link = "https://example.com/race/same"
    replies = await at_once(qq, g, [(42000 + i, f"/软文 {link}") for i in range(20)])
    ok = [r for r in replies if r.startswith("✅")]
    refused = [r for r in replies if r.startswith("❌")]
    assert len(ok) == 1, replies
    assert len(refused) == 19, replies
    first = re.search(r"#(\d+)", ok[0]).group(1)
    assert all(f"该链接已在 #{first} 记录过" in r for r in refused), refused
    assert await bot.rows("SELECT COUNT(*) FROM entry WHERE link = :l", l=link) == [(1,)]


async def test_first_20_reports_of_a_new_agent_at_once_register_them_once(
    bot: BotProcess, qq: OneBotV11Sim
):
    g, agent = 41002, 43001
    await bind(qq, g, "并发二组")
    replies = await at_once(qq, g, [(agent, f"/加好友 {i + 1}") for i in range(20)])
    assert all(r.startswith("✅ #") for r in replies), replies
    assert await bot.rows("SELECT COUNT(*) FROM member WHERE user_id = :u", u=str(agent)) == [(1,)]
    assert await bot.rows(
        "SELECT COUNT(*), SUM(quantity) FROM entry e JOIN member m ON m.id = e.member_id"
        " WHERE m.user_id = :u",
        u=str(agent),
    ) == [(20, 210)]


async def test_daily_cap_holds_when_25_reports_come_at_once(bot: BotProcess, qq: OneBotV11Sim):
    """朋友圈 may be reported 20 times a day (default rubric)."""
    g, agent = 41003, 44001
    await bind(qq, g, "并发三组")
    assert (await qq.say(g, agent, "/朋友圈 第一条", card="赵六"))[0].startswith("✅")
    replies = await at_once(qq, g, [(agent, f"/朋友圈 动态{i}") for i in range(24)])
    assert sum(r.startswith("✅") for r in replies) == 19, replies
    refused = [r for r in replies if r.startswith("❌")]
    assert len(refused) == 5, replies
    assert all("每人每天最多报 20 次" in r for r in refused), refused
    assert await bot.rows(
        "SELECT COUNT(*) FROM entry e JOIN member m ON m.id = e.member_id"
        " WHERE m.user_id = :u AND e.revoked_at IS NULL",
        u=str(agent),
    ) == [(20,)]


# ---- several processes on one database --------------------------------------------------------


def _backdate_sql() -> tuple[str, list[tuple[str, dict]]]:
    period = shift_period(current_period(SHANGHAI), -1)
    start = period_bounds(period)[0] + timedelta(days=1)
    created = datetime(start.year, start.month, start.day) - timedelta(hours=8)
    return period, [
        ("UPDATE team SET created_at = :t", {"t": created}),
        ("UPDATE entry SET period = :p", {"p": period}),
        ("UPDATE tenure SET start = :d", {"d": start}),
        ("UPDATE member SET joined_on = :d", {"d": start}),
    ]


async def test_two_processes_on_one_database_start_together_and_post_month_and_reminder_once(
    tmp_path,
):
    g, agent = 41101, 45001
    url = await testdb.create_database(tmp_path, "shared")  # empty: nothing migrated yet

    # Both started at the same moment on the empty database: both migrate, neither dies.
    now = datetime.now(SHANGHAI)
    minute = (now + timedelta(seconds=75 if now.second > 40 else 60)).strftime("%H:%M")
    env = {"KPI_DAILY_REMINDER": minute, "KPI_REMINDER_DAYS": "all"}
    bots = [BotProcess(tmp_path / n, database_url=url, env=env) for n in ("p1", "p2")]
    await asyncio.gather(*(b.start() for b in bots))
    sims = [OneBotV11Sim(b.ws_url()) for b in bots]  # one QQ account, connected to both
    for sim in sims:
        await sim.connect()
    try:
        bound = await sims[0].say(g, OWNER, "/绑定 双进程组", role="owner")
        assert bound[0].startswith("✅"), bound
        reported = await sims[0].say(g, agent, "/软文 https://example.com/two/1", card="钱七")
        assert reported[0].startswith("✅"), reported
        # The same message delivered to both processes (NapCat with two reverse WebSockets).
        event = sims[0].group_event(g, agent, "/朋友圈 早安")
        await asyncio.gather(*(s.send_event(dict(event)) for s in sims))
        await asyncio.sleep(1.0)
        assert len(sims[0].replies(g, agent)) + len(sims[1].replies(g, agent)) == 2
        assert await bots[0].rows("SELECT COUNT(*) FROM entry") == [(2,)]

        # The daily reminder: both processes fire it at the same minute; one message.
        def reminders() -> list[str]:
            return [m.text for s in sims for m in s.sent if m.text.startswith("⏰")]

        other = 45002  # on the team, has not reported today
        sims[0].add_member(g, other, card="孙八")
        joined = await sims[0].say(g, OWNER, "/入职 ", at(other), role="owner")
        assert joined[0].startswith("✅"), joined
        await first_of(sims, lambda: bool(reminders()), timeout=140)
        await asyncio.sleep(8)  # the other process fires at the same second
        assert len(reminders()) == 1, reminders()

        # A month both processes find unsettled at start: settled and posted once.
        period, statements = _backdate_sql()
        for sql, params in statements:
            await bots[0].rows(sql, **params)
        for b, s in zip(bots, sims, strict=True):
            await s.disconnect()
            await b.stop()
        await asyncio.gather(*(b.start() for b in bots))
        for sim in sims:
            sim.sent.clear()
            await sim.connect()

        def posts() -> list[str]:
            return [m.text for s in sims for m in s.sent if f"{period} 月度绩效" in m.text]

        await first_of(sims, lambda: bool(posts()), timeout=30)
        await asyncio.sleep(3)
        assert len(posts()) == 1, posts()
        assert await bots[0].rows("SELECT COUNT(*) FROM settlement") == [(1,)]
        assert await polled(lambda: bots[0].rows("SELECT status FROM post"), [("sent",)]) == [
            ("sent",)
        ]
    finally:
        for b, s in zip(bots, sims, strict=True):
            await s.disconnect()
            await b.stop()


# ---- several QQ accounts in one group ----------------------------------------------------------


async def test_two_accounts_in_one_group_answer_once_and_post_through_an_account_in_it(
    tmp_path,
):
    g, agent = 41201, 46001
    bot = BotProcess(tmp_path / "bot")
    await bot.start()
    a = OneBotV11Sim(bot.ws_url(), self_id=880001)
    b = OneBotV11Sim(bot.ws_url(), self_id=880002)
    outsider = OneBotV11Sim(bot.ws_url(), self_id=880003)
    a.groups, b.groups, outsider.groups = {str(g)}, {str(g)}, set()
    for s in (a, b):
        await s.connect()

    async def said_to_both(user: int, *parts, **kw) -> list[str]:
        """What QQ does with two bot accounts in a group: each gets the message, with its
        own message id. Returns every reply from either account."""
        before = [len(s.replies(g)) for s in (a, b)]
        await asyncio.gather(*(s.send_event(s.group_event(g, user, *parts, **kw)) for s in (a, b)))
        await asyncio.sleep(1.2)
        return [r for s, n in zip((a, b), before, strict=True) for r in s.replies(g)[n:]]

    try:
        bound = await said_to_both(OWNER, "/绑定 双号组", role="owner")
        assert len(bound) == 1, bound
        assert bound[0].startswith("✅ 本群已绑定团队「双号组」")
        first = a if a.replies(g) else b
        second = b if first is a else a

        link = "https://example.com/twoacc/1"
        reported = await said_to_both(agent, f"/软文 {link}", card="周九")
        assert len(reported) == 1, reported
        assert reported[0].startswith("✅ #")
        assert await bot.rows("SELECT COUNT(*) FROM entry WHERE link = :l", l=link) == [(1,)]
        assert len(await said_to_both(agent, "/我的绩效")) == 1

        # `@另一个账号 /绑定`: the second account serves the group from now on.
        moved = await said_to_both(OWNER, at(second.self_id), " /绑定", role="owner")
        assert len(moved) == 1, moved
        assert moved[0].startswith("✅ 本群（团队「双号组」）改由本账号回复和播报")
        assert second.replies(g)[-1] == moved[0]
        before = len(first.replies(g))
        assert len(await said_to_both(agent, "/朋友圈 换号之后")) == 1
        assert len(first.replies(g)) == before  # the first account is silent here now

        # Last month is missed while the bot is down; when it comes back only the first
        # account and one that is not in the group connect: the post goes through the first.
        period, statements = _backdate_sql()
        for sql, params in statements:
            await bot.rows(sql, **params)
        for s in (a, b):
            await s.disconnect()
        await bot.stop()
        await bot.start()
        first.sent.clear()
        await outsider.connect()
        await first.connect()
        await first.wait_for(
            lambda _c: any(f"{period} 月度绩效" in m.text for m in first.sent), timeout=20
        )
        assert [m.text for m in outsider.sent if m.group_id] == []
        assert await polled(lambda: bot.rows("SELECT status FROM post"), [("sent",)]) == [("sent",)]
    finally:
        for s in (a, b, outsider):
            await s.disconnect()
        await bot.stop()
