"""OneBot v12 gateways: platform `v12.<declared>` (`bot.identity.v12_platform`): what an
implementation declares never makes its user the QQ user of the same id. Events carry no
group card; names come from `get_group_member_info`. Pictures are uploaded first
(`upload_file`, uniseg does it) and sent by `file_id`."""

from __future__ import annotations

from typing import Any

from nonebot import logger
from nonebot.adapters import Bot, Event
from nonebot.adapters.onebot import v12

from ..identity import v12_platform
from . import Caps, Facts, MemberInfo, Platform, Quoted, register


class OneBotV12(Platform):
    adapter = "OneBot V12"
    adapter_type = v12.Adapter
    caps = Caps(numeric_ids=False, names_in_events=False)

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        if event is not None and isinstance(event, v12.Event) and hasattr(event, "self"):
            return v12_platform(event.self.platform)  # type: ignore[attr-defined]
        return v12_platform(getattr(bot, "platform", ""))

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        if not isinstance(event, v12.GroupMessageEvent | v12.PrivateMessageEvent):
            return None
        name = getattr(event, "user_name", None) or getattr(event, "nickname", None)
        return Facts(
            platform=v12_platform(event.self.platform),
            adapter=self.adapter,
            user_id=str(event.user_id),
            group_id=str(event.group_id) if isinstance(event, v12.GroupMessageEvent) else None,
            message_id=str(event.message_id),
            sender_name=str(name or event.user_id),
            sender_role=getattr(event, "role", None),
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        """v12 replies carry no chat: the sender must be on the team or in the group
        (`bot.targets`)."""
        reply = getattr(event, "reply", None)
        if reply is None:
            return None
        user_id = getattr(reply, "user_id", None)
        return Quoted(str(reply.message_id), str(user_id) if user_id else None)

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        try:
            info = await bot.call_api("get_group_member_info", group_id=group_id, user_id=user_id)
        except Exception as e:
            logger.info(f"get_group_member_info({group_id}, {user_id}) failed: {e!r}")
            return None
        if not isinstance(info, dict):
            return None
        platform = getattr(bot, "platform", "")
        role = info.get("role") or info.get(f"{platform}.role")
        return MemberInfo(
            str(info.get("user_displayname") or info.get("user_name") or ""),
            role if isinstance(role, str) else None,
        )

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        try:
            groups = await bot.call_api("get_group_list")
        except Exception as e:
            logger.info(f"get_group_list on {bot.self_id} failed: {e!r}")
            return False
        return any(str(g.get("group_id")) == str(group_id) for g in groups or [])


def webhook_token() -> str | None:
    """The v12 access token as the adapter reads it, for `bot.doors`."""
    from nonebot import get_plugin_config
    from nonebot.adapters.onebot.v12.config import Config

    return get_plugin_config(Config).onebot_access_token or None


def _factory(config: Any) -> type[v12.Adapter] | None:
    return v12.Adapter


register(OneBotV12(), _factory)
