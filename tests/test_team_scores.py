"""A whole team's month, scored in batches, equals each member's month scored alone."""

import random
from datetime import date, datetime
from itertools import pairwise

from sqlalchemy import insert, select

from bot import db
from models import ledger, settlement
from models.ledger import month_ranking, month_score
from models.roster import agents_scored
from models.rubric import load_rubric
from models.tables import Entry, Member, SettledScore, Team, Tenure

PERIOD = "2026-10"


async def a_team_month() -> None:
    """Agents 1–6 on the team in October with random entries, some revoked; 7 a supervisor
    with entries (not scored); 8 left in September (not scored); 9 left in September but
    has an October entry with a fine (scored, and the last in member order); 10 on the team
    without entries; 11 on team 2."""
    rubric = load_rubric()
    keys = [i.key for i in rubric.items]
    rng = random.Random(14)
    sept = date(2026, 9, 1)
    async with db.writing() as s:
        await s.execute(
            insert(Team),
            [{"id": t, "name": f"团队{t}", "created_at": datetime(2026, 9, 1)} for t in (1, 2)],
        )
        await s.execute(
            insert(Member),
            [
                {"id": m, "team_id": 2 if m == 11 else 1, "platform": "qq",
                 "user_id": str(1000 + m), "name": f"客服{m % 4}",  # equal names: ties by id
                 "role": "supervisor" if m == 7 else "agent", "joined_on": sept}
                for m in range(1, 12)
            ],
        )  # fmt: skip
        await s.execute(
            insert(Tenure),
            [
                {"member_id": m, "start": sept, "end": date(2026, 9, 30) if m in (8, 9) else None}
                for m in range(1, 12)
            ],
        )
        rows = []
        for n, m in enumerate([*(rng.randrange(1, 7) for _ in range(300)), 7, 7, 11, 9]):
            revoked = m != 9 and rng.random() < 0.1
            rows.append(
                {"team_id": 2 if m == 11 else 1, "member_id": m, "period": PERIOD,
                 "item_key": rng.choice(keys), "quantity": rng.randrange(1, 40),
                 "fine_cents": 550 if m == 9 else rng.choice((0, 0, 0, 550)), "created_at": datetime(2026, 10, 9),
                 "created_by": "qq:1", "created_by_name": "测试",
                 "revoked_at": datetime(2026, 10, 10) if revoked else None,
                 "link": f"https://e.com/{n}"}
            )  # fmt: skip
        await s.execute(insert(Entry), rows)


async def test_team_scores_streamed_in_small_batches_equal_each_member_scored_alone(monkeypatch):
    monkeypatch.setattr(ledger, "TALLY_BATCH", 3)  # one member's tallies span batches
    await a_team_month()
    rubric = load_rubric()
    async with db.reading() as s:
        ranking = await s.run_sync(month_ranking, rubric, 1, PERIOD, None)
        scored = [m.id for m in await s.run_sync(agents_scored, 1, PERIOD)]
        alone = {m: await s.run_sync(month_score, rubric, 1, m, PERIOD, None) for m in scored}
    assert scored == [1, 2, 3, 4, 5, 6, 9, 10]
    assert sorted(r.member.id for r in ranking) == scored
    for r in ranking:
        assert r.score == alone[r.member.id]
        assert (r.member.name, r.member.platform, r.member.user_id) == (
            f"客服{r.member.id % 4}",
            "qq",
            str(1000 + r.member.id),
        )
    order = [(-r.score.total, r.member.name, r.member.id) for r in ranking]
    assert order == sorted(order)
    for before, r in pairwise(ranking):
        assert r.rank == (
            before.rank if r.score.total == before.score.total else ranking.index(r) + 1
        )


async def test_settle_writes_every_ranked_agent_in_batches(monkeypatch):
    monkeypatch.setattr(settlement, "INSERT_BATCH", 3)
    await a_team_month()
    rubric = load_rubric()
    async with db.writing() as s:
        result = await s.run_sync(settlement.settle, rubric, 1, PERIOD, "测试", None)
    async with db.reading() as s:
        rows = (await s.execute(select(SettledScore).order_by(SettledScore.rank))).scalars().all()
    assert len(rows) == len(result.ranking) == 8
    assert {(r.member_id, r.rank, r.total, r.fine_cents) for r in rows} == {
        (r.member.id, r.rank, str(r.score.total), int(r.score.fines * 100)) for r in result.ranking
    }
