"""End to end: `kill -9` with reports in flight loses nothing that was acknowledged (SPEC §6).

200 agents report at once; once some have their ✅, the bot is killed without warning and
started again on the same database. Every acknowledged report must be there exactly once,
the database must be intact, and a redelivery after the restart (NapCat resends what it
could not deliver) must not log anything twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import pytest

from tools.onebot_sim import BotProcess, OneBotV11Sim

GROUP = 22001
OWNER = 10001
AGENTS = 200
LINK = "https://example.com/crash/{}"


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """Not the in-process database of conftest: this test talks to a bot process."""


async def test_kill_9_with_200_reports_in_flight_keeps_every_acknowledged_report(tmp_path: Path):
    bot = BotProcess(tmp_path / "bot")
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    try:
        await qq.connect()
        bound = await qq.say(GROUP, OWNER, "/绑定 夜班组", role="owner")
        assert bound[0].startswith("✅"), bound

        users = [36000 + i for i in range(AGENTS)]
        events = {
            u: qq.group_event(GROUP, u, f"/软文 {LINK.format(u)}", card=f"客服{u}") for u in users
        }

        def acked() -> dict[int, str]:
            return {
                int(m.user_id): m.text
                for m in qq.sent
                if m.group_id == str(GROUP) and m.user_id and int(m.user_id) in events
            }

        async def acks(n: int, timeout: float) -> None:
            with contextlib.suppress(TimeoutError):
                await qq.wait_for(lambda _c: len(acked()) >= n, timeout=timeout)

        # A first wave, so that some ✅ are out even on a slow machine, then the rest at once:
        # the kill lands with most of the 200 in flight.
        await asyncio.gather(*(qq.send_event(events[u]) for u in users[:10]))
        await acks(3, 30)
        await asyncio.gather(*(qq.send_event(events[u]) for u in users[10:]))
        await acks(len(acked()) + 10, 5)
        bot.kill()
        await asyncio.wait_for(qq.closed.wait(), 5)
        before_kill = acked()
        assert before_kill, "no report was acknowledged before the kill"
        assert all(r.startswith("✅ #") for r in before_kill.values()), before_kill

        await bot.start()
        await qq.connect()
        if bot.database_url.startswith("sqlite"):
            assert await bot.rows("PRAGMA integrity_check") == [("ok",)]
        for user, reply in before_kill.items():
            entry_id = int(re.search(r"#(\d+)", reply).group(1))
            found = await bot.rows(
                "SELECT item_key, link, created_by, revoked_at FROM entry WHERE id = :id",
                id=entry_id,
            )
            assert found == [("article", LINK.format(user), f"qq:{user}", None)], (reply, found)
        assert (
            await bot.rows(
                "SELECT link FROM entry WHERE link LIKE :p GROUP BY link HAVING COUNT(*) > 1",
                p="%/crash/%",
            )
            == []
        )

        # The implementation redelivers. Acknowledged messages stay silent and add nothing;
        # an unacknowledged one is logged now (✅) unless it was written before the kill
        # (then it is silent: the same message is never logged twice).
        logged = {
            link
            for (link,) in await bot.rows(
                "SELECT link FROM entry WHERE link LIKE :p", p="%/crash/%"
            )
        }
        again = list(before_kill)[:3]
        lost = [u for u in users if u not in before_kill][:4]
        await asyncio.gather(*(qq.send_event(events[u]) for u in again + lost))
        for u in lost:
            if LINK.format(u) not in logged:
                reply = await qq.wait_replies(GROUP, u, 1, timeout=20)
                assert len(reply) == 1, reply
                assert reply[0].startswith("✅ #"), reply
        await asyncio.sleep(1.0)
        for u in again + lost:
            expected = 1 if u in before_kill or LINK.format(u) not in logged else 0
            assert len(qq.replies(GROUP, u)) == expected, (u, qq.replies(GROUP, u))
        per_link = dict(
            await bot.rows(
                "SELECT link, COUNT(*) FROM entry WHERE link LIKE :p GROUP BY link", p="%/crash/%"
            )
        )
        assert all(n == 1 for n in per_link.values()), per_link
        assert all(LINK.format(u) in per_link for u in again + lost)

        after = await qq.say(GROUP, 37000, "/朋友圈 重启后", card="新人")
        assert after[0].startswith("✅ #"), after
    finally:
        await qq.disconnect()
        await bot.stop()
