"""A command's reply as plain parts (text, @someone, a picture), turned into a OneBot v11 or
v12 message only when it is sent. Handlers return replies; they never send."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nonebot import logger
from nonebot.adapters import Bot, Event, Message
from nonebot.adapters.onebot import v11, v12

from .format import Several
from .upload import upload_image


@dataclass
class Mention:
    user_id: str


@dataclass
class Picture:
    data: bytes
    file_id: str | None = None  # OneBot v12: set once uploaded (`with_uploads`)


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
            if mod is v11:
                msg += v11.MessageSegment.image(p.data)
            elif p.file_id is not None:  # v12 sends only what was uploaded (`with_uploads`)
                msg += v12.MessageSegment.image(p.file_id)
        else:
            msg += mod.MessageSegment.text(p)
    return msg


async def with_uploads(bot: Bot, parts: list[Part]) -> list[Part]:
    """The parts ready for `to_message`: over OneBot v12 each picture is uploaded first. A
    picture that fails to upload is left out (logged), so the text still goes out."""
    if not isinstance(bot, v12.Bot):
        return parts
    ready: list[Part] = []
    for p in parts:
        if isinstance(p, Picture) and p.file_id is None:
            try:
                p = Picture(p.data, await upload_image(bot, p.data))
            except Exception as e:
                logger.warning(f"upload_file failed, sending the text without the picture: {e!r}")
                continue
        ready.append(p)
    return ready


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
        await bot.send(event, to_message(bot, await with_uploads(bot, parts)))
