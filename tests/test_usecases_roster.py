"""The roster, binding and the nudge setting as plain use cases on a scratch database
(SQLite or PostgreSQL, no NoneBot): /入职 /离职 /主管 /取消主管, /绑定 /解绑, /提醒
(SPEC §2, §4)."""

from __future__ import annotations

import pytest

from models.ledger import Refused
from models.usecases.base import Actor, Person, Word
from models.usecases.binding import BindRequest, Bound, Silent, UnbindRequest, bind, unbind
from models.usecases.roster import (
    JoinRequest,
    LeaveRequest,
    RemindRequest,
    RoleRequest,
    join,
    leave,
    set_reminder,
    set_role,
)
from tests.usecase_db import ALICE, BOB, BOSS, GROUP, OWNER, POLICY, ROOT, WEB_BOSS, make


@pytest.fixture
async def udb(tmp_path):
    d = await make(tmp_path, "roster")
    yield d
    await d.engine.dispose()


async def test_join_registers_someone_in_the_group_only(udb):
    people = {"30005": Person("30005", "吴五")}
    done = await udb.run(
        lambda s: join(s, JoinRequest(udb.team_id, BOSS, ("30005",), people=people), POLICY)
    )
    assert [(x.name, x.status) for x in done.lines] == [("吴五", "new")]
    with pytest.raises(Refused, match="QQ 30006 不在本群，不能入职"):
        await udb.run(lambda s: join(s, JoinRequest(udb.team_id, BOSS, ("30006",)), POLICY))
    again = await udb.run(
        lambda s: join(s, JoinRequest(udb.team_id, BOSS, ("30005",), "吴小五"), POLICY)
    )
    assert [(x.name, x.status) for x in again.lines] == [("吴小五", "renamed")]
    with pytest.raises(Refused, match="只有本团队的主管"):
        await udb.run(lambda s: join(s, JoinRequest(udb.team_id, ALICE, ("30005",)), POLICY))


async def test_join_names_someone_stored_under_their_account_id(udb):
    """Where events carry no names a first sighting is stored under the id; /入职 @them
    with the name the platform gives then names them (SPEC §2)."""

    def joined(name: str):
        people = {"30007": Person("30007", name)}
        request = JoinRequest(udb.team_id, BOSS, ("30007",), people=people)
        return udb.run(lambda s: join(s, request, POLICY))

    assert [(x.name, x.status) for x in (await joined("30007")).lines] == [("30007", "new")]
    assert [(x.name, x.status) for x in (await joined("孙七")).lines] == [("孙七", "renamed")]
    assert [(x.name, x.status) for x in (await joined("七七")).lines] == [("孙七", "already")]


async def test_leave_ends_the_membership_keeping_history_and_join_brings_back(udb):
    words = (Word(mention="30002"),)
    done = await udb.run(lambda s: leave(s, LeaveRequest(udb.team_id, BOSS, words), POLICY))
    assert done.names == ["钱二"]
    [(left_on,)] = await udb.rows("SELECT left_on FROM member WHERE user_id = '30002'")
    assert str(left_on)[:10] == str(POLICY.today)
    ended = 'SELECT COUNT(*) FROM tenure WHERE member_id = :m AND "end" IS NOT NULL'
    assert await udb.rows(ended, m=udb.ids["30002"]) == [(1,)]
    with pytest.raises(Refused, match=r"已于 .* 离职"):
        await udb.run(lambda s: leave(s, LeaveRequest(udb.team_id, BOSS, words), POLICY))
    back = await udb.run(
        lambda s: join(s, JoinRequest(udb.team_id, BOSS, ("30002",), "钱二"), POLICY)
    )
    assert [x.status for x in back.lines] == ["rejoined"]
    assert await udb.rows(
        "SELECT COUNT(*) FROM tenure WHERE member_id = :m", m=udb.ids["30002"]
    ) == [(2,)]


async def test_only_an_owner_or_superuser_sets_a_supervisor(udb):
    words = (Word(mention="30001"),)
    with pytest.raises(Refused, match="只有群主或超级管理员"):
        await udb.run(
            lambda s: set_role(s, RoleRequest(udb.team_id, BOSS, words, "supervisor"), POLICY)
        )
    done = await udb.run(
        lambda s: set_role(s, RoleRequest(udb.team_id, OWNER, words, "supervisor"), POLICY)
    )
    assert (done.team_name, done.names) == ("客服一组", ["赵一"])
    await udb.run(lambda s: set_role(s, RoleRequest(udb.team_id, ROOT, words, "agent"), POLICY))
    roles = await udb.rows("SELECT before, after FROM auditlog WHERE action = 'role' ORDER BY id")
    assert roles == [('"agent"', '"supervisor"'), ('"supervisor"', '"agent"')]


def bind_req(actor: Actor, name: str, group: str = "20002", self_id: str = "99", to_me=False):
    return BindRequest(actor, group, name, "OneBot V11", self_id, to_me)


async def test_a_new_team_is_made_by_an_owner_and_an_existing_one_needs_its_supervisor(udb):
    with pytest.raises(Refused, match="只有群主或超级管理员可以创建新团队"):
        await udb.run(lambda s: bind(s, bind_req(BOSS, "客服二组"), POLICY))
    made = await udb.run(lambda s: bind(s, bind_req(OWNER, "客服二组"), POLICY))
    assert made == Bound("客服二组", "new")
    # the owner of a third group may not join the existing 客服一组 …
    refused = await udb.run(lambda s: bind(s, bind_req(OWNER, "客服一组", "20003"), POLICY))
    assert isinstance(refused, Refused)
    assert "只有超级管理员或「客服一组」的主管" in str(refused)
    assert await udb.rows("SELECT action FROM auditlog WHERE action = 'bind.refused'") == [
        ("bind.refused",)
    ]
    assert await udb.rows("SELECT group_id FROM groupbinding WHERE group_id = '20003'") == []
    # … its explicit supervisor may
    joined = await udb.run(lambda s: bind(s, bind_req(BOSS, "客服一组", "20003"), POLICY))
    assert joined == Bound("客服一组", "existing")


async def test_a_bound_group_moves_to_another_account_only_when_addressed(udb):
    with pytest.raises(Refused, match="本群已绑定团队「客服一组」"):
        await udb.run(lambda s: bind(s, bind_req(BOSS, "x", GROUP), POLICY))
    other = await udb.run(lambda s: bind(s, bind_req(BOSS, "x", GROUP, "98"), POLICY))
    assert other == Silent()
    moved = await udb.run(lambda s: bind(s, bind_req(BOSS, "x", GROUP, "98", True), POLICY))
    assert moved == Bound("客服一组", "account")
    assert await udb.rows("SELECT self_id FROM groupbinding") == [("98",)]


async def test_unbind_keeps_every_record_and_needs_the_owner(udb):
    with pytest.raises(Refused, match="只有群主或超级管理员"):
        await udb.run(lambda s: unbind(s, UnbindRequest(udb.team_id, BOSS, GROUP), POLICY))
    done = await udb.run(lambda s: unbind(s, UnbindRequest(udb.team_id, OWNER, GROUP), POLICY))
    assert done.team_name == "客服一组"
    assert await udb.rows("SELECT COUNT(*) FROM groupbinding") == [(0,)]
    assert await udb.rows("SELECT COUNT(*) FROM member") == [(3,)]


async def test_the_reminder_time_is_set_by_a_supervisor_with_its_channel(udb):
    done = await udb.run(
        lambda s: set_reminder(s, RemindRequest(udb.team_id, WEB_BOSS, "17:30"), POLICY)
    )
    assert done.value == "17:30"
    assert await udb.rows("SELECT reminder_time FROM team") == [("17:30",)]
    assert await udb.rows("SELECT action, channel FROM auditlog") == [("reminder", "网页")]
    with pytest.raises(Refused, match="只有本团队的主管"):
        await udb.run(lambda s: set_reminder(s, RemindRequest(udb.team_id, BOB, "off"), POLICY))


async def test_a_months_commission_base_is_the_latest_set_from_before_it_else_the_teams(udb):
    """An open month's base (one statement): the latest `/提成基数` from a month not after
    it — one that cleared it means KPI_COMMISSION_BASE — else the team's stored base,
    else KPI_COMMISSION_BASE; a settled month keeps its own."""
    from decimal import Decimal

    from models.commission import commission_base_for, open_month_base
    from models.periods import utcnow
    from models.tables import CommissionBase, Settlement, Team

    default = Decimal("5000")
    team_id = udb.team_id

    def bases(s) -> list:
        return [open_month_base(s, team_id, p, default) for p in ("2026-09", "2026-10", "2026-11")]

    assert await udb.run(bases) == [default] * 3

    def stored(s) -> None:
        s.get(Team, team_id).commission_base_cents = 300000

    await udb.run(stored)
    assert await udb.run(bases) == [Decimal("3000")] * 3

    def set_from(s, period: str, cents: int | None) -> None:
        s.add(
            CommissionBase(
                team_id=team_id,
                from_period=period,
                cents=cents,
                set_at=utcnow(),
                set_by="qq:1",
                set_by_name="张主管",
            )
        )

    await udb.run(lambda s: set_from(s, "2026-10", 800000))
    await udb.run(lambda s: set_from(s, "2026-11", None))  # cleared: back to the default
    assert await udb.run(bases) == [Decimal("3000"), Decimal("8000"), default]
    assert await udb.run(lambda s: open_month_base(s, 999999, "2026-11", default)) == default

    def settled(s) -> Decimal | None:
        s.add(
            Settlement(
                team_id=team_id,
                period="2026-10",
                status="settled",
                rubric_version="v1",
                rubric_text="",
                settled_at=utcnow(),
                settled_by="qq:1",
                commission_base_cents=123400,
            )
        )
        s.flush()
        return commission_base_for(s, team_id, "2026-10", default)

    assert await udb.run(settled) == Decimal("1234")
