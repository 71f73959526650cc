"""A command's reply as plain parts (text, @someone, a picture), turned into a uniseg
`UniMessage` only when it is sent; uniseg turns that into each platform's own message
(an OneBot v12 or Feishu picture is uploaded first). Handlers return replies; they never
send."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nonebot import logger
from nonebot.adapters import Bot, Event

from .format import Several
from .platforms import adapter_name

if TYPE_CHECKING:
    from nonebot_plugin_alconna.uniseg import UniMessage


@dataclass
class Mention:
    user_id: str
    name: str = ""  # shown where an @ is text (WeCom: `@名字`, never the userid)


@dataclass
class Picture:
    data: bytes


Part = str | Mention | Picture


def at(user_id: str | None, name: str) -> Part:
    """@ someone by their account on the group's platform, else (a linked member with no
    account there) by name in text."""
    return Mention(user_id, name) if user_id else f"@{name} "


Reply = str | list[Part] | Several | None  # one message, its parts, or several messages


def to_unimessage(parts: Iterable[Part]) -> UniMessage:
    """The parts as one `UniMessage`: an @ is followed by a space, a picture is its PNG
    bytes (named by their digest: an upload names the file)."""
    from nonebot_plugin_alconna.uniseg import At, Image, Text, UniMessage

    msg = UniMessage()
    for p in parts:
        if isinstance(p, Mention):
            msg.append(At("user", p.user_id, display=p.name or None))
            msg.append(Text(" "))
        elif isinstance(p, Picture):
            digest = hashlib.sha256(p.data).hexdigest()[:16]
            msg.append(Image(raw=p.data, name=f"kpi-{digest}.png", mimetype="image/png"))
        else:
            msg.append(Text(p))
    return msg


async def deliver(
    bot: Bot, parts: list[Part], send: Callable[[UniMessage], Awaitable[Any]]
) -> None:
    """Send the parts with `send`. A picture the platform cannot take (an OneBot v12
    implementation without `upload_file`, a failed upload) is left out, logged, and the
    text goes out without it; a refused send raises."""
    from nonebot_plugin_alconna.uniseg import Image, SerializeFailed

    adapter = adapter_name(bot)
    message = to_unimessage(parts)
    try:
        exported = await message.export(bot, fallback=False, adapter=adapter)
    except Exception as e:
        if not message.has(Image):
            raise
        if not isinstance(e, SerializeFailed):
            logger.warning(f"picture upload failed, sending the text without it: {e!r}")
        message = message.exclude(Image)
        exported = await message.export(bot, fallback=False, adapter=adapter)
    await send(exported)


def split_reply(reply: Reply) -> list[list[Part]]:
    """A reply as a list of messages, each a list of parts."""
    if reply is None:
        return []
    if isinstance(reply, str):
        return [[reply]]
    if isinstance(reply, Several):
        return [[m] for m in reply]
    return [list(reply)]


async def send_reply(bot: Bot, event: Event, reply: Reply) -> None:
    """Answer the event. Text goes out as the platform's text segment, never parsed (a
    name like `[CQ:at,qq=all]` stays text)."""
    for parts in split_reply(reply):
        await deliver(bot, parts, lambda m: bot.send(event, m))
