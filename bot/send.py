"""Sending outside a command's reply: to a bound group or to a person, across adapters.

The bot account that sits in the group is named explicitly (a cross-adapter target without
one would pick a random connected bot); with none of the right adapter online, nothing is
sent and the caller keeps the message pending.
"""

from __future__ import annotations

import base64

import nonebot
from nonebot.adapters import Bot
from nonebot.adapters.onebot import v11, v12

from models.tables import GroupBinding

from .kit import Part, to_message


class NoBotOnline(Exception):
    """No connected bot can reach this group yet."""


def pick_bot(binding: GroupBinding) -> Bot:
    bots = nonebot.get_bots()
    if binding.self_id and binding.self_id in bots:
        bot = bots[binding.self_id]
        if bot.adapter.get_name() == binding.adapter or _kind(bot) == binding.adapter:
            return bot
    for bot in bots.values():
        if _kind(bot) == binding.adapter:
            return bot
    raise NoBotOnline(f"{binding.adapter} 没有在线的机器人")


def _kind(bot: Bot) -> str:
    if isinstance(bot, v12.Bot):
        return "OneBot V12"
    if isinstance(bot, v11.Bot):
        return "OneBot V11"
    return bot.adapter.get_name()


async def send_group(binding: GroupBinding, parts: list[Part]) -> None:
    bot = pick_bot(binding)
    message = to_message(bot, parts)
    if isinstance(bot, v12.Bot):
        await bot.send_message(detail_type="group", group_id=binding.group_id, message=message)
    else:
        await bot.call_api("send_group_msg", group_id=int(binding.group_id), message=message)


async def send_private(binding: GroupBinding, user_id: str, parts: list[Part]) -> None:
    bot = pick_bot(binding)
    message = to_message(bot, parts)
    if isinstance(bot, v12.Bot):
        await bot.send_message(detail_type="private", user_id=user_id, message=message)
    else:
        await bot.call_api("send_private_msg", user_id=int(user_id), message=message)


async def upload_group_file(binding: GroupBinding, name: str, data: bytes) -> bool:
    """Upload a file to the group (OneBot v11 `upload_group_file`); False where unsupported."""
    bot = pick_bot(binding)
    if not isinstance(bot, v11.Bot):
        return False
    await bot.call_api(
        "upload_group_file",
        group_id=int(binding.group_id),
        file="base64://" + base64.b64encode(data).decode(),
        name=name,
    )
    return True


async def send_direct(
    bot: Bot, user_id: str, parts: list[Part], via_group: str | None = None
) -> None:
    """A private message to a person. On QQ (OneBot v11), someone who is not the bot's
    friend is reached through a temporary session of `via_group` (`send_private_msg` with
    `group_id`), where the client supports it; raises when the message cannot be sent."""
    message = to_message(bot, parts)
    if isinstance(bot, v12.Bot):
        await bot.send_message(detail_type="private", user_id=user_id, message=message)
        return
    try:
        await bot.call_api("send_private_msg", user_id=int(user_id), message=message)
    except Exception:
        if via_group is None:
            raise
        await bot.call_api(
            "send_private_msg", user_id=int(user_id), group_id=int(via_group), message=message
        )
