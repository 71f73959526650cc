"""WeCom intelligent robot (企业微信智能机器人, `adapters.wecom` on `wecom-aibot-sdk`).

What the platform gives (the SDK's code and the platform's documentation):
- users are WeCom userids, unique within one corp: the platform string is `wecom`, or
  `wecom.<corp>` for a robot whose `WECOM_BOTS` entry names its corp (two corps' "zhangsan"
  are not the same person);
- a group message reaches the robot only when it is @-ed; the adapter strips that @ and the
  event is `to_me`. There is no mention list: other "@名字" stay text, a display name the
  parser must read as a roster name. No display name and no role of the sender
  (`Facts.sender_name` is the userid), no group member lookup, no list of the robot's
  groups;
- a quoted message comes without its message id or sender: `quoted` gives None;
- private messages go by userid to anyone of the corp; proactive sends to a group (the
  monthly post, reminders) are markdown and media; the platform may refuse one (raises
  `ActionFailed`: the post is held, superusers told);
- a pasted picture arrives encrypted and is decrypted by the adapter before the event is
  handled: its uniseg `Image` carries the bytes (`raw`), with no URL to fetch;
- files (the workbook) are sent as file media.

uniseg (nonebot-plugin-alconna) has no builder or exporter for this adapter: the adapter
package has them (`adapters.wecom.uniseg`), installed by `install_uniseg` at the driver's
startup (`setup`) when `WECOM_BOTS` registers the adapter.

Configured by `WECOM_BOTS` (the adapter connects out to `WECOM_WS_URL`: nothing listens).
"""

from __future__ import annotations

from typing import Any

from nonebot.adapters import Bot, Event, Message

from adapters.wecom import Adapter, GroupMessageEvent, MessageEvent
from adapters.wecom import Bot as WeComBot
from adapters.wecom import Message as WeComMessage
from adapters.wecom import MessageSegment as WeComSegment

from . import Caps, Facts, MemberInfo, Platform, register

NAME = "WeCom"
WECOM = "wecom"


def platform_of(bot: Bot) -> str:
    corp = bot.info.corp if isinstance(bot, WeComBot) else None
    return f"{WECOM}.{corp}" if corp else WECOM


class WeCom(Platform):
    adapter = NAME
    adapter_type = Adapter
    caps = Caps(
        numeric_ids=False,
        mentions=False,
        names_in_events=False,
        private_to_member=True,
        proactive=True,
        group_files=True,
        member_lookup=False,
        private_hint="请在企业微信里打开与机器人的单聊，在单聊里发 /后台",
    )

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        return platform_of(bot)

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        if not isinstance(event, MessageEvent):
            return None
        group = isinstance(event, GroupMessageEvent)
        return Facts(
            platform=platform_of(bot),
            adapter=NAME,
            user_id=event.user_id,
            group_id=event.chat_id if group else None,
            message_id=event.message_id,
            sender_name=event.user_id,
            sender_role=None,
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        return None  # the platform has no member lookup for the robot

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        """The platform gives no list of the robot's groups: a connected robot is taken to
        be in the group, and a send to a group it is not in is refused by the platform."""
        return isinstance(bot, WeComBot) and bot.self_id in bot.adapter.bots

    async def send_group(self, bot: Bot, group_id: str, message: Message) -> None:
        assert isinstance(bot, WeComBot)
        await bot.send_to(group_id, WeComMessage(message))

    async def send_private(
        self, bot: Bot, user_id: str, message: Message, via_group: str | None = None
    ) -> None:
        assert isinstance(bot, WeComBot)
        await bot.send_to(user_id, WeComMessage(message))

    async def upload_group_file(self, bot: Bot, group_id: str, name: str, data: bytes) -> bool:
        assert isinstance(bot, WeComBot)
        await bot.send_to(group_id, WeComSegment.file(data, name=name))
        return True

    def setup(self, driver: Any) -> None:
        driver.on_startup(_install_at_startup)


def install_uniseg() -> None:
    """Let uniseg read and write WeCom messages. Only once alconna is loaded as a plugin:
    NoneBot refuses to load a plugin that a module imported before (`bot.app` loads it
    after registering the adapters, so `WeCom.setup` defers this to the driver's startup,
    which runs before the first frame can arrive)."""
    from adapters.wecom import uniseg

    uniseg.install()


async def _install_at_startup() -> None:
    install_uniseg()


def _factory(config: Any) -> type[Adapter] | None:
    """Registered for `WECOM_BOTS`."""
    return Adapter if getattr(config, "wecom_bots", None) else None


register(WeCom(), _factory)
