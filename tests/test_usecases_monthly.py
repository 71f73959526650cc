"""The monthly commands' use cases (`models.usecases.monthly`) as plain functions of one
transaction through the door, without NoneBot (SPEC §4)."""

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

from bot import door
from models.ledger import Refused
from models.rubric import load_rubric
from models.tables import Entry, GroupBinding, Member, Post, Settlement, Team, Tenure
from models.usecases.monthly import (
    DueRequest,
    ReopenRequest,
    ResendRequest,
    SettleRequest,
    reopen_month,
    resend_posts,
    settle_due_month,
    settle_month,
)

RUBRIC = load_rubric()
OCT = "2026-10"


def october_team(s) -> int:
    """客服一组, bound to one group, 张三 on it all October with one lateness."""
    at = datetime(2026, 10, 5, 1, 0)
    team = Team(name="客服一组", created_at=at)
    s.add(team)
    s.flush()
    s.add(
        GroupBinding(platform="qq", group_id="70001", team_id=team.id, bound_at=at, bound_by="qq:1")
    )
    m = Member(
        team_id=team.id, platform="qq", user_id="30001", name="张三", joined_on=date(2026, 10, 5)
    )
    s.add(m)
    s.flush()
    s.add(Tenure(member_id=m.id, start=date(2026, 10, 5)))
    s.add(
        Entry(
            team_id=team.id,
            member_id=m.id,
            period=OCT,
            item_key="late",
            quantity=1,
            fine_cents=0,
            created_at=at,
            created_by="qq:1",
            created_by_name="主管",
        )
    )
    return team.id


def request(team_id: int, period: str = OCT) -> SettleRequest:
    return SettleRequest(team_id, "qq:1", period, "2026-11", RUBRIC, None)


async def test_settle_month_scores_queues_the_post_and_refuses_a_second_time():
    team_id = await door.write(None, october_team)
    done = await door.write(team_id, lambda s: settle_month(s, request(team_id)))
    assert (done.period, done.members, done.correction) == (OCT, 1, False)
    with pytest.raises(Refused, match="2026-10 已结算过"):
        await door.write(team_id, lambda s: settle_month(s, request(team_id)))

    def posts(s):
        return s.scalar(select(func.count()).select_from(Post))

    assert await door.read(posts) == 1  # the group's post, once


async def test_a_month_not_over_or_with_nobody_to_score_is_refused_and_nothing_is_written():
    team_id = await door.write(None, october_team)
    with pytest.raises(Refused, match="2026-11 还没结束"):
        await door.write(team_id, lambda s: settle_month(s, request(team_id, "2026-11")))
    with pytest.raises(Refused, match="2026-09 没有需要考核的成员"):
        await door.write(team_id, lambda s: settle_month(s, request(team_id, "2026-09")))
    assert await door.read(lambda s: s.scalar(select(func.count()).select_from(Settlement))) == 0


async def test_the_schedule_settles_once_and_a_reopened_month_is_settled_again_as_a_correction():
    team_id = await door.write(None, october_team)
    due = DueRequest(team_id, OCT, RUBRIC, None)
    assert (await door.write(team_id, lambda s: settle_due_month(s, due))).members == 1
    assert await door.write(team_id, lambda s: settle_due_month(s, due)) is None
    reopen = ReopenRequest(team_id, "qq:10000", OCT)
    assert await door.write(team_id, lambda s: reopen_month(s, reopen)) == OCT
    # the schedule never re-settles a month a person reopened: it waits for /结算
    assert await door.write(team_id, lambda s: settle_due_month(s, due)) is None
    status = await door.read(lambda s: s.scalar(select(Settlement.status)))
    assert status == "reopened"
    with pytest.raises(Refused, match="还没有结算"):
        await door.write(
            team_id, lambda s: reopen_month(s, ReopenRequest(team_id, "qq:1", "2026-09"))
        )
    again = await door.write(team_id, lambda s: settle_month(s, request(team_id)))
    assert again.correction


async def test_resend_with_nothing_held_is_refused_naming_the_team():
    team_id = await door.write(None, october_team)
    ask = ResendRequest(team_id, "客服一组", "qq:10000", OCT)
    with pytest.raises(Refused, match="「客服一组」没有 2026-10 需要重发的月报"):
        await door.write(team_id, lambda s: resend_posts(s, ask))


async def test_a_month_is_settled_with_the_teams_own_commission_base():
    """Issue 24: a team's `/提成基数` from a month on is what its settlement pays with, not
    KPI_COMMISSION_BASE; the settled month keeps it whatever is set later."""
    from decimal import Decimal

    from models.settlement import month_scores
    from models.tables import CommissionBase, SettledScore

    team_id = await door.write(None, october_team)

    def set_base(s):
        s.add(
            CommissionBase(
                team_id=team_id,
                from_period="2026-09",
                cents=800000,
                set_at=datetime(2026, 9, 1),
                set_by="qq:1",
                set_by_name="主管",
            )
        )

    await door.write(team_id, set_base)
    # the open month's live ranking pays with the team's base
    _, ranking, _ = await door.read(
        lambda s: month_scores(s, team_id, OCT, RUBRIC, Decimal("5000"))
    )
    paid_live = ranking[0].score.commission
    general = SettleRequest(team_id, "qq:1", OCT, "2026-11", RUBRIC, Decimal("5000"))
    await door.write(team_id, lambda s: settle_month(s, general))

    def stored(s):
        st = s.scalars(select(Settlement)).one()
        sc = s.scalars(select(SettledScore)).one()
        return st.commission_base_cents, sc.commission_cents

    base_cents, commission_cents = await door.read(stored)
    assert base_cents == 800000
    assert paid_live is not None
    assert commission_cents == int(paid_live * 100)
    assert commission_cents > 500000  # 8000 × total%; 5000 × total% is ¥5000 at most
