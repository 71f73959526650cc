"""SPEC §4 appeals: an agent disputes a deduction; supervisors reject or accept (revoke)."""

from datetime import datetime, timedelta, timezone

from nonebug import App
from sqlalchemy import select

from bot import db
from models.periods import set_clock
from models.tables import Appeal, AuditLog
from tests.utils import OWNER, at, bind, said

SHANGHAI = timezone(timedelta(hours=8))
BOSS = 10003


async def setup_team(app: App) -> None:
    """张三 (30001) and 李四 (30002) report; BOSS is made supervisor; #3 is a complaint on 张三."""
    set_clock(datetime(2026, 11, 10, 9, 0, tzinfo=SHANGHAI))
    await bind(app)
    await said(app, "/软文 https://example.com/1", 30001, card="张三")  # 1
    await said(app, "/软文 https://example.com/2", 30002, card="李四")  # 2
    await said(app, ["/投诉 ", at(30001), " 客户说态度差"], OWNER, role="owner")  # 3
    await said(app, ["/主管 ", at(BOSS)], OWNER, role="owner", api=[member_info(BOSS, "王主管")])


def member_info(uid: int, card: str):
    return ("get_group_member_info", {"group_id": 20001, "user_id": uid}, {"card": card})


async def appeals() -> list[Appeal]:
    async with db.reading() as s:
        return list((await s.execute(select(Appeal).order_by(Appeal.id))).scalars())


async def test_agent_appeals_own_deduction_and_supervisors_are_mentioned(app: App):
    await setup_team(app)
    reply = await said(app, "/申诉 #3 那天我请假了", 30001, card="张三")
    assert reply.startswith("✅ 已提交对 #3 业务绩效·客户投诉 −3 的申诉（理由：那天我请假了）")
    assert "[CQ:at,qq=10003]" in reply
    assert [(a.entry_id, a.status) for a in await appeals()] == [(3, "open")]


async def test_appeal_needs_a_reason_and_cannot_be_filed_twice(app: App):
    await setup_team(app)
    assert (await said(app, "/申诉 #3", 30001)).startswith("❌ 请写申诉理由")
    await said(app, "/申诉 #3 冤枉", 30001)
    assert (await said(app, "/申诉 #3 再申诉", 30001)).startswith("❌ #3 已有一条申诉在处理中")
    assert len(await appeals()) == 1


async def test_appealing_someone_elses_entry_a_self_report_or_a_revoked_entry_is_refused(
    app: App,
):
    await setup_team(app)
    assert (await said(app, "/申诉 #3 帮他申诉", 30002, card="李四")).startswith(
        "❌ #3 不是你的记录"
    )
    assert (await said(app, "/申诉 #1 自报也申诉", 30001)).startswith("❌ #1 不是扣分")
    await said(app, "/撤销 #3 录错人了", OWNER, role="owner")
    assert (await said(app, "/申诉 #3 还申诉", 30001)).startswith("❌ #3 已被撤销")
    assert await appeals() == []


async def test_appeal_in_a_settled_month_is_refused(app: App):
    await setup_team(app)
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    await said(app, "/结算 2026-11", OWNER, role="owner")
    assert (await said(app, "/申诉 #3 晚了", 30001)).startswith("❌ 2026-11 已结算")
    assert await appeals() == []


async def test_reject_closes_the_appeal_and_tells_the_agent(app: App):
    await setup_team(app)
    await said(app, "/申诉 #3 冤枉", 30001)
    assert (await said(app, "/驳回 #3 有录音", 30002)).startswith("❌ 只有本团队的主管")
    reply = await said(app, "/驳回 #3 有录音", BOSS, card="王主管")
    assert reply == (
        "✅ 已驳回 #3 的申诉（有录音）\n[CQ:at,qq=30001] 你对 #3 的申诉已被驳回，扣分保留"
    )
    assert [a.status for a in await appeals()] == ["rejected"]
    assert (await said(app, "/驳回 #3", BOSS)).startswith("❌ #3 没有待处理的申诉")


async def test_revoke_accepts_the_appeal_and_tells_the_agent(app: App):
    await setup_team(app)
    await said(app, "/申诉 #3 冤枉", 30001, card="张三")
    reply = await said(app, "/撤销 #3 申诉成立", BOSS, card="王主管")
    assert reply.startswith("✅ 已撤销 #3 张三 业务绩效·客户投诉 −3（原因：申诉成立）")
    assert reply.endswith("[CQ:at,qq=30001] 你对 #3 的申诉已受理，扣分已撤销")
    assert "业务绩效 50/50" in reply
    assert [a.status for a in await appeals()] == ["accepted"]


async def test_open_appeals_are_listed_and_expire_when_the_month_settles(app: App):
    await setup_team(app)
    await said(app, ["/迟到 ", at(30002)], OWNER, role="owner")  # 4
    await said(app, "/申诉 #3 冤枉", 30001, card="张三")
    await said(app, "/申诉 #4 堵车", 30002, card="李四")
    listing = await said(app, "/申诉列表", BOSS)
    assert "#3 张三 业务绩效·客户投诉 −3 理由：冤枉" in listing
    assert "#4 李四 人事考核·迟到 −1 理由：堵车" in listing
    await said(app, "/撤销 #4", BOSS)
    preview = await said(app, "/月报", BOSS)
    assert "待处理申诉 1 条：#3" in preview
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    await said(app, "/结算 2026-11", OWNER, role="owner")
    assert [a.status for a in await appeals()] == ["expired", "accepted"]


async def test_every_appeal_transition_is_audited(app: App):
    await setup_team(app)
    await said(app, "/申诉 #3 冤枉", 30001)
    await said(app, "/驳回 #3", BOSS)
    again = await said(app, "/申诉 #3 再看看录音", 30001)  # one appeal per entry (SPEC §3)
    assert again.startswith("❌ #3 的申诉已被驳回"), again
    await said(app, ["/迟到 ", at(30001)], OWNER, role="owner")  # 4
    assert (await said(app, "/申诉 #4 冤枉", 30001)).startswith("✅")
    await said(app, "/撤销 #4", BOSS)
    async with db.reading() as s:
        actions = [a for (a,) in await s.execute(select(AuditLog.action).order_by(AuditLog.id))]
    assert [a for a in actions if a.startswith("appeal.")] == [
        "appeal.open",
        "appeal.rejected",
        "appeal.open",
        "appeal.accepted",
    ]


async def test_detail_shows_counts_and_each_entrys_appeal_state(app: App):
    """Issue 23: `/明细` writes `×3` beside a deduction logged three times, and marks an
    entry under appeal 申诉中, then 申诉驳回 once rejected."""
    await setup_team(app)
    await said(app, ["/扣分 ", at(30001), " 回复不及时 3"], OWNER, role="owner")  # 4
    await said(app, "/申诉 #3 那天我请假了", 30001, card="张三")
    detail = await said(app, ["/明细 ", at(30001)], OWNER, role="owner")
    [four] = [line for line in detail.splitlines() if line.startswith("#4 ")]
    assert "回复不及时 ×3 −6" in four, four
    [three] = [line for line in detail.splitlines() if line.startswith("#3 ")]
    assert "〔申诉中〕" in three, three
    assert "申诉" not in four, four
    await said(app, "/驳回 #3 核实过了", BOSS)
    detail = await said(app, ["/明细 ", at(30001)], OWNER, role="owner")
    [three] = [line for line in detail.splitlines() if line.startswith("#3 ")]
    assert "〔申诉驳回〕" in three, three
