"""Rubric versions (issue 24): a draft is checked as the file is at start, activated from a
month no team has settled; the rubric of a month is the version in force for it, a settled
month keeps its snapshot; the what-if scores a month under a draft and changes nothing."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from nonebug import App
from sqlalchemy import func, select

from bot import door
from bot.commands import RESERVED
from models import rubricstore as rs
from models.commission import SetBase, commission_base_for, parse_base, set_commission_base
from models.ledger import Refused
from models.periods import set_clock
from models.rubric import DEFAULT_RUBRIC_PATH, RubricError, load_rubric, parse_rubric
from models.tables import AuditLog, Entry, RubricVersion, Settlement
from models.usecases.base import Actor, Policy
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    LI,
    NOW,
    OWNER,
    SHANGHAI,
    ZHANG,
    frozen_clock,
    ids,
    team_a,
)
from tests.test_dashboard_speed import harsher_late
from tests.utils import plain, said


async def settle(app: App, period: str) -> None:
    """The team's owner settles a month that is over (the clock moves to 2 December)."""
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    reply = plain(await said(app, f"/结算 {period}", OWNER, role="owner"))
    assert reply.startswith("✅"), reply
    set_clock(NOW)


DEFAULT = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
HARSH = harsher_late().text


def test_a_draft_is_checked_with_the_messages_of_the_start():
    broken = DEFAULT.replace(
        'key = "late"\nname = "迟到"\ncategory = "hr"',
        'key = "late"\nname = "迟到"\ncategory = "nope"',
    )
    with pytest.raises(RubricError) as at_start:
        parse_rubric(broken, "网页编辑", set(RESERVED))
    with pytest.raises(RubricError) as on_web:
        rs.check_draft(broken, "网页编辑", set(RESERVED))
    assert str(on_web.value) == str(at_start.value)
    assert "项目 late" in str(on_web.value)
    assert "未知分类 nope" in str(on_web.value)
    clash = DEFAULT.replace('commands = ["迟到", "late"]', 'commands = ["迟到", "排行"]')
    with pytest.raises(RubricError, match="命令 排行 与内置命令重名"):
        rs.check_draft(clash, "网页编辑", set(RESERVED))


async def test_the_rubric_of_a_month_is_the_version_active_for_it(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    file_rubric = load_rubric()

    def draft(s):
        return rs.save_draft(s, HARSH, "迟到加重.toml", "qq:10000", "老板", set(RESERVED)).id

    vid = await door.write(None, draft)
    assert await door.write(None, draft) == vid  # the same content is one draft

    def rules(period):
        return lambda s: rs.rubric_for(s, period, file_rubric).version

    assert await door.read(rules("2026-12")) == file_rubric.version  # a draft is not in force
    with pytest.raises(Refused, match="只有超级管理员"):
        await door.write(
            None, lambda s: rs.activate(s, vid, "2026-12", "qq:1", "某人", superuser=False)
        )
    await door.write(
        None, lambda s: rs.activate(s, vid, "2026-12", "qq:10000", "老板", superuser=True)
    )
    harsh = harsher_late()
    assert await door.read(rules("2026-11")) == file_rubric.version
    assert await door.read(rules("2026-12")) == harsh.version
    assert await door.read(rules("2027-03")) == harsh.version
    # and the month it rules is scored with it, through the team's month rules
    got = await door.read(lambda s: rs.month_rules_for(s, a, "2026-12", file_rubric, None))
    assert got[0].version == harsh.version
    audited = await door.read(
        lambda s: s.execute(
            select(func.count(AuditLog.id)).where(AuditLog.action == "rubric.activate")
        ).scalar_one()
    )
    assert audited == 1


async def test_no_version_is_activated_from_a_settled_month(app: App):
    await team_a(app)
    await settle(app, "2026-11")
    vid = await door.write(
        None, lambda s: rs.save_draft(s, HARSH, "x.toml", "qq:10000", "老板", set(RESERVED)).id
    )
    with pytest.raises(Refused, match=r"2026-11 已结算（客服一组）"):
        await door.write(
            None, lambda s: rs.activate(s, vid, "2026-11", "qq:10000", "老板", superuser=True)
        )
    row = await door.read(lambda s: s.get(RubricVersion, vid).active_from)
    assert row is None


async def test_what_if_shows_every_agent_old_and_new_and_changes_nothing(app: App):
    """李四 was late twice: hr 8 → 4 under −3 a lateness; 92.0 A → 88.0 B; 张三 unchanged."""
    await team_a(app)
    a = (await ids())["客服一组"]
    before = await door.read(lambda s: s.execute(select(func.count(Entry.id))).scalar_one())
    w = await door.read(
        lambda s: rs.what_if(s, a, "2026-11", harsher_late(), load_rubric(), Decimal(10000))
    )
    rows = {r.name: r for r in w.rows}
    assert (rows["李四"].old.total, rows["李四"].new.total) == (92, 88)
    assert (rows["李四"].old.grade, rows["李四"].new.grade) == ("A", "B")
    assert (rows["张三"].old.total, rows["张三"].new.total) == (88, 88)
    assert [r.name for r in w.changed] == ["李四"]
    assert w.old_pay == Decimal("18000.00")  # 9200 + 8800
    assert w.new_pay == Decimal("17600.00")
    after = await door.read(lambda s: s.execute(select(func.count(Entry.id))).scalar_one())
    assert after == before


async def test_what_if_of_a_settled_month_starts_from_what_was_settled(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    await settle(app, "2026-11")
    w = await door.read(lambda s: rs.what_if(s, a, "2026-11", harsher_late(), load_rubric(), None))
    assert w.settled
    assert {r.name: (r.old.total, r.new.total) for r in w.rows} == {
        "李四": (92, 88),
        "张三": (88, 88),
    }
    assert w.old_pay is None  # no base, no pay


# ---- the commission base -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "value"),
    [
        ("8000", Decimal(8000)),
        ("¥8,000.50", Decimal("8000.50")),
        ("8000元", Decimal(8000)),
        ("默认", None),
    ],
)
def test_a_base_is_read_as_yuan(typed, value):
    assert parse_base(typed) == value


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("八千", "不是金额"),
        ("-5", "负数"),
        ("1.234", "分"),
        ("99999999", "最多"),
        ("nan", "不是金额"),
    ],
)
def test_a_bad_base_is_refused_saying_why(typed, why):
    with pytest.raises(Refused, match=why):
        parse_base(typed)


async def test_a_base_applies_from_its_month_and_settled_months_keep_theirs(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    b = (await ids())["客服二组"]
    policy = Policy(
        rubric=load_rubric(), tz=ZoneInfo("Asia/Shanghai"), commission_base=Decimal(5000)
    )
    boss, agent = Actor("qq", "10003", "王主管"), Actor("qq", "30001", "张三")

    def base(team, period):
        return lambda s: commission_base_for(s, team, period, Decimal(5000))

    def set_base(value, who=boss):
        return lambda s: set_commission_base(s, SetBase(a, who, value), policy)

    assert await door.read(base(a, "2026-11")) == Decimal(5000)  # KPI_COMMISSION_BASE
    done = await door.write(a, set_base(Decimal(8000)))
    assert (done.before, done.after, done.period) == (Decimal(5000), Decimal(8000), "2026-11")
    assert await door.read(base(a, "2026-11")) == Decimal(8000)
    assert await door.read(base(a, "2026-12")) == Decimal(8000)
    assert await door.read(base(a, "2026-09")) == Decimal(5000)  # before it: as it was
    assert await door.read(base(b, "2026-11")) == Decimal(5000)  # another team: the default
    with pytest.raises(Refused, match="只有本团队的主管可以这样做"):
        await door.write(a, set_base(Decimal(1), agent))
    await settle(app, "2026-11")
    stored = await door.read(
        lambda s: s.execute(
            select(Settlement.commission_base_cents).where(Settlement.team_id == a)
        ).scalar_one()
    )
    set_clock(datetime(2026, 12, 3, 9, 0, tzinfo=SHANGHAI))  # December: the base from now on
    again = await door.write(a, set_base(Decimal(9000)))
    assert (again.after, again.period) == (Decimal(9000), "2026-12")
    assert await door.read(base(a, "2026-12")) == Decimal(9000)
    kept = await door.read(base(a, "2026-11"))
    assert kept == (None if stored is None else Decimal(stored) / 100)  # as settled
    assert kept != Decimal(9000)
    back = await door.write(a, set_base(None))
    assert back.after == Decimal(5000)
