"""Issue 20 finding 9, end to end (SPEC §5 "Several processes"): two bot processes on one
database (PostgreSQL when the suite runs on it, else one shared SQLite file) and one QQ
account connected to both, as NapCat with two reverse WebSockets. Every message reaches
both processes; each is answered exactly once: a read, a refusal, a report; and a group
bound through one process is served by the other at its next message, within the 30 s the
binding is remembered."""

from __future__ import annotations

import asyncio

import pytest

from tools import testdb
from tools.onebot_sim import BotProcess, OneBotV11Sim

OWNER = 10001
AGENT = 47001


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to bot processes; the in-process database of conftest is not used."""


async def to_both(sims: list[OneBotV11Sim], group: int, user: int, text: str, **kw) -> list[str]:
    """One message delivered to both processes; every reply to it from either."""
    event = sims[0].group_event(group, user, text, **kw)
    before = [len(s.replies(group, user)) for s in sims]
    await asyncio.gather(*(s.send_event(dict(event)) for s in sims))
    for _ in range(30):  # a reply comes within moments; then wait for a second one
        await asyncio.sleep(0.1)
        if any(len(s.replies(group, user)) > n for s, n in zip(sims, before, strict=True)):
            break
    await asyncio.sleep(1.5)
    return [r for s, n in zip(sims, before, strict=True) for r in s.replies(group, user)[n:]]


async def test_two_processes_one_account_answer_every_message_once(tmp_path):
    g = 41301
    url = await testdb.create_database(tmp_path, "shared")
    bots = [BotProcess(tmp_path / n, database_url=url) for n in ("p1", "p2")]
    await bots[0].start()  # migrates the empty database
    await bots[1].start()
    sims = [OneBotV11Sim(b.ws_url()) for b in bots]
    for sim in sims:
        await sim.connect()
    try:
        # Process 2 sees the group unbound first (and would remember that for 30 s).
        assert await sims[1].say(g, AGENT, "/朋友圈 还没绑定", card="吴十", expect=0) == []
        bound = await sims[0].say(g, OWNER, "/绑定 双进程答一次", role="owner")
        assert bound[0].startswith("✅"), bound
        reported = await sims[1].say(g, AGENT, "/朋友圈 绑定之后", card="吴十")
        assert reported[0].startswith("✅ #1 "), reported

        read = await to_both(sims, g, AGENT, "/我的绩效", card="吴十")
        assert len(read) == 1, read
        assert read[0].startswith("📋 吴十"), read

        refused = await to_both(sims, g, AGENT, "/软文 没有链接", card="吴十")
        assert len(refused) == 1, refused
        assert refused[0].startswith("❌ 自建渠道软文需要附上链接"), refused

        refused_read = await to_both(sims, g, AGENT, "/我的绩效 9999-99", card="吴十")
        assert len(refused_read) == 1, refused_read
        assert refused_read[0].startswith("❌"), refused_read

        logged = await to_both(sims, g, AGENT, "/加好友 3", card="吴十")
        assert len(logged) == 1, logged
        assert logged[0].startswith("✅ #2 "), logged
        assert await bots[0].rows("SELECT COUNT(*) FROM entry") == [(2,)]
    finally:
        for b, s in zip(bots, sims, strict=True):
            await s.disconnect()
            await b.stop()
