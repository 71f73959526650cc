"""The roster and targets (SPEC §2 people and groups, §3 targets): registration on the first
report, renames from the group card, joining and leaving, @mentions / QQ numbers / names as
targets on OneBot v11 and v12, silence in unbound groups, and private chat."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from nonebot.adapters.onebot import v12
from nonebot.adapters.onebot.v12.event import BotSelf
from nonebug import App
from sqlalchemy import func, select

from bot.commands import COMMANDS
from models.rubric import load_rubric
from models.tables import Member
from tests.utils import (
    BOT_ID,
    GROUP,
    OWNER,
    SUPER,
    Capture,
    at,
    bind,
    entries,
    group_event,
    next_id,
    plain,
    private_event,
    said,
    say,
)

TZ = ZoneInfo("Asia/Shanghai")
UNBOUND = GROUP + 9
V12_GROUP = "880001"


def today() -> str:
    from models.periods import local_now

    return str(local_now(TZ).date())


async def members() -> list:
    from bot import db
    from models.tables import Member

    async with db.reading() as s:
        return list((await s.execute(select(Member).order_by(Member.id))).scalars())


async def entry_count() -> int:
    from bot import db
    from models.tables import Entry

    async with db.reading() as s:
        return (await s.execute(select(func.count()).select_from(Entry))).scalar_one()


def member_info(group_id: int | str, user_id: int | str, card: str) -> tuple[str, dict, dict]:
    return (
        "get_group_member_info",
        {"group_id": group_id, "user_id": user_id},
        {"card": card, "nickname": f"nick{user_id}"},
    )


async def owner_says(app: App, content, **kw) -> str:
    return await said(app, content, OWNER, role="owner", **kw)


# ---- registration and names ------------------------------------------------------------------


async def test_first_report_registers_the_agent_under_their_group_card(app: App):
    await bind(app)
    assert (await said(app, "/朋友圈", 30001, card="张三")).startswith("✅ #1 ")
    [m] = await members()
    assert (m.user_id, m.name, m.role, str(m.joined_on)) == ("30001", "张三", "agent", today())
    roster = await said(app, "/成员", 30001, card="张三")
    assert f"1. 张三（30001）客服 {today()} 入职" in roster, roster


async def test_first_report_without_a_card_registers_the_nickname(app: App):
    await bind(app)
    await say(app, group_event("/朋友圈", 30001, card="", nickname="小王"))
    [m] = await members()
    assert m.name == "小王"


async def test_reporting_with_a_new_group_card_renames_the_member(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    assert (await said(app, "/朋友圈 第二次", 30001, card="张三丰")).startswith("✅")
    roster = await said(app, "/成员", 30002, card="李四")
    assert "张三丰（30001）" in roster, roster
    assert "张三（30001）" not in roster, roster
    assert [m.name for m in await members()] == ["张三丰"]


async def test_a_failed_name_refresh_still_answers_the_command(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    """A read command claims the message and refreshes a changed name in a transaction of
    its own: a locked database there costs the new name, never the answer (the message is
    claimed after the read, as for any read). (A command that writes refreshes
    the name in its own unit of work.)"""
    from sqlalchemy.exc import OperationalError

    from bot import db, door

    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    real, failed = door.write, []

    async def locked_once(team_id, work, **how):
        if not failed:
            failed.append(True)
            raise OperationalError("UPDATE member", {}, Exception("database is locked"))
        return await real(team_id, work, **how)

    monkeypatch.setattr(door, "write", locked_once)
    reply = await said(app, "/我的绩效", 30001, card="张三丰")
    assert reply.startswith("📋 张三 2026-"), reply  # the old name, this once
    assert failed == [True]
    reply = await said(app, "/朋友圈 第二次", 30001, card="张三丰")
    assert reply.startswith("✅ #2 朋友圈/空间维护 已记录"), reply
    async with db.reading() as s:
        assert (await s.execute(select(Member.name))).scalars().all() == ["张三丰"]


async def test_a_read_with_a_new_group_card_is_one_write_and_shows_the_new_name(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    """The claim of a read command and the rename go in one short write, before the read:
    the reply shows the new name, and no second write claims the message."""
    from bot import door

    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    real, writes = door.write, []

    async def counted(team_id, work, **how):
        writes.append(team_id)
        return await real(team_id, work, **how)

    monkeypatch.setattr(door, "write", counted)
    reply = await said(app, "/我的绩效", 30001, card="张三丰")
    assert reply.startswith("📋 张三丰 2026-"), reply
    assert len(writes) == 1
    assert [m.name for m in await members()] == ["张三丰"]


# ---- joining and leaving ---------------------------------------------------------------------


async def test_join_leave_keeps_history_refuses_reports_and_rejoin_restores(app: App):
    await bind(app)
    reply = await owner_says(
        app, ["/入职 ", at(30003), " 王五"], api=[member_info(GROUP, 30003, "群名片")]
    )
    assert reply == f"✅ 王五 已入职，从 {today()} 起计入考核", reply
    assert (await said(app, "/朋友圈", 30003, card="王五")).startswith("✅")

    reply = await owner_says(app, ["/离职 ", at(30003)])
    assert reply.startswith(f"✅ 王五 已离职（{today()}）"), reply
    [e] = await entries()
    assert e.revoked_at is None  # history kept
    roster = await owner_says(app, "/成员")
    assert "已离职 1 人" in roster, roster
    assert f"- 王五（30003）{today()} 离职" in roster, roster

    reply = await said(app, "/朋友圈", 30003, card="王五")
    assert reply.startswith("❌"), reply
    assert "离职" in reply, reply
    assert await entry_count() == 1

    reply = await owner_says(app, ["/入职 ", at(30003)], api=[member_info(GROUP, 30003, "王五")])
    assert reply == f"✅ 王五 重新入职，从 {today()} 起计入考核", reply
    assert (await said(app, "/朋友圈", 30003, card="王五")).startswith("✅")
    assert await entry_count() == 2
    roster = await owner_says(app, "/成员")
    assert "已离职" not in roster, roster


async def test_left_agent_is_refused_on_the_following_days(app: App):
    from models.periods import set_clock

    await bind(app)
    await said(app, "/朋友圈", 30003, card="王五")
    await owner_says(app, ["/离职 ", at(30003)])
    set_clock(datetime.now(UTC).replace(tzinfo=None) + timedelta(days=1))
    reply = await said(app, "/朋友圈", 30003, card="王五")
    assert reply.startswith("❌"), reply
    assert "离职" in reply, reply
    assert await entry_count() == 1


async def test_join_by_qq_number_asks_the_group_for_the_name(app: App):
    await bind(app)
    reply = await owner_says(app, "/入职 30005", api=[member_info(GROUP, 30005, "赵六")])
    assert reply == f"✅ 赵六 已入职，从 {today()} 起计入考核", reply


# ---- targets ---------------------------------------------------------------------------------


async def test_ambiguous_roster_name_is_refused_listing_both_qq_numbers(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    await said(app, "/朋友圈", 30004, card="张三")
    reply = await owner_says(app, "/投诉 张三 态度差")
    assert reply.startswith("❌"), reply
    assert "30001" in reply, reply
    assert "30004" in reply, reply
    assert "用法" in reply, reply
    assert await entry_count() == 2


async def test_several_mentions_log_one_entry_per_person(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    await said(app, "/朋友圈", 30002, card="李四")
    reply = await owner_says(app, ["/投诉 ", at(30001), " ", at(30002), " 群投诉"])
    lines = reply.splitlines()
    assert len(lines) == 2, reply
    assert lines[0].startswith("✅ #3 张三 业务绩效·客户投诉 −3"), reply
    assert lines[1].startswith("✅ #4 李四 业务绩效·客户投诉 −3"), reply
    logged = [e for e in await entries() if e.item_key == "complaint"]
    by_id = {m.id: m.user_id for m in await members()}
    assert sorted(by_id[e.member_id] for e in logged) == ["30001", "30002"]
    assert all(e.note == "群投诉" for e in logged)


async def test_qq_number_of_a_member_is_a_target(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    reply = await owner_says(app, "/投诉 30001")
    assert reply.startswith("✅ #2 张三 业务绩效·客户投诉 −3"), reply


async def test_qq_number_of_a_newcomer_registers_them_with_their_group_name(app: App):
    await bind(app)
    reply = await owner_says(app, "/投诉 30005", api=[member_info(GROUP, 30005, "赵六")])
    assert reply.startswith("✅ #1 赵六 业务绩效·客户投诉 −3"), reply
    [m] = await members()
    assert (m.user_id, m.name) == ("30005", "赵六")


async def test_exact_roster_name_is_a_target(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    reply = await owner_says(app, "/投诉 张三 态度差")
    assert reply.startswith("✅ #2 张三 业务绩效·客户投诉 −3"), reply
    [_, e] = await entries()
    assert (e.item_key, e.note) == ("complaint", "态度差")


# ---- OneBot v12 ------------------------------------------------------------------------------


def v12_group_event(content: v12.Message, user_id: str, group_id: str = V12_GROUP):
    return v12.GroupMessageEvent(
        id=str(next_id()),
        time=datetime.now(UTC),
        type="message",
        detail_type="group",
        sub_type="",
        self=BotSelf(platform="qq", user_id=BOT_ID),
        message_id=str(next_id()),
        message=content,
        original_message=content,
        alt_message=str(content),
        user_id=user_id,
        group_id=group_id,
    )


async def say_v12(app: App, event, api=()) -> str:
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=v12.Adapter)
        bot = ctx.create_bot(
            base=v12.Bot, adapter=adapter, self_id=BOT_ID, platform="qq", impl="test"
        )
        for name, data, result in api:
            ctx.should_call_api(name, data, result)
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, Capture(out), result={"message_id": str(next_id())})
    return out[0]


async def test_v12_group_binds_and_a_mention_segment_is_a_target(app: App):
    reply = await say_v12(app, v12_group_event(v12.Message("/绑定 微信组"), str(SUPER)))
    assert reply.startswith("✅ 本群已绑定团队「微信组」"), reply
    message = v12.Message(
        [
            v12.MessageSegment.text("/投诉 "),
            v12.MessageSegment.mention("40001"),
            v12.MessageSegment.text(" 态度差"),
        ]
    )
    lookup = (
        "get_group_member_info",
        {"group_id": V12_GROUP, "user_id": "40001"},
        {"user_id": "40001", "user_name": "ww", "user_displayname": "王五"},
    )
    reply = await say_v12(app, v12_group_event(message, str(SUPER)), api=[lookup])
    assert reply.startswith("✅ #1 王五 业务绩效·客户投诉 −3"), reply
    [m] = await members()
    assert (m.platform, m.user_id, m.name) == (
        "v12.qq",
        "40001",
        "王五",
    )  # SPEC §2: v12 has its own namespace
    [e] = await entries()
    assert (e.member_id, e.item_key, e.note) == (m.id, "complaint", "态度差")


async def test_v12_reply_to_a_members_message_targets_the_quoted_sender(app: App):
    """A v12 reply segment carries the quoted sender; the adapter drops it and the mention of
    that sender (`_check_reply`), and the command is about them (SPEC §3)."""
    from nonebot.adapters.onebot.v12.bot import _check_reply

    await say_v12(app, v12_group_event(v12.Message("/绑定 微信组"), str(SUPER)))
    lookup = (
        "get_group_member_info",
        {"group_id": V12_GROUP, "user_id": "40001"},
        {"user_id": "40001", "user_name": "ww", "user_displayname": "王五"},
    )
    await say_v12(app, v12_group_event(v12.Message("/朋友圈"), "40001"), api=[lookup])
    message = v12.Message(
        [
            v12.MessageSegment.reply("m-1", user_id="40001"),
            v12.MessageSegment.mention("40001"),
            v12.MessageSegment.text(" /投诉 回复慢"),
        ]
    )
    event = v12_group_event(message, str(SUPER))
    _check_reply(None, event)  # what v12.Bot.handle_event does first (it needs no bot)
    assert str(event.get_message()) == "/投诉 回复慢"
    reply = await say_v12(app, event)
    assert reply.startswith("✅ #2 王五 业务绩效·客户投诉 −3"), reply


# ---- unbound groups and private chat ---------------------------------------------------------

SILENT_IN_UNBOUND = sorted(
    {c.name for c in COMMANDS.values() if c.alias not in ("bind", "help")}
    | {item.commands[0] for item in load_rubric().items if item.commands}
)


@pytest.mark.parametrize("name", SILENT_IN_UNBOUND)
async def test_unbound_group_is_silent_for_kpi_commands(app: App, name: str):
    await say(
        app,
        group_event(["/" + name + " ", at(30001)], OWNER, group_id=UNBOUND, role="owner"),
        replies=0,
    )
    assert await entry_count() == 0


async def test_help_answers_in_an_unbound_group(app: App):
    reply = await said(app, "/帮助", 30001, group_id=UNBOUND)
    assert reply, reply
    assert not reply.startswith("❌"), reply
    assert "/绑定" in reply, reply


async def test_my_score_works_in_private_for_a_member(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    [reply] = await say(app, private_event("/我的绩效", 30001))
    assert not reply.startswith("❌"), reply
    assert "张三" in reply, reply
    assert re.search(r"朋友圈", reply), reply


async def test_deduct_in_private_is_refused_asking_for_the_group(app: App):
    await bind(app)
    await said(app, "/朋友圈", 30001, card="张三")
    [reply] = await say(app, private_event("/扣分 30001 投诉", SUPER))
    assert reply.startswith("❌"), reply
    assert "群" in reply.splitlines()[0], reply
    assert "用法" in reply, reply
    assert await entry_count() == 1


async def test_rubric_and_help_answer_in_private_even_to_a_stranger(app: App):
    """The rubric is not a secret of a team: anyone may read it in private chat."""
    [rubric] = await say(app, private_event("/考核表", 39999))
    assert rubric.startswith("📑 ")
    assert "【推广绩效 10分】" in rubric
    [refused] = await say(app, private_event("/我的绩效", 39999))
    assert refused.startswith("❌ 你还不在任何团队里")


async def test_help_tells_how_binding_is_guarded_replies_target_and_resend(app: App):
    """SPEC §2 "Binding is guarded", §3 "What real clients send" and /重发 in /帮助."""
    await bind(app)
    reply = plain(await said(app, "/帮助", 30001))
    assert "/绑定 [团队名]" in reply, reply
    assert "/重发 [月份]" in reply, reply
    assert "回复某人的消息再发命令（如 /投诉 回复慢），就是对这个人" in reply, reply
    detail = plain(await said(app, "/帮助 绑定", 30001))
    assert detail == (
        "/绑定 [团队名]（/bind）\n把本群绑定到团队（新团队：群主；已有团队：超级管理员或该团队主管）"
    ), detail
    unbound = await said(app, "/帮助", 30001, group_id=UNBOUND)
    assert "要加入已有团队，请超级管理员或该团队的主管来绑定" in unbound, unbound
