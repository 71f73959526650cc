"""Event factories and a chat helper for nonebug tests.

Every event gets a unique message id. `say()` sends one message as a person in a group (or
in private) and returns the bot's replies as plain text, whatever they are.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import time
from collections.abc import Iterable, Iterator

import nonebot
import pytest
from nonebot.adapters.onebot.v11 import (
    Adapter,
    Bot,
    GroupMessageEvent,
    Message,
    MessageSegment,
    PrivateMessageEvent,
)
from nonebot.adapters.onebot.v11.event import Sender
from nonebug import App

from tools import testdb

GROUP = 20001
OTHER_GROUP = 20002
BOT_ID = "99999"
OWNER = 10001
ADMIN = 10002
SUPER = 10000  # in SUPERUSERS (conftest)
BOSS = 10003  # made supervisor explicitly in tests that need one

sqlite_only = pytest.mark.skipif(
    testdb.on_postgres(), reason="a property of SQLite itself (its locks, WAL or files)"
)

_ids = itertools.count(int(time.time() * 1000) % 10_000_000)


def next_id() -> int:
    return next(_ids)


def at(user_id: int | str) -> MessageSegment:
    return MessageSegment.at(user_id)


def image(url: str = "http://127.0.0.1:9/x.png", file: str = "abc.image") -> MessageSegment:
    return MessageSegment("image", {"file": file, "url": url})


def as_message(content: str | Message | Iterable) -> Message:
    if isinstance(content, Message):
        return content
    if isinstance(content, str):
        return Message(MessageSegment.text(content))
    msg = Message()
    for part in content:
        msg += MessageSegment.text(part) if isinstance(part, str) else part
    return msg


def group_event(
    content,
    user_id: int = 30001,
    *,
    group_id: int = GROUP,
    card: str = "",
    nickname: str | None = None,
    role: str = "member",
    message_id: int | None = None,
) -> GroupMessageEvent:
    msg = as_message(content)
    return GroupMessageEvent(
        time=int(time.time()),
        self_id=int(BOT_ID),
        post_type="message",
        sub_type="normal",
        user_id=user_id,
        message_type="group",
        message_id=message_id if message_id is not None else next_id(),
        message=msg,
        original_message=msg,
        raw_message=str(msg),
        font=0,
        sender=Sender(user_id=user_id, nickname=nickname or f"用户{user_id}", card=card, role=role),
        group_id=group_id,
        to_me=False,
    )


def private_event(content, user_id: int = 30001) -> PrivateMessageEvent:
    msg = as_message(content)
    return PrivateMessageEvent(
        time=int(time.time()),
        self_id=int(BOT_ID),
        post_type="message",
        sub_type="friend",
        user_id=user_id,
        message_type="private",
        message_id=next_id(),
        message=msg,
        original_message=msg,
        raw_message=str(msg),
        font=0,
        sender=Sender(user_id=user_id, nickname=f"用户{user_id}"),
        to_me=True,
    )


class Capture:
    """Matches any message sent, and keeps its text."""

    def __init__(self, sink: list[str]):
        self.sink = sink

    def __eq__(self, other: object) -> bool:
        self.sink.append(str(other))
        return True

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


async def say(
    app: App,
    event,
    *,
    replies: int = 1,
    api: Iterable[tuple[str, dict, object]] = (),
) -> list[str]:
    """Deliver `event`; expect `replies` messages (0 = silence) and the given API calls."""
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        bot = ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        for name, data, result in api:
            ctx.should_call_api(name, data, result)
        ctx.receive_event(bot, event)
        for _ in range(replies):
            ctx.should_call_send(event, Capture(out), result={"message_id": next_id()})
        if replies == 0:
            ctx.should_finished()
    return out


async def said(app: App, content, user_id: int = 30001, **kw) -> str:
    """One group message, one reply; returns the reply text."""
    api = kw.pop("api", ())
    replies = await say(app, group_event(content, user_id, **kw), api=api)
    return replies[0]


async def bind(app: App, group_id: int = GROUP, name: str = "客服一组") -> str:
    return await said(app, f"/绑定 {name}", OWNER, group_id=group_id, role="owner")


class LenientAdapter(Adapter):
    """A OneBot v11 adapter that answers every API call and records it (for fuzzing,
    where the calls a message triggers are not known in advance). `get_msg` answers from
    `stored` (message id → the message as NapCat returns it) and fails for any other id,
    as NapCat does for a message it no longer has."""

    calls: list[tuple[str, dict]]
    stored: dict[int, dict]

    async def _call_api(self, bot, api: str, **data):
        from nonebot.adapters.onebot.v11 import ActionFailed

        self.calls.append((api, data))
        if api == "get_group_member_info":
            return {"card": "新人", "nickname": "新人", "user_id": data.get("user_id")}
        if api == "get_msg":
            if data.get("message_id") not in self.stored:
                raise ActionFailed(status="failed", retcode=100, message="消息不存在")
            return self.stored[data["message_id"]]
        return {"message_id": next_id()}


def stored_message(message_id: int, user_id: int, text: str, card: str = "") -> dict:
    """A group message as NapCat's `get_msg` returns it."""
    return {
        "time": int(time.time()),
        "message_type": "group",
        "message_id": message_id,
        "real_id": message_id,
        "sender": {"user_id": user_id, "nickname": card or f"用户{user_id}", "card": card},
        "message": [{"type": "text", "data": {"text": text}}],
    }


async def deliver(event, stored: Iterable[dict] = ()) -> list[str]:
    """Handle `event` as the OneBot v11 adapter does (`Bot.handle_event`: the reply segment
    is resolved with `get_msg`, a leading @ of the bot removed) with a lenient bot; return the
    texts the bot sent. `stored`: messages `get_msg` can still fetch."""
    import nonebot

    adapter = LenientAdapter(nonebot.get_driver())
    adapter.calls = []
    adapter.stored = {m["message_id"]: m for m in stored}
    bot = Bot(adapter, BOT_ID)
    await bot.handle_event(event)
    return [
        str(data["message"])
        for api, data in adapter.calls
        if api in ("send_msg", "send_group_msg", "send_private_msg")
    ]


def plain(text: str) -> str:
    """The text a user reads (a captured message is CQ-escaped: `[` is `&#91;`)."""
    import html

    return html.unescape(text)


async def entries():
    """Every entry, oldest first."""
    from sqlalchemy import select

    from bot import db
    from models.tables import Entry

    async with db.reading() as s:
        return list((await s.execute(select(Entry).order_by(Entry.id))).scalars())


async def entry(entry_id: int):
    from bot import db
    from models.tables import Entry

    async with db.reading() as s:
        return await s.get(Entry, entry_id)


def company_rubric_text() -> str:
    """The default rubric as a company edits it: a sixth promotion channel `video` (target 4,
    weight 1, command /短视频) whose weight comes from moments (2 → 1), so weights still sum
    to 2 + 2 + 2 + 2 + 1 + 1 = 10."""
    from models.rubric import DEFAULT_RUBRIC_PATH

    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
    moments = 'target = 20\nweight = 2\nevidence = "none"\ncommands = ["朋友圈", "moments"]'
    assert text.count(moments) == 1
    return (
        text.replace(moments, moments.replace("weight = 2", "weight = 1"))
        + """
[[items]]
key = "video"
name = "短视频推广"
short = "短视频"
category = "promotion"
unit = "条"
target = 4
weight = 1
evidence = "link"
commands = ["短视频", "video"]
"""
    )


def one(replies: list[str]) -> str:
    """The only reply (an end-to-end step answered by exactly one message)."""
    assert len(replies) == 1, replies
    return replies[0]


def png(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    """A small PNG picture, as a phone's screenshot would be sent."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


@contextlib.contextmanager
def connected(adapter: Adapter) -> Iterator[Adapter]:
    """`adapter`'s bot account BOT_ID connected to NoneBot while the block runs (a test
    that talks to the bot between chat turns, e.g. the web asking the group)."""
    bot = Bot(adapter, BOT_ID)
    nonebot.get_driver()._bot_connect(bot)
    try:
        yield adapter
    finally:
        nonebot.get_driver()._bot_disconnect(bot)
