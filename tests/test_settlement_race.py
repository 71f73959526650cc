"""The scheduled settlement and a backdated entry of the same month at the same moment
(SPEC §4 "settled months are frozen", §6): the entry lands before the settlement scores
the month, or is refused 「已结算」 — a settled month always agrees with its entries.

Both go through the write door under the team's lock; before it, the settlement opened its
own transaction beside the door and, on PostgreSQL, took no team lock: a `/扣分` that had
passed its "settled?" check committed into a month just scored without it."""

import asyncio
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from nonebug import App
from sqlalchemy import select

from bot import db
from models.ledger import month_ranking
from models.periods import set_clock
from models.tables import Entry, SettledScore
from tests.utils import OWNER, at, bind, said

SHANGHAI = timezone(timedelta(hours=8))


async def test_backdated_deduction_racing_the_settlement_is_in_the_settled_scores_or_refused(
    app: App, monkeypatch
):
    import plugins.monthly
    import plugins.supervise
    from bot.runtime import rubric

    set_clock(datetime(2026, 10, 5, 9, 0, tzinfo=SHANGHAI))
    await bind(app)
    await said(app, "/软文 https://example.com/race/1", 30001, card="张三")

    # The deduction passes its "is the month settled?" check, then takes its time before
    # it writes: the moment in which the settlement must not score the month without it.
    checked = asyncio.Event()
    loop = asyncio.get_running_loop()
    if hasattr(plugins.supervise, "ensure_open"):  # the async handler of /扣分
        real_check = plugins.supervise.ensure_open

        async def slow_check(s, team_id, period):
            await real_check(s, team_id, period)
            checked.set()
            await asyncio.sleep(0.5)

        monkeypatch.setattr(plugins.supervise, "ensure_open", slow_check)
    else:  # the /扣分 use case, a plain function on the door's writer thread
        import models.usecases.marks as marks

        real_sync_check = marks.ensure_open

        def slow_sync_check(s, team_id, period):
            real_sync_check(s, team_id, period)
            loop.call_soon_threadsafe(checked.set)
            time.sleep(0.5)

        monkeypatch.setattr(marks, "ensure_open", slow_sync_check)
    set_clock(datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))  # October is due

    async def settle_when_checked():
        await checked.wait()
        return await plugins.monthly.settle_due()

    reply, settled = await asyncio.gather(
        said(app, ["/扣分 ", at(30001), " 迟到 2026-10"], OWNER, role="owner"),
        settle_when_checked(),
    )
    assert [p for _, p in settled] == ["2026-10"]
    async with db.reading() as s:
        stored = (await s.execute(select(SettledScore))).scalars().all()
        live = await s.run_sync(month_ranking, rubric(), 1, "2026-10", None)
        lateness = (await s.execute(select(Entry).where(Entry.item_key == "late"))).scalars().all()
    assert {sc.member_id: Fraction(sc.total) for sc in stored} == {
        r.member.id: r.score.total for r in live
    }
    if reply.startswith("❌"):
        assert "2026-10 已结算" in reply
        assert lateness == []
    else:
        assert reply.startswith("✅"), reply
        assert len(lateness) == 1
        [score] = stored
        assert Fraction(score.total) == live[0].score.total
        assert '"hr": "9"' in score.categories  # 10 − 1 for the lateness
