"""Sending outside a command's reply: to a bound group or to a person, on any platform.

The bot account that serves the group (the one that received `/绑定`) sends when it is
connected to this process. Otherwise another connected account of the same platform (the
same adapter, or one whose users are the same people: OneBot v11 and Milky are both `qq`)
sends, but only one that says it is in the group (`Platform.in_group`); with none, nothing
is sent and the caller keeps the message pending (SPEC §5 scale-out). How a message is sent
(uniseg `Target`, or the platform's own call) is the platform glue's (`bot.platforms`).
"""

from __future__ import annotations

import nonebot
from nonebot.adapters import Bot

from models.tables import GroupBinding

from .platforms import Platform, adapter_name, of_bot
from .replies import Part, deliver


class NoBotOnline(Exception):
    """No connected bot can reach this group yet."""


class CannotSend(Exception):
    """The platform cannot do this at all (`bot.platforms.Caps`): say so, do not retry."""


async def pick_bot(binding: GroupBinding) -> Bot:
    bots = nonebot.get_bots()
    serving = bots.get(binding.self_id or "")
    if serving is not None and _reaches(serving, binding):
        return serving
    for bot in bots.values():
        platform = of_bot(bot)
        if platform is None or not _reaches(bot, binding):
            continue
        if await platform.in_group(bot, binding.group_id):
            return bot
    raise NoBotOnline(f"没有在群 {binding.group_id} 里的在线机器人账号")


def _reaches(bot: Bot, binding: GroupBinding) -> bool:
    """The account speaks for the binding's platform: the same adapter, or another whose
    users are the same people (a QQ group bound over OneBot v11 is served over Milky once
    the team moves from NapCat to Lagrange; `Platform.identity`)."""
    if adapter_name(bot) == binding.adapter:
        return True
    platform = of_bot(bot)
    return platform is not None and platform.bot_identity(bot) == binding.platform


def _platform(bot: Bot) -> Platform:
    platform = of_bot(bot)
    if platform is None:
        raise CannotSend(f"不支持的平台 {bot.adapter.get_name()}")
    return platform


async def send_group(binding: GroupBinding, parts: list[Part]) -> None:
    """A message to the group that answers no one's message (the monthly post, a
    reminder). Raises `CannotSend` where the platform allows no such send: the caller keeps
    the post held and tells the superusers, as for any refused send."""
    bot = await pick_bot(binding)
    platform = _platform(bot)
    if not platform.caps.proactive:
        raise CannotSend(f"{platform.adapter} 不允许机器人主动发群消息")
    await deliver(bot, parts, lambda m: platform.send_group(bot, binding.group_id, m))


async def send_private(binding: GroupBinding, user_id: str, parts: list[Part]) -> None:
    bot = await pick_bot(binding)
    await send_direct(bot, user_id, parts)


async def upload_group_file(binding: GroupBinding, name: str, data: bytes) -> bool:
    """Put a file in the group; False where the platform has no group files."""
    bot = await pick_bot(binding)
    platform = _platform(bot)
    if not platform.caps.group_files:
        return False
    return await platform.upload_group_file(bot, binding.group_id, name, data)


async def send_direct(
    bot: Bot, user_id: str, parts: list[Part], via_group: str | None = None
) -> None:
    """A private message to a person; raises when it cannot be sent (`CannotSend` where
    the platform has no private messages to group members at all). On QQ over OneBot v11,
    someone who is not the bot's friend is reached through a temporary session of
    `via_group`, where the client supports it; over Milky only friends are reached."""
    platform = _platform(bot)
    if not platform.caps.private_to_member:
        raise CannotSend(f"{platform.adapter} 上机器人不能私聊群成员")
    await deliver(bot, parts, lambda m: platform.send_private(bot, user_id, m, via_group))
