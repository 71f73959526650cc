"""What people type (SPEC §3 "What people type"): targets, items, counts and fines in any
order; ids with or without `#`, or named by replying; months in words; near-miss commands."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from nonebot.adapters.onebot.v11 import MessageSegment
from nonebug import App

from models.periods import set_clock
from tests.utils import (
    BOT_ID,
    GROUP,
    OWNER,
    at,
    bind,
    deliver,
    entries,
    entry,
    group_event,
    next_id,
    plain,
    said,
    say,
    stored_message,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 15, 10, 0, tzinfo=SH)
ZHAO, LI = 30001, 30002
NAMES = {ZHAO: "赵龘", LI: "李四"}


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


async def agent(app: App, user_id: int) -> str:
    """An agent registers by reporting an article (entry #1 for the first one)."""
    url = f"https://example.com/{user_id}"
    return plain(await said(app, f"/软文 {url}", user_id, card=NAMES[user_id]))


async def boss(app: App, content, **kw) -> str:
    kw.setdefault("role", "owner")
    return plain(await said(app, content, OWNER, **kw))


# ---- 1. targets, items, counts and fines in any order -------------------------------------


async def test_item_before_the_target(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 迟到 ", at(ZHAO)])
    assert reply.startswith("✅ #2 赵龘 人事考核·迟到 −1"), reply
    assert (await entry(2)).item_key == "late"


async def test_fine_before_the_target_and_note_after(app: App):
    await bind(app)
    await agent(app, LI)
    reply = await boss(app, ["/严重投诉 罚款200 ", at(LI), " 态度差"])
    assert reply.startswith("✅ #2 李四 业务绩效·严重投诉 −3 罚款 ¥200"), reply
    e = await entry(2)
    assert (e.fine_cents, e.note) == (20000, "态度差")


async def test_count_before_the_item(app: App):
    await bind(app)
    await agent(app, LI)
    reply = await boss(app, ["/扣分 ", at(LI), " 3 回复不及时"])
    assert reply.startswith("✅ #2 李四 业务绩效·回复不及时 ×3 −6"), reply
    e = await entry(2)
    assert (e.item_key, e.quantity, e.note) == ("response", 3, None)


async def test_item_count_and_note_then_target_last(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 回复不及时 2 客户等了半小时 ", at(ZHAO)])
    assert reply.startswith("✅ #2 赵龘 业务绩效·回复不及时 ×2 −4"), reply
    e = await entry(2)
    assert (e.quantity, e.note) == (2, "客户等了半小时")


async def test_target_between_item_and_count_for_several_people(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await agent(app, LI)
    reply = await boss(app, ["/扣分 迟到 ", at(ZHAO), " ", at(LI), " 2"])
    lines = reply.splitlines()
    assert lines[0].startswith("✅ #3 赵龘 人事考核·迟到 ×2 −2"), reply
    assert lines[1].startswith("✅ #4 李四 人事考核·迟到 ×2 −2"), reply


async def test_an_unknown_item_in_any_order_still_lists_the_valid_ones(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/扣分 ", at(ZHAO), " 睡觉"])
    assert reply.startswith("❌ “睡觉”不是扣分项目。可用：迟到、"), reply
    assert len(await entries()) == 1


async def test_someone_new_named_after_the_count_is_looked_up_and_registered(app: App):
    await bind(app)
    event = group_event(["/扣分 迟到 2 ", at(40001)], OWNER, role="owner")
    info = {"user_id": 40001, "card": "王五", "nickname": "w"}
    (reply,) = await say(
        app, event, api=[("get_group_member_info", {"group_id": GROUP, "user_id": 40001}, info)]
    )
    assert plain(reply).startswith("✅ #1 王五 人事考核·迟到 ×2 −2"), reply


# ---- 2. ids with or without `#`, or named by replying ----------------------------------------


def reply_to(message_id: int) -> MessageSegment:
    return MessageSegment.reply(message_id)


async def one(content, user_id: int, *, stored=(), **kw) -> str:
    """One group message through the adapter (a reply is fetched with `get_msg`)."""
    out = await deliver(group_event(content, user_id, **kw), stored)
    assert len(out) == 1, (content, out)
    return plain(out[0])


@pytest.fixture
async def late_zhao(app: App) -> int:
    """赵龘 reported an article (#1, message id returned); the owner logged him late (#2)."""
    assert (await one("/绑定 客服一组", OWNER, role="owner")).startswith("✅")
    report_id = next_id()
    out = await one("/软文 https://example.com/a", ZHAO, card="赵龘", message_id=report_id)
    assert out.startswith("✅ #1 "), out
    assert (await one(["/迟到 ", at(ZHAO)], OWNER, role="owner")).startswith("✅ #2 赵龘")
    return report_id


async def test_revoke_and_appeal_ids_without_hash(late_zhao: int):
    out = await one("/申诉 2 我没迟到", ZHAO, card="赵龘")
    assert out.startswith("✅ 已提交对 #2 人事考核·迟到 −1 的申诉（理由：我没迟到）"), out
    out = await one("/撤销 2 确实没迟到", OWNER, role="owner")
    assert out.startswith("✅ 已撤销 #2 赵龘 人事考核·迟到 −1（原因：确实没迟到）"), out


async def test_replying_to_the_bots_confirmation_names_its_entry(late_zhao: int):
    confirmation = stored_message(next_id(), int(BOT_ID), "✅ #2 赵龘 人事考核·迟到 −1")
    message = [reply_to(confirmation["message_id"]), "/撤销 重复了"]
    out = await one(message, OWNER, role="owner", stored=[confirmation])
    assert out.startswith("✅ 已撤销 #2 赵龘 人事考核·迟到 −1（原因：重复了）"), out
    assert (await entry(2)).revoke_reason == "重复了"
    assert (await entry(1)).revoked_at is None


async def test_an_agent_appeals_by_replying_to_the_deduction(late_zhao: int):
    confirmation = stored_message(next_id(), int(BOT_ID), "✅ #2 赵龘 人事考核·迟到 −1")
    message = [reply_to(confirmation["message_id"]), "/申诉 我八点就到了"]
    out = await one(message, ZHAO, card="赵龘", stored=[confirmation])
    assert out.startswith("✅ 已提交对 #2 人事考核·迟到 −1 的申诉（理由：我八点就到了）"), out


async def test_replying_to_the_original_report_names_its_entry(late_zhao: int):
    original = stored_message(late_zhao, ZHAO, "/软文 https://example.com/a", card="赵龘")
    message = [reply_to(late_zhao), at(ZHAO), " /撤销 链接重复"]
    out = await one(message, OWNER, role="owner", stored=[original])
    assert out.startswith("✅ 已撤销 #1 赵龘 推广绩效·自建渠道软文"), out
    assert (await entry(2)).revoked_at is None


async def test_replying_to_an_unfetchable_report_still_names_its_entry(late_zhao: int):
    out = await one([reply_to(late_zhao), "/撤销 链接重复"], OWNER, role="owner")
    assert out.startswith("✅ 已撤销 #1 "), out


async def test_replying_to_a_message_of_several_entries_asks_for_the_id(late_zhao: int):
    listing = stored_message(next_id(), int(BOT_ID), "✅ #1 …\n✅ #2 …")
    out = await one(
        [reply_to(listing["message_id"]), "/撤销 错了"], OWNER, role="owner", stored=[listing]
    )
    assert out.startswith("❌ 你回复的消息对应多条记录（#1、#2），请写上编号\n用法：/撤销"), out
    assert all(e.revoked_at is None for e in await entries())


async def test_replying_to_a_message_with_no_entry_is_refused(late_zhao: int):
    chat = stored_message(next_id(), ZHAO, "大家好", card="赵龘")
    out = await one(
        [reply_to(chat["message_id"]), "/撤销 错了"], OWNER, role="owner", stored=[chat]
    )
    assert out.startswith("❌ 你回复的消息没有对应的记录，请写记录编号"), out
    out = await one("/撤销 错了", OWNER, role="owner")
    assert out.startswith(
        "❌ 请写要撤销的编号，例如 /撤销 #123 录错了（或回复该记录的确认消息）"
    ), out


# ---- 3. an agent's /绩效 is their own; months in words ----------------------------------------


async def test_an_agents_score_without_target_is_their_own(app: App):
    await bind(app)
    await agent(app, ZHAO)
    own = plain(await said(app, "/我的绩效", ZHAO, card="赵龘"))
    assert "赵龘" in own, own
    assert not own.startswith("❌"), own
    assert plain(await said(app, "/绩效", ZHAO, card="赵龘")) == own
    assert plain(await said(app, ["/绩效 ", at(ZHAO)], ZHAO, card="赵龘")) == own
    assert plain(await said(app, "/绩效 这个月", ZHAO, card="赵龘")) == own


async def test_an_agent_still_cannot_read_a_colleagues_score(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await agent(app, LI)
    for content in (["/绩效 ", at(LI)], "/绩效 李四", f"/绩效 {LI}"):
        reply = plain(await said(app, content, ZHAO, card="赵龘"))
        assert reply.startswith("❌ 只有本团队的主管可以这样做；看自己的绩效请发 /绩效"), reply
        assert "李四" not in reply.split("\n")[0], reply


@pytest.mark.parametrize(
    ("word", "month"),
    [("十一月", "2026-11"), ("上个月", "2026-11"), ("这个月", "2026-12"), ("11月份", "2026-11")],
)
async def test_months_in_words(app: App, word: str, month: str):
    await bind(app)
    await agent(app, ZHAO)
    reply = plain(await said(app, f"/我的绩效 {word}", ZHAO, card="赵龘"))
    assert month in reply, reply
    assert not reply.startswith("❌"), reply


async def test_a_deduction_for_november_written_in_words(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/迟到 ", at(ZHAO), " 十一月"])
    assert reply.startswith("✅ #2 赵龘 人事考核·迟到 −1（2026-11 "), reply
    assert (await entry(2)).period == "2026-11"


def test_chinese_month_names_read_as_the_latest_such_month():
    from models.periods import looks_like_period, parse_period

    assert parse_period("十二月", SH) == "2026-12"
    assert parse_period("一月", SH) == "2026-01"
    assert parse_period("十三月", SH) is None
    assert not looks_like_period("十三月")


# ---- 4. near-miss commands and synonyms ---------------------------------------------------------

RANK_HINT = "❓ 是不是 /排行？\n用法：/排行 [月份]"
ME_HINT = "❓ 是不是 /我的绩效？\n用法：/我的绩效 [月份]"


@pytest.mark.parametrize(
    ("typed", "hint"),
    [
        ("/排名", RANK_HINT),
        ("/排行榜", RANK_HINT),
        ("/排行榜 十一月", RANK_HINT),
        ("/我的积分", ME_HINT),
        ("/我的业绩", ME_HINT),
        ("/成绩", ME_HINT),  # a synonym before a command one edit away (/成员)
        ("/我的绩笑", ME_HINT),
        ("/加好有 10", "❓ 是不是 /加好友？\n用法：/加好友 <个数> [备注]"),
        ("/加好有10", "❓ 是不是 /加好友？\n用法：/加好友 <个数> [备注]"),
        ("/rnak", "❓ 是不是 /排行？\n用法：/排行 [月份]"),
    ],
)
async def test_a_near_miss_or_synonym_is_answered_with_the_right_usage(app: App, typed, hint):
    await bind(app)
    await agent(app, ZHAO)
    assert plain(await said(app, typed, ZHAO, card="赵龘")) == hint
    assert len(await entries()) == 1


async def test_the_real_commands_still_answer(app: App):
    await bind(app)
    await agent(app, ZHAO)
    assert plain(await said(app, "/排行", ZHAO, card="赵龘")).startswith("🏆")
    assert plain(await said(app, "/排行 十一月", ZHAO, card="赵龘")).startswith(
        "「客服一组」2026-11"
    )
    out = plain(await said(app, "/加好友 10", ZHAO, card="赵龘"))
    assert out.startswith("✅ #2 QQ/微信加好友 已记录"), out


async def test_far_off_words_and_unbound_groups_stay_silent(app: App):
    await bind(app)
    for typed in ("/随便说说", "/x", "/排", "/hello world"):
        await say(app, group_event(typed, ZHAO), replies=0)
    await say(app, group_event("/排名", ZHAO, group_id=GROUP + 7), replies=0)


def test_one_edit():
    from bot.dispatch import _one_edit

    assert _one_edit("加好有", "加好友")
    assert _one_edit("rnak", "rank")
    assert _one_edit("加好", "加好友")
    assert _one_edit("加好友们", "加好友")
    assert not _one_edit("加好友", "加好友")
    assert not _one_edit("rnka", "rank")
    assert not _one_edit("排行榜单", "排行")


# ---- 5. rules that protect pay -----------------------------------------------------------------


async def test_a_note_of_500_is_kept_whole_and_501_is_refused(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/投诉 ", at(ZHAO), " " + "慢" * 500])
    assert reply.startswith("✅ #2 "), reply
    assert len((await entry(2)).note) == 500
    reply = await boss(app, ["/投诉 ", at(ZHAO), " " + "慢" * 501])
    assert reply == (
        "❌ 备注最多 500 个字，收到 501 个字，请写短一些\n用法：/投诉 @某人… [次数] [备注] [月份]"
    )
    reply = plain(await said(app, "/软文 https://example.com/b " + "字" * 501, ZHAO, card="赵龘"))
    assert reply.startswith("❌ 备注最多 500 个字，收到 501 个字"), reply
    assert len(await entries()) == 2


async def test_over_long_revoke_and_appeal_reasons_are_refused(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/迟到 ", at(ZHAO)])
    reply = plain(await said(app, "/申诉 #2 " + "冤" * 301, ZHAO, card="赵龘"))
    assert reply.startswith("❌ 申诉理由最多 300 个字，收到 301 个字"), reply
    reply = await boss(app, "/撤销 #2 " + "错" * 201)
    assert reply.startswith("❌ 原因最多 200 个字，收到 201 个字"), reply
    assert (await entry(2)).revoked_at is None


def member_info(user_id: int, role: str, card: str) -> tuple[str, dict, dict]:
    data = {"group_id": GROUP, "user_id": user_id}
    return "get_group_member_info", data, {"user_id": user_id, "card": card, "role": role}


@pytest.mark.parametrize(
    ("user_id", "role", "why"),
    [
        (40009, "owner", "群主"),
        (40008, "admin", "群管理员（视为主管）"),
        (10000, "member", "超级管理员"),
    ],
)
async def test_owners_admins_and_superusers_who_are_not_agents_cannot_be_marked(
    app: App, user_id: int, role: str, why: str
):
    await bind(app)
    await agent(app, ZHAO)
    await said(app, "/帮助", user_id)  # a bare superuser id holds once seen on its platform
    event = group_event(["/投诉 ", at(ZHAO), " ", at(user_id), " 态度差"], OWNER, role="owner")
    (reply,) = await say(app, event, api=[member_info(user_id, role, "陈老板")])
    assert plain(reply) == (
        f"❌ 陈老板 是{why}，不参与考核。本次没有记录任何内容\n用法：/投诉 @某人… [次数] [备注] [月份]"
    )
    assert len(await entries()) == 1
    from tests.test_supervise import members

    assert [m.user_id for m in await members()] == [str(ZHAO)]


async def test_a_group_owner_who_reports_is_an_agent_and_can_be_marked(app: App):
    await bind(app)
    out = plain(
        await said(app, "/软文 https://example.com/own", 40009, card="陈老板", role="owner")
    )
    assert out.startswith("✅ #1 "), out
    reply = await boss(app, ["/迟到 ", at(40009)])
    assert reply.startswith("✅ #2 陈老板 人事考核·迟到 −1"), reply


async def test_one_appeal_per_entry_a_rejected_one_stays_rejected(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/迟到 ", at(ZHAO)])
    assert plain(await said(app, "/申诉 2 堵车", ZHAO, card="赵龘")).startswith("✅ 已提交对 #2")
    assert (await boss(app, "/驳回 2 不算理由")).startswith("✅ 已驳回 #2 的申诉")
    again = plain(await said(app, "/申诉 2 真的堵车", ZHAO, card="赵龘"))
    assert again.startswith("❌ #2 的申诉已被驳回，每条记录只能申诉一次"), again
    assert (await boss(app, "/驳回 2 再驳回")).startswith("❌ #2 没有待处理的申诉")
    revoked = await boss(app, "/撤销 2 查监控确实堵车")
    assert revoked.startswith("✅ 已撤销 #2 赵龘 人事考核·迟到 −1"), revoked


# ---- 6. one article, one spelling ----------------------------------------------------------------

ARTICLE = "https://mp.weixin.qq.com/s/AbC-12_x~"
SPELLINGS = [
    "http://mp.weixin.qq.com/s/AbC-12_x~",
    "HTTPS://MP.WEIXIN.QQ.COM/s/AbC-12_x~",
    "https://mp.weixin.qq.com./s/AbC-12_x~",
    "https://mp.weixin.qq.com/s/%41bC%2D12%5Fx%7E",
    "https://mp.weixin.qq.com/./s/AbC-12_x~",
    "https://mp.weixin.qq.com/s/../s/AbC-12_x~",
    "https://mp.weixin.qq.com//s//AbC-12_x~",
    "https://mp.weixin.qq.com/s/AbC-12_x~/",
    "https://mp.weixin.qq.com:443/s/AbC-12_x~",
    "https://mp.weixin.qq.com/s/AbC-12_x~?utm_source=wx&chksm=9f8e",
    "https://mp.weixin.qq.com/s/AbC-12_x~#wechat_redirect",
    "http://mp.weixin.qq.com:80/s/AbC-12_x~?scene=1&from=timeline&mpshare=1",
]


def test_thirteen_spellings_of_one_article_have_one_key():
    from models.links import normalize_url

    assert {normalize_url(u) for u in [ARTICLE, *SPELLINGS]} == {ARTICLE}
    assert normalize_url("https://e.com/%e4%b8%ad") == normalize_url("https://e.com/中")
    assert normalize_url("https://e.com/a%2fb") == "https://e.com/a%2Fb"
    assert normalize_url("https://e.com/a/b") != normalize_url("https://e.com/a%2Fb")


async def test_only_the_first_of_thirteen_spellings_is_accepted(app: App):
    await bind(app)
    first = plain(await said(app, f"/软文 {ARTICLE}", ZHAO, card="赵龘"))
    assert first.startswith("✅ #1 "), first
    for url in SPELLINGS:
        reply = plain(await said(app, f"/软文 {url}", LI, card="李四"))
        assert reply.startswith("❌ "), (url, reply)
        assert "#1" in reply, (url, reply)
    assert [e.link for e in await entries()] == [ARTICLE]


# ---- 8. replies in plain words ------------------------------------------------------------------


async def test_audit_of_a_team_whose_name_looks_like_a_number_reads_it(app: App):
    """`A²`… `²` passes str.isdigit but is no number: the audit names the team, no 「出错了」."""
    reply = await said(app, "/绑定 ²³", OWNER, role="owner")
    assert reply.startswith("✅"), reply
    reply = await said(app, "/审计", OWNER, role="owner")
    assert "²³" in reply, reply
    assert "出错了" not in reply, reply


async def test_audit_reads_as_sentences_with_names_items_and_yuan(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/严重投诉 ", at(ZHAO), " 200 辱骂客户"], card="陈老板")
    await boss(app, ["/扣分 ", at(ZHAO), " 回复不及时 3"], card="陈老板")
    await said(app, "/申诉 3 系统卡了", ZHAO, card="赵龘")
    await boss(app, "/撤销 3 确实卡了", card="陈老板")
    reply = await boss(app, "/审计", card="陈老板")
    lines = [line.split(" ", 2)[2] for line in reply.splitlines()[1:]]
    assert lines == [
        "陈老板 受理了对 赵龘的业务绩效·回复不及时（#3） 的申诉，理由：确实卡了",
        "陈老板 撤销了 赵龘的业务绩效·回复不及时（#3），原因：确实卡了",
        "赵龘 对 赵龘的业务绩效·回复不及时（#3） 提出申诉，理由：系统卡了",
        "陈老板 给 赵龘 登记 业务绩效·回复不及时 ×3（#3）",
        "陈老板 给 赵龘 登记 业务绩效·严重投诉，罚款 ¥200.00（#2）",
        "赵龘 自报 推广绩效·自建渠道软文（#1）",
        "赵龘 首次报数，自动登记为成员",
        "陈老板 把本群绑定到团队「客服一组」",
        "陈老板 创建了团队「客服一组」",
    ], reply
    assert "qq:" not in reply
    assert "{" not in reply


async def test_a_bonus_the_cap_swallows_says_so(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/培训讲师 ", at(ZHAO)])
    assert reply == (
        "✅ #2 赵龘 人事考核·培训讲师 +1（本月人事考核 10/10，总分 90.3）\n"
        "⚠ 人事考核已满分，这次加分不改变得分"
    )
    await boss(app, ["/迟到 ", at(ZHAO), " 3"])
    reply = await boss(app, ["/加分 培训讲师 ", at(ZHAO)])
    assert reply == (  # the first bonus counts now that there is room under the cap
        "✅ #4 赵龘 人事考核·培训讲师 +1（本月人事考核 9/10，总分 89.3）\n"
        "⚠ 2 分钟内已给 赵龘 登记过培训讲师（#2），如是重复请 /撤销 #4"
    ), reply


async def test_the_same_mark_within_two_minutes_warns_naming_the_first(app: App):
    await bind(app)
    await agent(app, ZHAO)
    assert "⚠" not in await boss(app, ["/回复不及时 ", at(ZHAO)])
    set_clock(datetime(2026, 12, 15, 10, 1, 59, tzinfo=SH))
    reply = await boss(app, ["/回复不及时 ", at(ZHAO)])
    assert reply.startswith("✅ #3 赵龘 业务绩效·回复不及时 −2"), reply
    assert reply.endswith("\n⚠ 2 分钟内已给 赵龘 登记过回复不及时（#2），如是重复请 /撤销 #3"), (
        reply
    )
    assert len(await entries()) == 3
    set_clock(datetime(2026, 12, 15, 10, 4, 30, tzinfo=SH))
    assert "⚠" not in await boss(app, ["/回复不及时 ", at(ZHAO)])


async def test_replying_to_a_confirmation_with_a_warning_names_the_confirmed_entry(late_zhao):
    text = "✅ #3 赵龘 人事考核·迟到 −1（…）\n⚠ 2 分钟内已给 赵龘 登记过迟到（#2），如是重复请 /撤销 #3"
    confirmation = stored_message(next_id(), int(BOT_ID), text)
    await one(["/迟到 ", at(ZHAO)], OWNER, role="owner")
    message = [reply_to(confirmation["message_id"]), "/撤销 重复了"]
    out = await one(message, OWNER, role="owner", stored=[confirmation])
    assert out.startswith("✅ 已撤销 #3 "), out


# ---- 7. half days ----------------------------------------------------------------------------


async def month_score(member_id: int = 1):
    from bot import db
    from bot.runtime import rubric
    from models.ledger import month_score

    async with db.reading() as s:
        return await s.run_sync(month_score, rubric(), 1, member_id, "2026-12", None)


@pytest.mark.parametrize(
    ("typed", "quantity", "shown"),
    [("半天", Fraction(1, 2), "×0.5 −0.3"), ("0.5", Fraction(1, 2), "×0.5 −0.3"),
     ("1.5", Fraction(3, 2), "×1.5 −0.8"), ("1天半", Fraction(3, 2), "×1.5 −0.8")],
)  # fmt: skip
async def test_half_days_of_leave_are_logged_exactly(app: App, typed, quantity, shown):
    await bind(app)
    await agent(app, ZHAO)  # 90.25
    reply = await boss(app, ["/请假 ", at(ZHAO), f" {typed}"])
    assert reply.startswith(f"✅ #2 赵龘 人事考核·请假 {shown}（本月人事考核 "), reply
    e = await entry(2)
    assert e.quantity == quantity
    assert str(e.quantity) == str(float(quantity))
    score = await month_score()
    assert score.total == Fraction(9025, 100) - quantity / 2
    assert score.item("leave").quantity == quantity


async def test_two_half_days_are_one_whole_day(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/请假 半天 ", at(ZHAO)])
    set_clock(datetime(2026, 12, 15, 11, 0, tzinfo=SH))
    reply = await boss(app, ["/请假 ", at(ZHAO), " 半天 下午看病"])
    assert reply.startswith(
        "✅ #3 赵龘 人事考核·请假 ×0.5 −0.3（本月人事考核 9.5/10，总分 89.8）"
    ), reply
    score = await month_score()
    assert score.item("leave").quantity == 1
    assert type(score.item("leave").quantity) is int
    assert score.total == Fraction(8975, 100)
    assert (await entry(3)).note == "下午看病"


async def test_the_score_card_lists_a_half_day_with_its_count(app: App):
    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/请假 ", at(ZHAO), " 半天"])
    await boss(app, ["/扣分 ", at(ZHAO), " 回复不及时 3"])
    card = plain(await said(app, "/我的绩效", ZHAO))
    assert "#2 人事考核·请假 ×0.5 −0.3" in card, card
    assert "#3 业务绩效·回复不及时 ×3 −6" in card, card


async def test_a_half_day_is_exported_as_half_a_day(app: App):
    """The workbook writes the exact half (openpyxl refuses a Fraction cell)."""
    import io

    from openpyxl import load_workbook

    from bot import db
    from bot.runtime import rubric
    from models.export import export_month
    from models.tables import Team

    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/请假 ", at(ZHAO), " 半天"])
    async with db.reading() as s:
        team = await s.get(Team, 1)
        data, _, _ = await export_month(s, rubric(), None, team, "2026-12", SH)
    rows = list(load_workbook(io.BytesIO(data))["明细"].iter_rows(values_only=True))
    [leave] = [r for r in rows if "请假" in r]
    assert 0.5 in leave


async def test_halves_of_items_counted_whole_or_off_the_step_are_refused(app: App):
    await bind(app)
    await agent(app, ZHAO)
    reply = await boss(app, ["/迟到 ", at(ZHAO), " 半天"])
    assert reply.startswith("❌ 次数必须是 1–100 的整数，收到 半天\n"), reply
    reply = await boss(app, ["/请假 ", at(ZHAO), " 0.3"])
    assert reply.startswith("❌ 天数必须是 0.5–100 之间的整数或半天，收到 0.3\n"), reply
    assert len(await entries()) == 1


def test_a_rubric_step_must_be_half_or_one_on_a_supervisor_item():
    from models.rubric import DEFAULT_RUBRIC_PATH, RubricError, parse_rubric

    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
    assert parse_rubric(text).item("leave").step == Decimal("0.5")
    with pytest.raises(RubricError, match=r"step 只能是 0\.5 或 1"):
        parse_rubric(text.replace("step = 0.5", "step = 0.25"))
    moments = 'commands = ["朋友圈", "moments"]'
    with pytest.raises(RubricError, match="只有主管登记的扣分类项目可以设 step"):
        parse_rubric(text.replace(moments, moments + "\nstep = 0.5"))


async def test_a_half_day_counts_exactly_in_the_ranking_the_trend_and_self_reports(app: App):
    from bot import db, door
    from bot.runtime import rubric
    from models.dashboard import member_trend
    from models.ledger import month_ranking
    from models.tables import Member

    await bind(app)
    await agent(app, ZHAO)
    await boss(app, ["/请假 ", at(ZHAO), " 1.5"])  # −0.75
    out = plain(await said(app, "/软文 https://example.com/second", ZHAO, card="赵龘"))
    assert out.startswith("✅ #3 "), out
    async with db.reading() as s:
        (ranked,) = await s.run_sync(month_ranking, rubric(), 1, "2026-12", None)
    trend = await door.read(
        lambda s: member_trend(s, 1, s.get(Member, 1), "2026-12", rubric(), None, 1)
    )
    assert ranked.score.total == Fraction(9050, 100) - Fraction(3, 4)
    assert ranked.score.item("leave").quantity == Fraction(3, 2)
    assert trend[-1][1].total == ranked.score.total
