"""Supervisors: /扣分 /加分 and the rubric's shortcuts, fines, several targets all-or-nothing,
backdating, settled months, /撤销, /绩效 /明细 and the audit log (SPEC §1, §3 Supervisors, §6)."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot, MessageSegment
from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App
from sqlalchemy import select

from models.periods import set_clock, utcnow
from models.tables import AuditLog, Member
from tests.utils import (
    BOSS,
    BOT_ID,
    GROUP,
    OTHER_GROUP,
    OWNER,
    Capture,
    at,
    bind,
    entries,
    entry,
    group_event,
    next_id,
    plain,
    private_event,
    said,
    say,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 15, 10, 0, tzinfo=SH)
ZHANG, LI, WANG = 30001, 30002, 30003
NAMES = {ZHANG: "张三", LI: "李四", WANG: "王五"}
DEDUCT_USAGE = "用法：/扣分 @某人… <项目> [次数] [备注] [月份]"
ALL_DEDUCTIONS = (
    "迟到、早退、请假、职业素养、工作执行力、培训缺席、礼貌用语不规范、话术使用不当、回复不及时、"
    "未按时回访、客户信息未登记、业绩未达标、客户投诉、严重投诉、提交订单、处理订单、检查订单、"
    "反馈订单、订单纠纷、完成订单"
)


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


async def agent(app: App, user_id: int, content: str = "/软文 https://example.com/{uid}") -> str:
    """An agent registers by reporting (an article: promotion 0.25, total 90.25)."""
    return plain(await said(app, content.format(uid=user_id), user_id, card=NAMES.get(user_id, "")))


async def boss(app: App, content, *, group_id: int = GROUP, **kw) -> str:
    """The group owner speaks (owners and admins are supervisors by default)."""
    kw.setdefault("role", "owner")
    return plain(await said(app, content, OWNER, group_id=group_id, **kw))


async def members() -> list[Member]:
    from bot import db

    async with db.reading() as s:
        return list((await s.execute(select(Member).order_by(Member.id))).scalars())


async def say_with_api(
    app: App, event, calls: list[tuple[str, dict, object, Exception | None]]
) -> list[str]:
    """Like `say`, with API calls that may fail (`exception`)."""
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        bot = ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for name, data, result, exc in calls:
            ctx.should_call_api(name, data, result, exception=exc)
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, Capture(out), result={"message_id": next_id()})
    return [plain(x) for x in out]


def member_info(user_id: int, card: str | None = None) -> tuple[str, dict, object, None]:
    return (
        "get_group_member_info",
        {"group_id": GROUP, "user_id": user_id},
        {"user_id": user_id, "card": card or "", "nickname": f"用户{user_id}"},
        None,
    )


def not_in_group(user_id: int) -> tuple[str, dict, object, Exception]:
    return (
        "get_group_member_info",
        {"group_id": GROUP, "user_id": user_id},
        None,
        ActionFailed(retcode=100, msg="not a member"),
    )


# ---- every shortcut of the rubric --------------------------------------------------------------

# (command after the @, expected reply) for 张三 who reported one article (total 90.25).
SHORTCUTS = {
    "late": ("/迟到", "", "人事考核·迟到 −1（本月人事考核 9/10，总分 89.3）"),
    "early_leave": ("/早退", "", "人事考核·早退 −1（本月人事考核 9/10，总分 89.3）"),
    "leave": ("/请假", " 2", "人事考核·请假 ×2 −1（本月人事考核 9/10，总分 89.3）"),
    "conduct": ("/职业素养", "", "人事考核·职业素养 −2（本月人事考核 8/10，总分 88.3）"),
    "execution": ("/执行力", "", "人事考核·工作执行力 −2（本月人事考核 8/10，总分 88.3）"),
    "training_absent": ("/培训缺席", "", "人事考核·培训缺席 −1（本月人事考核 9/10，总分 89.3）"),
    "training_lecturer": (
        "/培训讲师",
        "",
        "人事考核·培训讲师 +1（本月人事考核 10/10，总分 90.3）\n⚠ 人事考核已满分，这次加分不改变得分",
    ),
    "polite": ("/礼貌用语", "", "业务绩效·礼貌用语不规范 −2（本月业务绩效 48/50，总分 88.3）"),
    "script": ("/话术", "", "业务绩效·话术使用不当 −2（本月业务绩效 48/50，总分 88.3）"),
    "response": ("/回复不及时", "", "业务绩效·回复不及时 −2（本月业务绩效 48/50，总分 88.3）"),
    "followup": ("/未回访", "", "业务绩效·未按时回访 −2（本月业务绩效 48/50，总分 88.3）"),
    "customer_info": ("/未登记", "", "业务绩效·客户信息未登记 −2（本月业务绩效 48/50，总分 88.3）"),
    "target_missed": ("/未达标", "", "业务绩效·业绩未达标 −5（本月业务绩效 45/50，总分 85.3）"),
    "complaint": ("/投诉", " 态度差", "业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）"),
    "severe_complaint": (
        "/严重投诉",
        " 200 辱骂客户",
        "业务绩效·严重投诉 −3 罚款 ¥200（本月业务绩效 47/50，总分 87.3）",
    ),
    "order_submit": ("/提交订单", "", "订单绩效·提交订单 −2（本月订单绩效 28/30，总分 88.3）"),
    "order_process": ("/处理订单", "", "订单绩效·处理订单 −2（本月订单绩效 28/30，总分 88.3）"),
    "order_check": ("/检查订单", "", "订单绩效·检查订单 −2（本月订单绩效 28/30，总分 88.3）"),
    "order_feedback": ("/反馈订单", "", "订单绩效·反馈订单 −2（本月订单绩效 28/30，总分 88.3）"),
    "order_dispute": ("/订单纠纷", "", "订单绩效·订单纠纷 −3（本月订单绩效 27/30，总分 87.3）"),
    "order_complete": ("/完成订单", "", "订单绩效·完成订单 −2（本月订单绩效 28/30，总分 88.3）"),
}


async def test_shortcut_table_covers_every_supervisor_item_of_the_rubric():
    from bot.runtime import rubric

    items = rubric().supervisor_items()
    assert {i.key for i in items} == set(SHORTCUTS)
    for item in items:
        assert SHORTCUTS[item.key][0] == f"/{item.commands[0]}"


@pytest.mark.parametrize("key", list(SHORTCUTS))
async def test_shortcut_logs_item_with_exact_reply(app: App, key: str):
    command, extra, expected = SHORTCUTS[key]
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, [f"{command} ", at(ZHANG), extra])
    assert reply == f"✅ #2 张三 {expected}"
    e = await entry(2)
    assert e is not None
    assert e.item_key == key
    assert e.period == "2026-11"
    assert e.created_by == f"qq:{OWNER}"
    assert e.created_by_name == "用户10001"
    assert e.fine_cents == (20000 if key == "severe_complaint" else 0)


async def test_every_command_alias_of_every_supervisor_item_logs_it(app: App):
    from bot.format import item_name
    from bot.runtime import rubric

    rub = rubric()
    await bind(app)
    await agent(app, ZHANG)
    n = 1
    for item in rub.supervisor_items():
        for name in item.commands:
            n += 1
            extra = " 100" if item.fine else ""
            reply = await boss(app, [f"/{name} ", at(ZHANG), extra])
            assert reply.startswith(f"✅ #{n} 张三 {item_name(rub, item.key)} "), (name, reply)
            e = await entry(n)
            assert e is not None
            assert e.item_key == item.key


async def test_agent_cannot_deduct_bonus_or_revoke(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI)
    for content in (
        ["/投诉 ", at(ZHANG)],
        ["/扣分 ", at(ZHANG), " 迟到"],
        ["/加分 ", at(LI), " 培训讲师"],
        "/撤销 #1",
    ):
        reply = plain(await said(app, content, LI, card="李四"))
        assert reply.startswith("❌ 只有本团队的主管可以这样做\n用法："), reply
    assert len(await entries()) == 2
    assert all(e.revoked_at is None for e in await entries())


async def test_group_admin_is_a_supervisor(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = plain(await said(app, ["/迟到 ", at(ZHANG)], 10002, role="admin", card="管理员"))
    assert reply == "✅ #2 张三 人事考核·迟到 −1（本月人事考核 9/10，总分 89.3）"
    assert (await entry(2)).created_by_name == "管理员"


async def test_explicit_supervisor_acts_only_in_their_team(app: App):
    await bind(app)
    await bind(app, OTHER_GROUP, "客服二组")
    await agent(app, ZHANG)
    reply = await boss(app, ["/主管 ", at(BOSS)], api=[member_info(BOSS, "老板")[:3]])
    assert reply == "✅ 老板 现在是「客服一组」的主管"
    reply = plain(await said(app, ["/投诉 ", at(ZHANG)], BOSS, card="老板"))
    assert reply == "✅ #2 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）"
    # In team B's group the same person is nobody.
    reply = plain(await said(app, "/撤销 #2", BOSS, card="老板", group_id=OTHER_GROUP))
    assert reply.startswith("❌ 只有本团队的主管可以这样做")
    # Supervisors are not scored and cannot be deducted.
    reply = await boss(app, ["/投诉 ", at(BOSS)])
    assert reply.startswith("❌ 老板 是主管，不参与考核")


# ---- /扣分 and /加分 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    ["/扣分 {at} 投诉 态度差", "/deduct {at} complaint 态度差", "/扣分 {at} 客户投诉 态度差"],
)
async def test_deduct_names_item_by_command_key_or_name(app: App, content: str):
    await bind(app)
    await agent(app, ZHANG)
    before, after = content.split("{at}")
    reply = await boss(app, [before, at(ZHANG), after])
    assert reply == "✅ #2 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）"
    e = await entry(2)
    assert e is not None
    assert (e.item_key, e.quantity, e.note) == ("complaint", 1, "态度差")


async def test_bonus_offsets_deductions_in_its_category(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 迟到 3"])
    assert reply == "✅ #2 张三 人事考核·迟到 ×3 −3（本月人事考核 7/10，总分 87.3）"
    reply = await boss(app, ["/加分 ", at(ZHANG), " 培训讲师 讲了退款流程"])
    assert reply == "✅ #3 张三 人事考核·培训讲师 +1（本月人事考核 8/10，总分 88.3）"
    reply = await boss(app, ["/bonus ", at(ZHANG), " lecturer 2"])
    assert reply == (
        "✅ #4 张三 人事考核·培训讲师 ×2 +2（本月人事考核 10/10，总分 90.3）\n"
        "⚠ 2 分钟内已给 张三 登记过培训讲师（#3），如是重复请 /撤销 #4"
    )


async def test_category_is_clamped_at_zero(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 订单纠纷 20"])
    assert reply == (
        "✅ #2 张三 订单绩效·订单纠纷 ×20 −60（本月订单绩效 0/30，总分 60.3）\n"
        "⚠ 订单绩效最低 0 分，这次实际 −30"
    )


async def test_a_bonus_on_a_category_below_zero_says_it_is_still_below_zero(app: App):
    """王五's 人事考核 was at 0 after 12 late arrivals; the bonus was answered `已满分`."""
    await bind(app)
    await agent(app, WANG)
    await boss(app, ["/扣分 ", at(WANG), " 迟到 12"])
    reply = await boss(app, ["/加分 ", at(WANG), " 培训讲师"])
    assert reply == (
        "✅ #3 王五 人事考核·培训讲师 +1（本月人事考核 0/10，总分 80.3）\n"
        "⚠ 人事考核仍低于 0 分（按 0 分计），这次加分不改变得分"
    )
    reply = await boss(app, ["/培训讲师 ", at(WANG), " 2"])
    assert reply.splitlines()[0] == (
        "✅ #4 王五 人事考核·培训讲师 ×2 +2（本月人事考核 1/10，总分 81.3）"
    )
    assert reply.splitlines()[1] == "⚠ 人事考核原低于 0 分（按 0 分计），这次实际 +1"


async def test_a_deduction_that_bonuses_above_the_max_absorb_says_so(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/培训讲师 ", at(ZHANG), " 2"])
    reply = await boss(app, ["/迟到 ", at(ZHANG)])
    assert reply == (
        "✅ #3 张三 人事考核·迟到 −1（本月人事考核 10/10，总分 90.3）\n"
        "⚠ 人事考核加分超出满分的部分抵掉了这次扣分，得分不变"
    )
    reply = await boss(app, ["/迟到 ", at(ZHANG), " 3"])
    assert reply == (
        "✅ #4 张三 人事考核·迟到 ×3 −3（本月人事考核 8/10，总分 88.3）\n"
        "⚠ 人事考核加分超出满分的部分抵掉一部分，这次实际 −2\n"
        "⚠ 2 分钟内已给 张三 登记过迟到（#3），如是重复请 /撤销 #4"
    )


async def test_deduct_unregistered_person_registers_them_by_group_card(app: App):
    await bind(app)
    event = group_event(["/投诉 ", at(40001)], OWNER, role="owner")
    (reply,) = await say_with_api(app, event, [member_info(40001, "赵六")])
    assert reply == "✅ #1 赵六 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.0）"
    assert [(m.user_id, m.name, m.role) for m in await members()] == [("40001", "赵六", "agent")]


async def test_several_mentions_log_one_entry_each(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI, "/朋友圈")
    reply = await boss(app, ["/扣分 ", at(ZHANG), " ", at(LI), " 投诉 群里吵架"])
    assert reply == (
        "✅ #3 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）\n"
        "✅ #4 李四 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.1）"
    )
    _, _, e3, e4 = await entries()
    assert (e3.note, e4.note) == ("群里吵架", "群里吵架")
    assert e3.source == e4.source


async def test_several_targets_by_mention_qq_number_and_roster_name(app: App):
    """A number after a target is a count (targets.py), so a QQ number comes first."""
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI)
    await agent(app, WANG)
    reply = await boss(app, ["/迟到 ", f"{LI} ", at(ZHANG), " 王五"])
    assert [line.split(" 人事考核")[0] for line in reply.splitlines()] == [
        "✅ #4 李四",
        "✅ #5 张三",
        "✅ #6 王五",
    ]


async def test_one_unknown_qq_number_among_targets_writes_nothing(app: App):
    await bind(app)
    await agent(app, ZHANG)
    event = group_event(["/扣分 123456 ", at(ZHANG), " ", at(40001), " 投诉"], OWNER, role="owner")
    (reply,) = await say_with_api(app, event, [not_in_group(123456), member_info(40001, "赵六")])
    assert reply == f"❌ QQ 123456 不在本群或本团队。本次没有记录任何内容\n{DEDUCT_USAGE}"
    assert len(await entries()) == 1
    assert [m.user_id for m in await members()] == [str(ZHANG)]


async def test_ambiguous_roster_name_among_targets_writes_nothing(app: App):
    await bind(app)
    await agent(app, ZHANG)
    for uid in (30004, 30005):
        await said(app, "/朋友圈", uid, card="小王")
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 小王 投诉"])
    assert reply == (
        "❌ “小王”有重名：小王（30004）、小王（30005），请用 @ 或 QQ 号指定。本次没有记录任何内容\n"
        + DEDUCT_USAGE
    )
    assert len(await entries()) == 3


async def test_unknown_deduction_item_lists_valid_deductions(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 吃饭"])
    assert reply == f"❌ “吃饭”不是扣分项目。可用：{ALL_DEDUCTIONS}\n{DEDUCT_USAGE}"
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 培训讲师"])
    assert reply == f"❌ 培训讲师不是扣分项目。可用：{ALL_DEDUCTIONS}\n{DEDUCT_USAGE}"
    reply = await boss(app, ["/扣分 ", at(ZHANG)])
    assert reply.startswith("❌ 请写扣分项目\n")
    assert len(await entries()) == 1


async def test_unknown_bonus_item_lists_valid_bonuses(app: App):
    await bind(app)
    await agent(app, ZHANG)
    usage = "用法：/加分 @某人… <项目> [次数] [备注] [月份]"
    assert await boss(app, ["/加分 ", at(ZHANG), " 吃饭"]) == (
        f"❌ “吃饭”不是加分项目。可用：培训讲师\n{usage}"
    )
    assert await boss(app, ["/加分 ", at(ZHANG), " 投诉"]) == (
        f"❌ 客户投诉不是加分项目。可用：培训讲师\n{usage}"
    )
    assert len(await entries()) == 1


@pytest.mark.parametrize("word", ["软文", "article", "加好友", "朋友圈"])
async def test_self_report_item_cannot_be_deducted(app: App, word: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), f" {word}"])
    assert re.match(r"^❌ .+是客服自报项目，不能扣分。可用：迟到、", reply), reply
    assert len(await entries()) == 1


async def test_deduct_without_target_is_refused(app: App):
    await bind(app)
    assert (await boss(app, "/投诉 态度差")).startswith(
        "❌ 请 @ 要登记客户投诉的人（或写 QQ 号、姓名）\n"
    )
    assert (await boss(app, "/扣分 投诉")).startswith(
        "❌ 请 @ 要登记客户投诉的人（或写 QQ 号、姓名）\n"
    )
    # a word before the item can only be a name: it is no one's (SPEC §3 "What people type")
    unknown = await boss(app, "/扣分 老王 迟到")
    assert unknown.startswith("❌ “老王”不是成员名单上的名字。请 @ 要登记迟到的人"), unknown
    assert await entries() == []


# ---- bounds on counts and fines ------------------------------------------------------------------


@pytest.mark.parametrize("count", ["0", "-1", "101", "99999999999999999999", "1.5", "+0"])
async def test_count_outside_1_to_100_is_refused(app: App, count: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), f" 投诉 {count}"])
    assert reply == f"❌ 次数必须是 1–100 的整数，收到 {count}\n{DEDUCT_USAGE}"
    reply = await boss(app, ["/迟到 ", at(ZHANG), f" {count}"])
    assert reply.startswith(f"❌ 次数必须是 1–100 的整数，收到 {count}\n")
    if count != "1.5":  # 请假 is counted in half days (rubric `step = 0.5`)
        reply = await boss(app, ["/请假 ", at(ZHANG), f" {count}"])
        assert reply.startswith(f"❌ 天数必须是 0.5–100 之间的整数或半天，收到 {count}\n")
    assert len(await entries()) == 1


@pytest.mark.parametrize(("count", "n"), [("1", 1), ("100", 100), ("３", 3), ("１０", 10)])
async def test_count_bounds_accepted_and_full_width_digits(app: App, count: str, n: int):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/请假 ", at(ZHANG), f" {count}"])
    assert reply.startswith(f"✅ #2 张三 人事考核·请假 {'×' + str(n) + ' ' if n > 1 else ''}−")
    assert (await entry(2)).quantity == n


async def test_leave_days_with_unit_suffix_is_read_as_count(app: App):
    """`/请假 @某人 3天`: the days, not a note (parse_int accepts 天/次 suffixes)."""
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/请假 ", at(ZHANG), " 3天"])
    assert reply == "✅ #2 张三 人事考核·请假 ×3 −1.5（本月人事考核 8.5/10，总分 88.8）"
    assert (await entry(2)).quantity == 3


async def test_word_after_item_is_a_note_not_a_count(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 投诉 abc 客户说慢"])
    assert reply == "✅ #2 张三 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）"
    e = await entry(2)
    assert (e.quantity, e.note) == (1, "abc 客户说慢")


@pytest.mark.parametrize(
    ("amount", "cents", "shown"),
    [
        ("200", 20000, " 罚款 ¥200"),
        ("０", 0, ""),
        ("100000", 10000000, " 罚款 ¥100000"),
        ("３００", 30000, " 罚款 ¥300"),
        ("200.5", 20050, " 罚款 ¥200.50"),
        ("¥50", 5000, " 罚款 ¥50"),
        ("80元", 8000, " 罚款 ¥80"),
        ("1500.50", 150050, " 罚款 ¥1500.50"),
    ],
)
async def test_fine_amounts_accepted(app: App, amount: str, cents: int, shown: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), f" {amount}"])
    assert reply == f"✅ #2 张三 业务绩效·严重投诉 −3{shown}（本月业务绩效 47/50，总分 87.3）"
    assert (await entry(2)).fine_cents == cents


@pytest.mark.parametrize(
    "said",
    [
        " 辱骂客户 罚款200",
        " 辱骂客户 罚款 200",
        " 辱骂客户 罚200元",
        " 辱骂客户 ¥200",
        " 辱骂客户 200元",
        " 罚款200 辱骂客户",
        " 200 辱骂客户",
    ],
)
async def test_fine_is_found_where_people_write_it(app: App, said: str):
    """`罚款 200`, `罚200元` after the reason, not only the usage line's order."""
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), said])
    assert reply == "✅ #2 张三 业务绩效·严重投诉 −3 罚款 ¥200（本月业务绩效 47/50，总分 87.3）"
    e = await entry(2)
    assert (e.fine_cents, e.note) == (20000, "辱骂客户")


async def test_a_bare_number_after_the_reason_is_part_of_the_note(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), " 让客户等了 30 分钟"])
    assert reply.startswith("❌ 严重投诉需要写罚款金额（元）"), reply
    assert len(await entries()) == 1


@pytest.mark.parametrize("amount", ["-1", "100001", "1e5", "99999999999999999999", "0.001"])
async def test_fine_outside_0_to_100000_is_refused(app: App, amount: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), f" {amount}"])
    assert reply.startswith("❌ "), reply
    assert reply.endswith("\n用法：/严重投诉 @某人 <罚款金额> [备注]")
    assert len(await entries()) == 1


@pytest.mark.parametrize("amount", ["", " 态度差", " abc"])
async def test_fine_is_required(app: App, amount: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), amount])
    assert reply == (
        "❌ 严重投诉需要写罚款金额（元），例如 200\n用法：/严重投诉 @某人 <罚款金额> [备注]"
    )
    assert len(await entries()) == 1


FINE_RANGE = "罚款金额必须在 0–100000 元之间，收到"
SEVERE_USAGE = "\n用法：/严重投诉 @某人 <罚款金额> [备注]"


@pytest.mark.parametrize(
    ("said", "why"),
    [
        (" 100001 太过分", f"{FINE_RANGE} 100001"),
        (" 200000 太多", f"{FINE_RANGE} 200000"),
        (" 202611 太多", f"{FINE_RANGE} 202611"),
        (" 罚款200 罚款300", "写了 2 个罚款金额（罚款200、罚款300），请只写一个"),
        (" 罚款 200.555", "罚款金额最多两位小数（到分），收到 罚款 200.555"),
    ],
)
async def test_a_fine_that_is_not_one_amount_in_range_is_refused_as_such(app: App, said, why):
    """Not `❌ 月份 100001 无效`, not 2026-11 then a request for the fine, not ¥200 with the
    second fine as the note (SPEC §3, decided)."""
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), said])
    assert reply == f"❌ {why}{SEVERE_USAGE}"
    assert len(await entries()) == 1


async def test_a_month_word_before_the_fine_does_not_hide_it(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/严重投诉 ", at(ZHANG), " 12月 300 测试"])
    assert reply == (
        "✅ #2 张三 业务绩效·严重投诉 −3 罚款 ¥300（2025-12 业务绩效 47/50，总分 87.0）"
    )
    e = await entry(2)
    assert (e.period, e.fine_cents, e.note) == ("2025-12", 30000, "测试")


@pytest.mark.parametrize(
    ("content", "said", "item"),
    [
        (["/扣分 ", at(ZHANG), " 迟到 罚款 200"], "罚款 200", "迟到"),
        (["/扣分 ", at(ZHANG), " 迟到 罚200元"], "罚200元", "迟到"),
        ("/投诉 李四 回复慢 罚款 200", "罚款 200", "客户投诉"),
        ("/投诉 李四 回复慢 ¥200", "¥200", "客户投诉"),
        ("/投诉 李四 回复慢 200元", "200元", "客户投诉"),
    ],
)
async def test_a_fine_on_an_item_without_one_is_refused_not_dropped(app: App, content, said, item):
    """It was stored as the note under a ✅: the boss believed he had fined someone."""
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI)
    reply = await boss(app, content)
    first = reply.splitlines()[0]
    assert first == f"❌ {item}不带罚款，没有登记（收到 {said}）。要罚款请用严重投诉", reply
    assert len(await entries()) == 2


async def test_a_bare_number_in_a_complaint_note_stays_note(app: App):
    await bind(app)
    await agent(app, LI)
    reply = await boss(app, "/投诉 李四 让客户等了 30 分钟")
    assert reply == "✅ #2 李四 业务绩效·客户投诉 −3（本月业务绩效 47/50，总分 87.3）"
    assert (await entry(2)).note == "让客户等了 30 分钟"


async def test_fine_shows_in_score_card(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/严重投诉 ", at(ZHANG), " 200 辱骂客户"])
    card = await boss(app, ["/绩效 ", at(ZHANG)])
    # fines are pay: in the group the card holds them back (the month's and the entry's)
    # and says where to read them — for the group's owner, who supervises by the group's
    # word, on the dashboard
    assert "  #2 业务绩效·严重投诉 −3「辱骂客户」" in card.splitlines(), card
    assert "¥" not in card, card
    total, hint = card.splitlines()[-2:]
    assert total == "总分 87.3（B）", card
    assert hint == "提成和罚款不在群里显示：发 /后台 在网页看", card
    mine = (await say(app, private_event("/我的绩效", ZHANG)))[0]
    assert "  #2 业务绩效·严重投诉 −3 罚款 ¥200「辱骂客户」" in mine.splitlines(), mine
    assert mine.splitlines()[-1] == "总分 87.3（B） 罚款 ¥200.00", mine


# ---- months ------------------------------------------------------------------------------------


@pytest.mark.parametrize("month", ["2026-10", "202610", "上月", "10月"])
async def test_backdating_into_open_month(app: App, month: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), f" 投诉 忘记登记 {month}"])
    assert reply == "✅ #2 张三 业务绩效·客户投诉 −3（2026-10 业务绩效 47/50，总分 87.0）"
    e = await entry(2)
    assert (e.period, e.note) == ("2026-10", "忘记登记")
    card = await boss(app, ["/绩效 ", at(ZHANG)])
    assert "业务绩效 50/50" in card


async def test_shortcut_backdates_too(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/请假 ", at(ZHANG), " 2 2026-09"])
    assert reply == "✅ #2 张三 人事考核·请假 ×2 −1（2026-09 人事考核 9/10，总分 89.0）"
    assert (await entry(2)).period == "2026-09"


async def test_future_or_invalid_month_is_refused(app: App):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 投诉 2026-12"])
    assert reply == f"❌ 不能登记未来的月份 2026-12\n{DEDUCT_USAGE}"
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 投诉 2026-13"])
    assert reply == f"❌ 月份 2026-13 无效\n{DEDUCT_USAGE}"
    assert len(await entries()) == 1


async def _settle(period: str) -> None:
    from bot import db
    from bot.runtime import rubric
    from models.settlement import settle

    async with db.writing() as s:
        result = await s.run_sync(settle, rubric(), 1, period, "qq:10000", None)
    assert result.created


async def test_settled_month_refuses_new_entries_and_revocations(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/扣分 ", at(ZHANG), " 投诉 2026-10"])
    await _settle("2026-10")
    reply = await boss(app, ["/扣分 ", at(ZHANG), " 迟到 2026-10"])
    assert reply.startswith("❌ 2026-10 已结算"), reply
    reply = await boss(app, ["/未达标 ", at(ZHANG), " 上月"])
    assert reply.startswith("❌ 2026-10 已结算"), reply
    reply = await boss(app, "/撤销 #2 录错了")
    assert reply.startswith("❌ 2026-10 已结算"), reply
    assert len(await entries()) == 2
    assert (await entry(2)).revoked_at is None
    # The open month is unaffected.
    assert (await boss(app, ["/迟到 ", at(ZHANG)])).startswith("✅ #3 ")


# ---- /撤销 --------------------------------------------------------------------------------------


async def test_revoke_with_reason_then_again_is_refused(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/投诉 ", at(ZHANG), " 态度差"])
    reply = await boss(app, "/撤销 #2 录错了人")
    assert reply == (
        "✅ 已撤销 #2 张三 业务绩效·客户投诉 −3（原因：录错了人）\n"
        "2026-11 业务绩效 50/50，总分 90.3"
    )
    e = await entry(2)
    assert (e.revoked_by, e.revoked_by_name, e.revoke_reason) == (
        f"qq:{OWNER}",
        "用户10001",
        "录错了人",
    )
    assert e.revoked_at is not None
    reply = await boss(app, "/revoke #2")
    assert reply == "❌ #2 已被撤销过了（用户10001）\n用法：/撤销 #编号 [原因]"
    assert (await entry(2)).revoke_reason == "录错了人"
    # a `#` and 5,000 digits is a malformed id, not a reason that is too long
    reply = await boss(app, "/撤销 #" + "1" * 5000)
    assert reply.startswith("❌ 编号应写成 #123，收到 #1111111111111111111…"), reply[:80]


async def test_supervisor_revokes_an_agents_self_report_any_time(app: App):
    await bind(app)
    await agent(app, ZHANG)
    set_clock(datetime(2026, 11, 20, 10, 0, tzinfo=SH))
    reply = await boss(app, "/撤销 ＃1")
    assert reply == "✅ 已撤销 #1 张三 推广绩效·自建渠道软文 +1篇\n2026-11 推广绩效 0/10，总分 90.0"


@pytest.mark.parametrize(
    ("arg", "why"),
    [("", "请写要撤销的编号"), ("abc", "请写要撤销的编号"), ("#99", "本团队没有 #99")],
)
async def test_revoke_of_missing_or_malformed_id_is_refused(app: App, arg: str, why: str):
    await bind(app)
    await agent(app, ZHANG)
    reply = await boss(app, f"/撤销 {arg}")
    assert reply.startswith(f"❌ {why}"), reply
    assert (await entry(1)).revoked_at is None


async def test_revoke_across_teams_is_refused(app: App):
    await bind(app)
    await bind(app, OTHER_GROUP, "客服二组")
    await agent(app, ZHANG)
    await boss(app, ["/投诉 ", at(ZHANG)])
    reply = await boss(app, "/撤销 #2", group_id=OTHER_GROUP)
    assert reply == "❌ 本团队没有 #2\n用法：/撤销 #编号 [原因]"
    assert (await entry(2)).revoked_at is None


# ---- /绩效 and /明细 ------------------------------------------------------------------------------


async def test_score_of_a_person_matches_their_own_card(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/投诉 ", at(ZHANG), " 态度差"])
    card = await boss(app, ["/绩效 ", at(ZHANG)])
    assert card == (
        "📋 张三 2026-11 绩效\n"
        "人事考核 10/10\n"
        "业务绩效 47/50\n"
        "订单绩效 30/30\n"
        "推广绩效 0.3/10\n"
        "  软文 1/8 · 付费软文 0/2 · 自媒体 0/8 · 好友 0/60 · 朋友圈 0/20\n"
        "扣分/加分：\n"
        "  #2 业务绩效·客户投诉 −3「态度差」\n"
        "总分 87.3（B）"
    )
    assert plain(await said(app, "/我的绩效", ZHANG, card="张三")) == card
    assert await boss(app, ["/score ", at(ZHANG), " 2026-11"]) == card
    assert await boss(app, f"/绩效 {ZHANG}") == card
    assert await boss(app, "/绩效 张三") == card


async def test_score_of_a_supervisor_is_refused_as_their_own_card_is(app: App):
    """A supervisor is not scored: `/绩效 @主管` says so, as their `/我的绩效` does."""
    await bind(app)
    await boss(app, ["/主管 ", at(BOSS)], api=[member_info(BOSS, "老板")[:3]])
    reply = await boss(app, ["/绩效 ", at(BOSS)])
    assert reply.startswith("❌ 老板 是主管，不参与考核"), reply
    own = plain(await said(app, "/我的绩效", BOSS, card="老板"))
    assert own.startswith("❌ 你是主管，不参与考核"), own


async def test_detail_lists_ids_who_logged_and_revoked_with_who_and_why(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await boss(app, ["/投诉 ", at(ZHANG), " 态度差"])
    await boss(app, "/撤销 #2 录错了")
    await boss(app, ["/迟到 ", at(ZHANG)])
    reply = await boss(app, ["/明细 ", at(ZHANG)])
    assert reply == (
        "🗂 张三 2026-11 明细 3 条（其中已撤销 1 条）\n"
        "#1 11-15 10:00 推广绩效·自建渠道软文 +1篇 https://example.com/30001 记录人：张三\n"
        "#2 11-15 10:00 业务绩效·客户投诉 −3 「态度差」 记录人：用户10001 〔用户10001 已撤销：录错了〕\n"
        "#3 11-15 10:00 人事考核·迟到 −1 记录人：用户10001"
    )
    assert await boss(app, ["/detail ", at(ZHANG), " 2026-10"]) == "张三 2026-10 没有记录"


async def test_long_detail_splits_into_several_messages(app: App):
    """SPEC §3: several messages only when a listing is too long for one."""
    await bind(app)
    await agent(app, ZHANG)
    note = "客户反映回复太慢而且语气不好需要重点改进" * 2
    for _ in range(30):
        assert (await boss(app, ["/扣分 ", at(ZHANG), f" 投诉 {note}"])).startswith("✅")
    parts = [
        plain(x)
        for x in await say(app, group_event(["/明细 ", at(ZHANG)], OWNER, role="owner"), replies=2)
    ]
    assert parts[0].startswith("🗂 张三 2026-11 明细 31 条\n#1 ")
    assert parts[0].endswith("（1/2）")
    assert parts[1].endswith("（2/2）")
    assert all(len(p) <= 1600 for p in parts)
    ids = [int(m) for p in parts for m in re.findall(r"^#(\d+) ", p, re.MULTILINE)]
    assert ids == list(range(1, 32))


async def test_score_and_detail_need_one_known_target(app: App):
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI)
    assert (await boss(app, "/绩效")).startswith("❌ 请 @ 一个人")
    assert (await boss(app, ["/明细 ", at(ZHANG), " ", at(LI)])).startswith("❌ 请 @ 一个人")
    reply = plain(await said(app, ["/绩效 ", at(LI)], ZHANG, card="张三"))
    assert reply.startswith("❌ 只有本团队的主管可以这样做")


@pytest.mark.parametrize(
    "content",
    [
        ["/扣分 ", MessageSegment.at("all"), " 投诉"],
        ["/投诉 ", MessageSegment.face(1), " ", at(ZHANG)],
        ["/扣分 ", at(ZHANG), " 投诉 ", at(LI)],
        ["/扣分 ", at(BOT_ID), " 投诉"],
        "/扣分 投诉 投诉 投诉",
        "/严重投诉 ¥ 元",
        "/撤销 #999999999999 " + "原因" * 300,
        ["/明细 ", at(ZHANG), " 9999-99"],
        ["/扣分 ", at(ZHANG), " 投诉 " + "备注" * 600],
    ],
)
async def test_odd_input_gets_a_clear_answer_never_an_error(app: App, content):
    await bind(app)
    await agent(app, ZHANG)
    await agent(app, LI)
    before = len(await entries())
    reply = await boss(app, content)
    assert not reply.startswith("❌ 出错了"), reply
    assert reply.startswith(("✅", "❌")), reply
    if reply.startswith("❌"):
        assert len(await entries()) == before


# ---- duplicate delivery and the audit log --------------------------------------------------------


async def test_deduction_delivered_twice_is_logged_once(app: App):
    await bind(app)
    await agent(app, ZHANG)
    mid = next_id()
    first = group_event(["/投诉 ", at(ZHANG)], OWNER, role="owner", message_id=mid)
    again = group_event(["/投诉 ", at(ZHANG)], OWNER, role="owner", message_id=mid)
    assert (await say(app, first))[0].startswith("✅ #2 ")
    await say(app, again, replies=0)
    assert len(await entries()) == 2


async def test_audit_log_has_one_row_per_write(app: App):
    from bot import db

    await bind(app)
    await agent(app, ZHANG)  # join + entry.create
    await said(app, "/撤回", ZHANG, card="张三")  # entry.revoke
    await boss(app, ["/主管 ", at(BOSS)], api=[member_info(BOSS, "老板")[:3]])  # join + role
    await boss(app, ["/扣分 ", at(ZHANG), " 吃饭"])  # refused: nothing
    await boss(app, ["/投诉 ", at(ZHANG)])  # entry.create
    await boss(app, "/撤销 #2 错了")  # entry.revoke
    await boss(app, "/撤销 #2")  # refused: nothing
    async with db.reading() as s:
        rows = list((await s.execute(select(AuditLog).order_by(AuditLog.id))).scalars())
    assert [(r.action, r.target, r.actor) for r in rows] == [
        ("team.create", "客服一组", f"qq:{OWNER}"),
        ("bind", f"qq:{GROUP}", f"qq:{OWNER}"),
        ("join", f"qq:{ZHANG}", f"qq:{ZHANG}"),
        ("entry.create", "#1", f"qq:{ZHANG}"),
        ("entry.revoke", "#1", f"qq:{ZHANG}"),
        ("join", f"qq:{BOSS}", f"qq:{OWNER}"),
        ("role", f"qq:{BOSS}", f"qq:{OWNER}"),
        ("entry.create", "#2", f"qq:{OWNER}"),
        ("entry.revoke", "#2", f"qq:{OWNER}"),
    ]
    assert all(r.team_id == 1 for r in rows)
    role = rows[6]
    assert (role.before, role.after) == ('"agent"', '"supervisor"')


async def test_audit_of_an_older_month_finds_it_behind_hundreds_of_newer_rows(app: App):
    """/审计 <月份> filters in the database, not among the latest rows."""
    from bot import db

    await bind(app)
    old = datetime(2026, 9, 10, 4, 0)  # UTC; 2026-09-10 12:00 in Shanghai
    recent = utcnow()
    async with db.writing() as s:
        s.add(AuditLog(team_id=1, at=old, actor="qq:10001", action="role", target="qq:30009"))
        for i in range(600):
            s.add(AuditLog(team_id=1, at=recent, actor="qq:10001", action="join", target=f"#{i}"))
    reply = await said(app, "/审计 2026-09", OWNER, role="owner")
    assert reply == "🧾 2026-09 最近 1 条操作\n09-10 12:00 管理员 调整了 一位成员 的角色", reply
    assert await said(app, "/审计 2026-08", OWNER, role="owner") == "2026-08 没有操作记录"
