"""A command's reply as plain parts (text, @someone, a picture), turned into a OneBot v11 or
v12 message only when it is sent. Handlers return replies; they never send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nonebot.adapters import Bot, Event, Message
from nonebot.adapters.onebot import v11, v12

from .format import Several


@dataclass
class Mention:
    user_id: str


@dataclass
class Picture:
    data: bytes


Part = str | Mention | Picture
Reply = str | list[Part] | Several | None  # one message, its parts, or several messages


def to_message(bot: Bot, parts: Iterable[Part]) -> Message:
    mod = v12 if isinstance(bot, v12.Bot) else v11
    msg = mod.Message()
    for p in parts:
        if isinstance(p, Mention):
            msg += (
                mod.MessageSegment.mention(p.user_id)
                if mod is v12
                else v11.MessageSegment.at(p.user_id)
            )
            msg += mod.MessageSegment.text(" ")
        elif isinstance(p, Picture):
            if mod is v11:  # v12 needs an upload first; the text says it all
                msg += v11.MessageSegment.image(p.data)
        else:
            msg += mod.MessageSegment.text(p)
    return msg


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
    for parts in split_reply(reply):
        await bot.send(event, to_message(bot, parts))
