"""Milky (Lagrange V2, LuckyLilliaBot): users are QQ numbers, so the platform is `qq`, the
same people as over OneBot v11 (a team moving from NapCat to Lagrange keeps its members).

What the protocol gives (nonebot-adapter-milky, checked against its code): a message event
carries the sender's `group_member` (card, nickname, role) and the group; mentions arrive
as `mention` segments with the user id (and name); a reply is fetched by the adapter with
`get_message` in the same chat (`event.reply`), so a quoted message is always of this chat.
Private messages go to friends only: to anyone else `send_private_message` fails, and the
bot says so in the group instead (`Caps.private_needs_friend`). Group files exist
(`upload_group_file`). Configured by `MILKY_CLIENTS` (the adapter connects to the protocol
side's `/event` WebSocket and calls its `/api/<action>` over HTTP: it needs the `~httpx`
driver, without which it ignores its clients silently).
"""

from __future__ import annotations

from typing import Any

from nonebot import logger
from nonebot.adapters import Bot, Event
from nonebot.adapters.milky import Adapter
from nonebot.adapters.milky import event as mevent
from nonebot.drivers import Driver

from . import Caps, Facts, MemberInfo, Platform, Quoted, keep_alive, register

QQ = "qq"


class Milky(Platform):
    adapter = "Milky"
    adapter_type = Adapter
    caps = Caps(numeric_ids=True, private_needs_friend=True, group_files=True)

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        return QQ

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        if not isinstance(event, mevent.MessageEvent):
            return None
        data = event.data
        group = data.message_scene == "group"
        member = data.group_member
        if group and member is not None:
            name, role = member.card or member.nickname, member.role
        else:
            name = data.friend.nickname if data.friend is not None else ""
            role = None
        return Facts(
            platform=QQ,
            adapter=self.adapter,
            user_id=str(data.sender_id),
            group_id=str(data.peer_id) if group else None,
            message_id=str(data.message_seq),
            sender_name=name or str(data.sender_id),
            sender_role=role,
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        reply = getattr(event, "reply", None)
        if reply is not None:
            return Quoted(
                str(reply.message_seq), str(reply.sender_id), reply.message.extract_plain_text()
            )
        for seg in event.get_message():  # the adapter could not fetch it: the id alone
            if seg.type == "reply" and seg.data.get("message_seq") is not None:
                return Quoted(str(seg.data["message_seq"]), None)
        return None

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        try:
            info = await bot.call_api(
                "get_group_member_info",
                group_id=int(group_id),
                user_id=int(user_id),
                no_cache=fresh,
            )
        except Exception as e:
            logger.info(f"get_group_member_info({group_id}, {user_id}) failed: {e!r}")
            return None
        return MemberInfo(info.card or info.nickname or "", info.role)

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        try:
            groups = await bot.call_api("get_group_list")
        except Exception as e:
            logger.info(f"get_group_list on {bot.self_id} failed: {e!r}")
            return False
        return any(str(g.group_id) == str(group_id) for g in groups or [])

    async def upload_group_file(self, bot: Bot, group_id: str, name: str, data: bytes) -> bool:
        await bot.call_api("upload_group_file", group_id=int(group_id), raw=data, file_name=name)
        return True

    def setup(self, driver: Driver) -> None:
        keep_alive(driver, Adapter)  # the API calls over one kept-alive HTTP session


def _factory(config: Any) -> type[Adapter] | None:
    """Registered for `MILKY_CLIENTS` (the bot connects out: nothing listens). A
    `MILKY_WEBHOOK` (the protocol side posts events to `/milky/`) must carry an
    `access_token`: without one anyone who reaches the port could post events as anyone."""
    webhook = getattr(config, "milky_webhook", None)
    if webhook:
        token = webhook.get("access_token") if isinstance(webhook, dict) else None
        if not token:
            from ..doors import ExposureError

            raise ExposureError(
                "MILKY_WEBHOOK",
                "Milky 的 HTTP 上报必须设置 access_token，否则谁都能冒充任何人发消息",
                "a Milky webhook needs an access_token, or anyone can post events as anyone",
            )
    return Adapter if getattr(config, "milky_clients", None) or webhook else None


register(Milky(), _factory)
