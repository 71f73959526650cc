"""Issue 20 finding 6 (SPEC §2, §3 targets): only someone the platform says is in the group
is registered or targeted. An @ of someone `get_group_member_info` does not answer for is
refused, all or nothing; a reply quoting a message of another group (or of a private chat)
names no one; people already on the team are targeted as before."""

from __future__ import annotations

import time

from nonebot.adapters.onebot.v11 import Adapter, Bot, MessageSegment
from nonebot.adapters.onebot.v11.event import Reply
from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App
from sqlalchemy import select

from models.tables import Member
from tests.utils import (
    BOT_ID,
    GROUP,
    OTHER_GROUP,
    OWNER,
    Capture,
    at,
    bind,
    deliver,
    entries,
    group_event,
    next_id,
    plain,
    said,
)

ZHANG = 30001
OUTSIDER = 40001
NEWCOMER = 40002
COMPLAINT_USAGE = "用法：/投诉 @某人… [次数] [备注] [月份]"


def in_group(user_id: int, card: str) -> tuple[str, dict, object, None]:
    return (
        "get_group_member_info",
        {"group_id": GROUP, "user_id": user_id},
        {"user_id": user_id, "card": card, "nickname": card},
        None,
    )


def not_in_group(user_id: int) -> tuple[str, dict, object, Exception]:
    return (
        "get_group_member_info",
        {"group_id": GROUP, "user_id": user_id},
        None,
        ActionFailed(status="failed", retcode=100, message="群成员不存在"),
    )


async def say_with(app: App, event, calls) -> list[str]:
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        bot = ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for name, data, result, exc in calls:
            ctx.should_call_api(name, data, result, exception=exc)
        ctx.receive_event(bot, event)
        ctx.should_call_send(event, Capture(out), result={"message_id": next_id()})
    return [plain(x) for x in out]


async def members() -> list[Member]:
    from bot import db

    async with db.reading() as s:
        return list((await s.execute(select(Member).order_by(Member.id))).scalars())


async def team_with_zhang(app: App) -> None:
    assert (await bind(app)).startswith("✅")
    assert (await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅")


async def test_an_at_of_someone_not_in_the_group_is_refused_and_registers_no_one(app: App):
    await team_with_zhang(app)
    event = group_event(["/投诉 ", at(OUTSIDER), " 态度差"], OWNER, role="owner")
    (reply,) = await say_with(app, event, [not_in_group(OUTSIDER)])
    assert reply == f"❌ QQ {OUTSIDER} 不在本群或本团队。本次没有记录任何内容\n{COMPLAINT_USAGE}"
    assert [m.user_id for m in await members()] == [str(ZHANG)]
    assert len(await entries()) == 1


async def test_one_outsider_among_several_targets_writes_nothing(app: App):
    await team_with_zhang(app)
    event = group_event(
        ["/扣分 ", at(NEWCOMER), " ", at(OUTSIDER), " ", at(ZHANG), " 迟到"], OWNER, role="owner"
    )
    # Lookups are sorted by id: 40001 (the outsider), then 40002.
    (reply,) = await say_with(app, event, [not_in_group(OUTSIDER), in_group(NEWCOMER, "新人")])
    assert reply.startswith(f"❌ QQ {OUTSIDER} 不在本群或本团队。本次没有记录任何内容"), reply
    assert [m.user_id for m in await members()] == [str(ZHANG)]
    assert len(await entries()) == 1


async def test_someone_in_the_group_is_still_registered_when_named_and_a_member_needs_no_lookup(
    app: App,
):
    await team_with_zhang(app)
    event = group_event(["/投诉 ", at(NEWCOMER), " ", at(ZHANG)], OWNER, role="owner")
    (reply,) = await say_with(app, event, [in_group(NEWCOMER, "新人")])
    assert "✅ #2 新人 业务绩效·客户投诉 −3" in reply, reply
    assert "✅ #3 张三 业务绩效·客户投诉 −3" in reply, reply
    assert [(m.user_id, m.name) for m in await members()] == [
        (str(ZHANG), "张三"),
        (str(NEWCOMER), "新人"),
    ]


async def test_join_of_someone_not_in_the_group_is_refused_even_with_a_name(app: App):
    await team_with_zhang(app)
    event = group_event(["/入职 ", at(OUTSIDER), " 王五"], OWNER, role="owner")
    (reply,) = await say_with(app, event, [not_in_group(OUTSIDER)])
    assert reply.startswith(f"❌ QQ {OUTSIDER} 不在本群，不能入职。本次没有记录任何内容"), reply
    assert [m.user_id for m in await members()] == [str(ZHANG)]


async def test_a_target_cap_refuses_many_ats_before_any_lookup(app: App):
    """Issue 20 finding 10: 10,000 @s in one /投诉. Refused before the first adapter call
    (say_with expects none) and before any transaction."""
    await team_with_zhang(app)
    parts: list = ["/投诉 "]
    for uid in range(50001, 50001 + 10_000):
        parts += [at(uid), " "]
    (reply,) = await say_with(app, group_event(parts, OWNER, role="owner"), [])
    assert reply == f"❌ 一次最多 50 人，请分几次发\n{COMPLAINT_USAGE}"
    assert len(await entries()) == 1


async def test_fifty_names_are_read_but_the_fifty_first_is_refused(app: App):
    await team_with_zhang(app)
    content = "/投诉 " + " ".join(["张三"] * 51)
    (reply,) = await say_with(app, group_event(content, OWNER, role="owner"), [])
    assert reply == f"❌ 一次最多 50 人，请分几次发\n{COMPLAINT_USAGE}"
    assert len(await entries()) == 1


def quoted(user_id: int, **where) -> dict:
    """A message as NapCat's get_msg returns it, from the chat `where` says."""
    return {
        "time": int(time.time()),
        "message_type": "group",
        "message_id": next_id(),
        "real_id": 1,
        "sender": {"user_id": user_id, "nickname": "张三", "card": "张三"},
        "message": [{"type": "text", "data": {"text": "在吗"}}],
        **where,
    }


async def test_a_reply_quoting_a_message_of_another_group_names_no_one(app: App):
    """A reply segment can name any message id; the bot fetches it (get_msg) and finds it in
    another group: its sender is no target, though they are on the team."""
    await team_with_zhang(app)
    other = quoted(ZHANG, group_id=OTHER_GROUP)
    event = group_event(
        [MessageSegment.reply(other["message_id"]), "/投诉 回复慢"], OWNER, role="owner"
    )
    [reply] = await deliver(event, stored=[other])
    assert plain(reply) == f"❌ 请 @ 要登记客户投诉的人（或写 QQ 号、姓名）\n{COMPLAINT_USAGE}", (
        reply
    )
    assert len(await entries()) == 1


async def test_a_reply_quoting_a_private_message_names_no_one(app: App):
    await team_with_zhang(app)
    private = quoted(ZHANG, message_type="private")
    event = group_event(
        [MessageSegment.reply(private["message_id"]), "/投诉 回复慢"], OWNER, role="owner"
    )
    [reply] = await deliver(event, stored=[private])
    assert plain(reply).startswith("❌ 请 @ 要登记客户投诉的人"), reply
    assert len(await entries()) == 1


async def test_a_reply_quoting_this_group_still_targets_the_sender(app: App):
    await team_with_zhang(app)
    here = quoted(ZHANG, group_id=GROUP)
    event = group_event(
        [MessageSegment.reply(here["message_id"]), "/投诉 回复慢"], OWNER, role="owner"
    )
    [reply] = await deliver(event, stored=[here])
    assert plain(reply).startswith("✅ #2 张三 业务绩效·客户投诉 −3"), reply


async def test_a_quoted_sender_not_in_the_group_names_no_one(app: App):
    """An implementation that says nothing of the quoted message's chat: the sender, not on
    the team, is looked up in this group, and the failed lookup means no target."""
    await team_with_zhang(app)
    event = group_event("/投诉 回复慢", OWNER, role="owner")
    event.reply = Reply.model_validate(quoted(OUTSIDER))  # as the adapter's `_check_reply` sets it
    (reply,) = await say_with(app, event, [not_in_group(OUTSIDER)])
    assert reply == f"❌ 请 @ 要登记客户投诉的人（或写 QQ 号、姓名）\n{COMPLAINT_USAGE}"
    assert [m.user_id for m in await members()] == [str(ZHANG)]
    event = group_event("/入职", OWNER, role="owner")
    event.reply = Reply.model_validate(quoted(OUTSIDER))
    (reply,) = await say_with(app, event, [not_in_group(OUTSIDER)])
    assert reply.startswith("❌ 请 @ 要入职的人"), reply
    assert [m.user_id for m in await members()] == [str(ZHANG)]
