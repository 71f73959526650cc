"""Sending outside a command's reply: to a bound group or to a person, across adapters.

The bot account that serves the group (the one that received `/绑定`) sends when it is
connected to this process. Otherwise another connected account of the same protocol sends,
but only one that says it is in the group (`get_group_list`); with none, nothing is sent
and the caller keeps the message pending (SPEC §5 scale-out).
"""

from __future__ import annotations

import base64

import nonebot
from nonebot import logger
from nonebot.adapters import Bot
from nonebot.adapters.onebot import v11, v12

from models.tables import GroupBinding

from .replies import Part, to_message, with_uploads


class NoBotOnline(Exception):
    """No connected bot can reach this group yet."""


async def pick_bot(binding: GroupBinding) -> Bot:
    bots = nonebot.get_bots()
    serving = bots.get(binding.self_id or "")
    if serving is not None and _kind(serving) == binding.adapter:
        return serving
    for bot in bots.values():
        if _kind(bot) == binding.adapter and await _in_group(bot, binding.group_id):
            return bot
    raise NoBotOnline(f"没有在群 {binding.group_id} 里的在线机器人账号")


async def _in_group(bot: Bot, group_id: str) -> bool:
    try:
        groups = await bot.call_api("get_group_list")
    except Exception as e:  # an implementation that cannot tell: not trusted with the post
        logger.info(f"get_group_list on {bot.self_id} failed: {e!r}")
        return False
    return any(str(g.get("group_id")) == str(group_id) for g in groups or [])


def _kind(bot: Bot) -> str:
    if isinstance(bot, v12.Bot):
        return "OneBot V12"
    if isinstance(bot, v11.Bot):
        return "OneBot V11"
    return bot.adapter.get_name()


async def send_group(binding: GroupBinding, parts: list[Part]) -> None:
    bot = await pick_bot(binding)
    message = to_message(bot, await with_uploads(bot, parts))
    if isinstance(bot, v12.Bot):
        await bot.send_message(detail_type="group", group_id=binding.group_id, message=message)
    else:
        await bot.call_api("send_group_msg", group_id=int(binding.group_id), message=message)


async def send_private(binding: GroupBinding, user_id: str, parts: list[Part]) -> None:
    bot = await pick_bot(binding)
    message = to_message(bot, await with_uploads(bot, parts))
    if isinstance(bot, v12.Bot):
        await bot.send_message(detail_type="private", user_id=user_id, message=message)
    else:
        await bot.call_api("send_private_msg", user_id=int(user_id), message=message)


async def upload_group_file(binding: GroupBinding, name: str, data: bytes) -> bool:
    """Upload a file to the group (OneBot v11 `upload_group_file`); False where unsupported."""
    bot = await pick_bot(binding)
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
