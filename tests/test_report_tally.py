"""The self-report's reply score is the month so far plus the new entry (issue 14: one
SELECT reads the rules and the month together). Checked against the month recomputed from
the stored rows, through a random month of reports, deductions with fines and revokes."""

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from bot import db
from models.ledger import Refused, get_entry, month_score, revoke
from models.reports import _CHECKS, SelfReport, log_self_report, read_checks
from models.roster import _MEMBER_ROW, create_team, join_sync
from models.rubric import load_rubric
from models.tables import Entry

RUBRIC = load_rubric()
PERIOD = "2026-11"
START = datetime(2026, 11, 2, 1, 0)
BASE = Decimal("3000")


async def _setup() -> tuple[int, int]:
    def team(s: Session) -> int:
        return create_team(s, "客服一组", "test").id

    team_id = await db.write(None, team)

    def agent(s: Session) -> int:
        member, _ = join_sync(s, team_id, "qq", "1", "张三", START.date(), "qq:1")
        assert member.id is not None
        return member.id

    return team_id, await db.write(team_id, agent)


def _report(team_id: int, member_id: int, n: int, rng: random.Random) -> SelfReport:
    item = rng.choice(RUBRIC.self_items())
    at = START + timedelta(hours=n)
    return SelfReport(
        team_id=team_id,
        member_id=member_id,
        member_name="张三",
        item=item,
        quantity=rng.randint(1, 5) if item.evidence == "count" else 1,
        link=f"https://example.com/t/{n}" if item.evidence == "link" else None,
        note=None,
        image_url=None,
        image_file=None,
        period=PERIOD,
        at=at,
        actor="qq:1",
        source=f"qq:bot:g:{n}",
    )


def _log(s: Session, r: SelfReport):
    """`self_report`'s two steps for agent 张三 (qq 1): read the checks, log."""
    day = datetime(r.at.year, r.at.month, r.at.day)
    checks = read_checks(
        s, r.team_id, ("qq", "1"), r.item.key, r.link, r.period, (day, day + timedelta(days=1))
    )
    assert checks.member is not None
    assert checks.member.id == r.member_id
    return log_self_report(s, RUBRIC, r, BASE, checks)


async def test_the_reply_score_is_the_stored_months_score(app):
    team_id, member_id = await _setup()
    rng = random.Random(14)
    logged_ids: list[int] = []
    for n in range(60):
        roll = rng.random()
        if roll < 0.15 and logged_ids:  # a revoke (ORM, another unit)
            victim = rng.choice(logged_ids)

            def undo(s: Session, victim=victim) -> None:
                entry = get_entry(s, victim)
                assert entry is not None
                revoke(s, entry, "qq:9", "主管", "test")

            logged_ids.remove(victim)
            await db.write(team_id, undo)
            continue
        if roll < 0.25:  # a deduction with a fine (written by another path)
            key = rng.choice([i.key for i in RUBRIC.items if i.points and i.points < 0])

            def fine(s: Session, key=key, n=n) -> None:
                s.add(
                    Entry(
                        team_id=team_id,
                        member_id=member_id,
                        period=PERIOD,
                        item_key=key,
                        quantity=1,
                        fine_cents=rng.choice([0, 5000, 20000]),
                        created_at=START + timedelta(hours=n),
                        created_by="qq:9",
                        created_by_name="主管",
                    )
                )

            await db.write(team_id, fine)
            continue
        report = _report(team_id, member_id, n, rng)
        try:
            logged = await db.write(team_id, lambda s, r=report: _log(s, r))
        except Refused:  # a daily cap
            continue
        logged_ids.append(logged.entry_id)
        async with db.reading() as s:
            stored = await s.run_sync(month_score, RUBRIC, team_id, member_id, PERIOD, BASE)
        assert logged.score == stored, n
        assert logged.done == stored.item(report.item.key).quantity
    assert len(logged_ids) > 20


async def test_the_checks_of_a_report_read_indexes_not_the_whole_entry_table(app):
    """Every self-report counts the agent's reports of the item today (daily caps): that
    count goes through an index (ix_entry_member_day), never a scan of every entry of every
    team, on both engines (PostgreSQL told to avoid sequential scans where it can, so
    the plan shows whether an index serves it at this small size)."""
    team_id, member_id = await _setup()
    report = _report(team_id, member_id, 1, random.Random(1))
    day = datetime(report.at.year, report.at.month, report.at.day)
    params = {
        "team_id": team_id,
        "platform": "qq",
        "user_id": "1",
        "period": PERIOD,
        "link": "https://example.com/a",
        "item_key": report.item.key,
        "day_start": day,
        "day_end": day + timedelta(days=1),
    }

    def plan(s: Session) -> str:
        conn = s.connection()
        dialect = conn.dialect
        if dialect.name == "sqlite":  # named parameters, as the dict gives them
            dialect = sqlite.dialect(paramstyle="named")
        compiled = _CHECKS.compile(dialect=dialect)
        sql, given = str(compiled), {**compiled.params, **params}
        if dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + sql, given).all()
        else:
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, given).all()
        return "\n".join(str(r[-1]) for r in rows)

    found = await db.write(team_id, plan)
    assert "ix_entry_member_day" in found, found
    assert "Seq Scan on entry" not in found, found
    assert "SCAN entry\n" not in found + "\n", found


async def test_a_member_is_found_by_account_through_the_unique_indexes(app):
    """Every command reads its speaker by account (`models.roster.member_row`): by the
    unique (team, platform, user id) of the member or of a linked account — never by
    reading every member of the team (an OR of the two did, on both engines)."""
    team_id, _ = await _setup()
    params = {"team_id": team_id, "platform": "qq", "user_id": "1"}

    def plan(s: Session) -> str:
        conn = s.connection()
        dialect = conn.dialect
        if dialect.name == "sqlite":
            dialect = sqlite.dialect(paramstyle="named")
            conn.exec_driver_sql("ANALYZE")  # statistics, as a long-running database has
        sql = str(_MEMBER_ROW.compile(dialect=dialect))
        prefix = "EXPLAIN " if dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
        if dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        return "\n".join(str(r[-1]) for r in conn.exec_driver_sql(prefix + sql, params).all())

    found = await db.write(team_id, plan)
    assert "Filter" not in found, found  # PostgreSQL: no member read and then dropped
    assert "SCAN member\n" not in found + "\n", found  # SQLite: no scan of every member
    assert "(team_id=?)" not in found, found  # …nor of the team's
    assert "member_pkey" in found or "INTEGER PRIMARY KEY" in found, found
