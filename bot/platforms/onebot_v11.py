"""OneBot v11 (NapCat, LuckyLilliaBot, go-cqhttp): users are QQ numbers, platform `qq`."""

from __future__ import annotations

import base64
from typing import Any

from nonebot import logger
from nonebot.adapters import Bot, Event, Message
from nonebot.adapters.onebot import v11

from . import Caps, Facts, MemberInfo, Platform, Quoted, register

QQ = "qq"


class OneBotV11(Platform):
    adapter = "OneBot V11"
    adapter_type = v11.Adapter
    caps = Caps(numeric_ids=True, group_files=True)

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        return QQ

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        if not isinstance(event, v11.MessageEvent):
            return None
        sender = event.sender
        return Facts(
            platform=QQ,
            adapter=self.adapter,
            user_id=str(event.user_id),
            group_id=str(event.group_id) if isinstance(event, v11.GroupMessageEvent) else None,
            message_id=str(event.message_id),
            sender_name=sender.card or sender.nickname or str(event.user_id),
            sender_role=sender.role,
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        """SPEC §3 targets: a quoted message names its sender only when it is a message of
        this same group. Implementations answer `get_msg` with its `message_type` (and,
        NapCat and go-cqhttp, its `group_id`); a reply segment can name any message id, so
        one from another group or a private chat names no one. A reply the adapter could
        not fetch stays a `reply` segment: its id alone."""
        reply = getattr(event, "reply", None)
        if reply is None:
            for seg in event.get_message():
                if seg.type == "reply" and seg.data.get("id") is not None:
                    return Quoted(str(seg.data["id"]), None)
            return None
        if group_id is not None:
            if reply.message_type != "group":
                return None
            quoted_group = getattr(reply, "group_id", None)
            if quoted_group is not None and str(quoted_group) != group_id:
                return None
        return Quoted(
            str(reply.message_id),
            str(reply.sender.user_id) if reply.sender.user_id is not None else None,
            reply.message.extract_plain_text(),
        )

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        extra = {"no_cache": True} if fresh else {}
        try:
            info = await bot.call_api(
                "get_group_member_info", group_id=int(group_id), user_id=int(user_id), **extra
            )
        except Exception as e:  # not in the group, or the implementation does not answer
            logger.info(f"get_group_member_info({group_id}, {user_id}) failed: {e!r}")
            return None
        if not isinstance(info, dict):
            return None
        role = info.get("role")
        return MemberInfo(
            str(info.get("card") or info.get("nickname") or ""),
            role if isinstance(role, str) else None,
        )

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        try:
            groups = await bot.call_api("get_group_list")
        except Exception as e:  # an implementation that cannot tell: not trusted with posts
            logger.info(f"get_group_list on {bot.self_id} failed: {e!r}")
            return False
        return any(str(g.get("group_id")) == str(group_id) for g in groups or [])

    async def send_group(self, bot: Bot, group_id: str, message: Message) -> None:
        await bot.call_api("send_group_msg", group_id=int(group_id), message=message)

    async def send_private(
        self, bot: Bot, user_id: str, message: Message, via_group: str | None = None
    ) -> None:
        """Someone who is not the bot's friend is reached through a temporary session of
        `via_group` (`send_private_msg` with `group_id`), where the client supports it."""
        try:
            await bot.call_api("send_private_msg", user_id=int(user_id), message=message)
        except Exception:
            if via_group is None:
                raise
            await bot.call_api(
                "send_private_msg", user_id=int(user_id), group_id=int(via_group), message=message
            )

    async def upload_group_file(self, bot: Bot, group_id: str, name: str, data: bytes) -> bool:
        await bot.call_api(
            "upload_group_file",
            group_id=int(group_id),
            file="base64://" + base64.b64encode(data).decode(),
            name=name,
        )
        return True


def webhook_keys() -> tuple[str | None, str | None]:
    """The access token and the HTTP signature secret, as the adapter reads them
    (`ONEBOT_ACCESS_TOKEN` or `ONEBOT_V11_ACCESS_TOKEN`, `ONEBOT_SECRET`), for `bot.doors`."""
    from nonebot import get_plugin_config
    from nonebot.adapters.onebot.v11.config import Config

    config = get_plugin_config(Config)
    return config.onebot_access_token or None, config.onebot_secret or None


def auth_bearer(value: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (or `Token <token>`) as OneBot reads it."""
    from nonebot.adapters.onebot.utils import get_auth_bearer

    return get_auth_bearer(value) or None


def _factory(config: Any) -> type[v11.Adapter] | None:
    return v11.Adapter  # always: reverse WebSocket and HTTP need no key to be served


register(OneBotV11(), _factory)
