"""Issue 20 "Roles are exact" in chat (SPEC §2): a scored agent who may supervise (a group
admin, a superuser) never deducts, bonuses, revokes or decides an appeal about themselves;
a member who has left gets nothing in private chat."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nonebug import App

from models.ledger import Refused
from models.periods import set_clock
from models.rights import SELF_MARK, is_current, is_current_supervisor, refuse_self
from models.tables import Member
from tests.utils import (
    ADMIN,
    GROUP,
    OTHER_GROUP,
    OWNER,
    SUPER,
    at,
    bind,
    entries,
    plain,
    private_event,
    said,
    say,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 15, 10, 0, tzinfo=SH)
ZHANG = 30001


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


def member(**kw) -> Member:
    values = {"id": 7, "team_id": 1, "platform": "qq", "user_id": "10002", "name": "管理员"}
    values |= {"joined_on": date(2026, 1, 1)} | kw
    return Member(**values)


# ---- the rules, plain ---------------------------------------------------------------------------


def test_a_membership_lasts_until_its_leaving_day():
    today = date(2026, 11, 15)
    assert is_current(member(), today)
    assert is_current(member(left_on=date(2026, 11, 16)), today)
    assert not is_current(member(left_on=today), today)
    assert not is_current(member(left_on=date(2026, 10, 31)), today)
    assert is_current_supervisor(member(role="supervisor"), today)
    assert not is_current_supervisor(member(role="supervisor", left_on=today), today)
    assert not is_current_supervisor(member(role="agent"), today)
    assert not is_current_supervisor(None, today)


def test_nobody_deals_for_themselves_by_account_or_by_membership():
    me, other = member(), member(id=8, user_id="30001")
    with pytest.raises(Refused, match=SELF_MARK):
        refuse_self("qq:10002", None, [other, me], SELF_MARK)
    with pytest.raises(Refused):
        refuse_self("qq:99999", 7, [me], SELF_MARK)  # the speaker's own row
    refuse_self("qq:10002", 7, [other], SELF_MARK)
    refuse_self("wecom:10002", None, [other], SELF_MARK)  # another platform's 10002


# ---- through chat -------------------------------------------------------------------------------


async def admin(app: App, content) -> str:
    return plain(await said(app, content, ADMIN, role="admin", card="管理员"))


async def owner(app: App, content) -> str:
    return plain(await said(app, content, OWNER, role="owner"))


async def admin_agent(app: App) -> int:
    """A group admin who self-reports (an agent of the team) and gets a complaint; returns
    the complaint's id."""
    await bind(app)
    assert (await admin(app, "/软文 https://example.com/a1")).startswith("✅ #1 ")
    assert plain(await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅ #2 ")
    reply = await owner(app, ["/投诉 ", at(ADMIN), " 客户说态度差"])
    assert reply.startswith("✅ #3 管理员 业务绩效·客户投诉 −3"), reply
    return 3


async def test_an_admin_agent_cannot_revoke_a_complaint_against_themselves(app: App):
    complaint = await admin_agent(app)
    reply = await admin(app, f"/撤销 #{complaint} 我觉得不算")
    assert reply.startswith("❌ 不能撤销自己的记录，请让其他主管处理"), reply
    assert "用法：/撤销" in reply
    assert (await entries())[2].revoked_at is None
    assert (await admin(app, "/撤销 #2 重复")).startswith("✅ 已撤销 #2 张三")  # others: yes
    assert (await owner(app, f"/撤销 #{complaint} 查过了")).startswith("✅ 已撤销 #3 管理员")


async def test_an_admin_agent_cannot_bonus_or_deduct_themselves(app: App):
    await admin_agent(app)
    before = len(await entries())
    for command in (
        ["/加分 ", at(ADMIN), " 培训讲师 5"],
        ["/扣分 ", at(ADMIN), " 迟到"],
        ["/迟到 ", at(ADMIN)],
        ["/严重投诉 ", at(ADMIN), " 罚款0 自己罚自己"],
        ["/扣分 ", at(ZHANG), " ", at(ADMIN), " 迟到"],  # all or none
    ):
        reply = await admin(app, command)
        assert reply.startswith("❌ 不能给自己扣分或加分"), (command, reply)
    assert len(await entries()) == before
    reply = await admin(app, ["/加分 ", at(ZHANG), " 培训讲师"])
    assert reply.startswith("✅ #4 张三 人事考核·培训讲师 +1"), reply
    reply = await owner(app, ["/加分 ", at(ADMIN), " 培训讲师"])
    assert reply.startswith("✅ #5 管理员 人事考核·培训讲师 +1"), reply


async def test_an_admin_agent_appeals_but_another_supervisor_decides(app: App):
    complaint = await admin_agent(app)
    filed = await admin(app, f"/申诉 #{complaint} 客户认错人了")
    assert filed.startswith(f"✅ 已提交对 #{complaint} 业务绩效·客户投诉 −3 的申诉"), filed
    reply = await admin(app, f"/驳回 #{complaint} 不成立")
    assert reply.startswith("❌ 不能处理自己的申诉，请让其他主管处理"), reply
    reply = await admin(app, f"/撤销 #{complaint} 同意")
    assert reply.startswith("❌ 不能撤销自己的记录"), reply
    assert (await entries())[2].revoked_at is None
    reply = await owner(app, f"/驳回 #{complaint} 查过录音")
    assert reply.startswith(f"✅ 已驳回 #{complaint} 的申诉"), reply


async def test_an_admin_agent_still_undoes_their_own_report(app: App):
    await admin_agent(app)
    assert (await admin(app, "/撤回 #1")).startswith("✅ 已撤回 #1")


async def test_a_superuser_who_is_scored_cannot_revoke_their_own_deduction(app: App):
    await bind(app)
    assert plain(await said(app, "/朋友圈", SUPER, card="老板")).startswith("✅ #1 ")
    assert (await owner(app, ["/迟到 ", at(SUPER)])).startswith("✅ #2 老板")
    reply = plain(await said(app, "/撤销 #2", SUPER))
    assert reply.startswith("❌ 不能撤销自己的记录"), reply
    reply = plain(await said(app, ["/加分 ", at(SUPER), " 培训讲师"], SUPER))
    assert reply.startswith("❌ 不能给自己扣分或加分"), reply


async def test_a_member_who_left_last_month_gets_no_private_ranking_or_dashboard(app: App):
    await bind(app)
    set_clock(datetime(2026, 10, 10, 10, 0, tzinfo=SH))
    assert plain(await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅")
    assert plain((await say(app, private_event("/排行", ZHANG)))[0]).startswith("🏆")
    assert (await owner(app, ["/离职 ", at(ZHANG)])).startswith("✅")
    set_clock(NOW)
    for command in ("/排行", "/我的绩效"):
        reply = plain((await say(app, private_event(command, ZHANG)))[0])
        assert reply.startswith("❌ 你已于 2026-10-10 离职，私聊不再能查看"), (command, reply)
    reply = plain((await say(app, private_event("/后台", ZHANG)))[0])
    assert reply.startswith("❌ "), reply
    assert "http" not in reply
    reply = plain(await said(app, "/后台", ZHANG, card="张三"))
    assert reply.startswith("❌ 你已于 2026-10-10 离职，网页后台不再对你开放"), reply


async def test_in_private_chat_the_current_team_is_used_not_the_one_left(app: App):
    await bind(app)
    await bind(app, OTHER_GROUP, "客服二组")
    assert plain(await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅")
    assert (await owner(app, ["/离职 ", at(ZHANG)])).startswith("✅")
    assert plain(await said(app, "/朋友圈", ZHANG, group_id=OTHER_GROUP)).startswith("✅")
    asked = [("get_group_member_info", {"group_id": GROUP, "user_id": ZHANG}, {"card": "张三"})]
    back = plain(await said(app, ["/入职 ", at(ZHANG)], OWNER, role="owner", api=asked))
    assert back.startswith("✅"), back  # back in 客服一组 …
    assert (await owner(app, ["/离职 ", at(ZHANG)])).startswith("✅")  # … and gone again
    reply = plain((await say(app, private_event("/排行", ZHANG)))[0])
    assert reply.startswith("🏆 「客服二组」"), reply
    assert "另外" not in plain((await say(app, private_event("/我的绩效", ZHANG)))[0])
