"""`/关联` in a QQ group through NoneBot (nonebug, OneBot v11): the code goes privately, or
into the group when no private message gets through; a link by a superuser and `/审计`
naming it; a `/关联` with words but no code is refused with the usage (SPEC §2 "Linked
accounts")."""

from __future__ import annotations

import re

from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App

from tests.utils import (
    BOT_ID,
    SUPER,
    Capture,
    at,
    bind,
    group_event,
    plain,
    said,
)

NOT_FRIEND = ActionFailed(status="failed", retcode=100, message="not friend")
CODE = re.compile(r"关联码 (\d{6})")


class Recorder(dict):
    """Matches any API payload and keeps it."""

    def __init__(self, sink: list[dict]):
        super().__init__()
        self.sink = sink

    def __eq__(self, other: object) -> bool:
        self.sink.append(other)  # type: ignore[arg-type]
        return True

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


async def ask_code(app: App, user_id: int, outcomes: list[object]) -> tuple[str, list[dict]]:
    """`/关联` in the group; each private send attempt gets the next outcome."""
    from nonebot.adapters.onebot.v11 import Adapter, Bot

    out: list[str] = []
    sent: list[dict] = []
    async with app.test_matcher() as ctx:
        bot = ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        event = group_event("/关联", user_id, card="小号")
        ctx.receive_event(bot, event)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                ctx.should_call_api("send_private_msg", Recorder([]), exception=outcome)
            else:
                ctx.should_call_api("send_private_msg", Recorder(sent), result=outcome)
        ctx.should_call_send(event, Capture(out), result={"message_id": 3})
    [reply] = [plain(m) for m in out]
    return reply, sent


async def test_the_code_goes_privately_and_a_superuser_links_it(app: App):
    await bind(app)
    assert (await said(app, "/朋友圈", 30001, card="张三")).startswith("✅ #")
    reply, sent = await ask_code(app, 30077, [{"message_id": 1}])
    assert reply == "✅ 关联码已私聊发给你（15 分钟内有效，只能用一次）"
    assert sent[0]["user_id"] == 30077
    found = CODE.search(str(sent[0]["message"]))
    assert found is not None
    linked = await said(app, ["/关联 ", at(30001), f" {found.group(1)}"], SUPER)
    assert linked.startswith("✅ QQ 30077（小号）已关联到 张三"), linked
    again = await said(app, "/朋友圈", 30077, card="小号")
    assert "本月 2/20" in again, again
    log = await said(app, "/审计", SUPER)
    assert "把QQ 30077（小号）关联到 张三" in log, log


async def test_when_no_private_message_gets_through_the_code_is_shown_in_the_group(app: App):
    await bind(app)
    reply, _ = await ask_code(app, 30077, [NOT_FRIEND, NOT_FRIEND])
    assert CODE.search(reply), reply
    assert "由超级管理员在团队群里发：/关联" in reply, reply


async def test_words_without_a_code_are_refused_with_the_usage(app: App):
    await bind(app)
    reply = await said(app, "/关联 张三", SUPER)
    assert reply.startswith("❌ 关联码是 6 位数字"), reply
    assert "\n用法：/关联 " in reply, reply
