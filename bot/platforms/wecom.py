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

uniseg (nonebot-plugin-alconna) has no builder or exporter for this adapter: this module
adds them (`WeComBuilder`, `WeComExporter`) to uniseg's tables at import.

Configured by `WECOM_BOTS` (the adapter connects out to `WECOM_WS_URL`: nothing listens).
"""

# No `from __future__ import annotations`: uniseg's `@export` reads the `seg` annotation as
# the class it exports.
from pathlib import Path
from typing import Any

from nonebot.adapters import Bot, Event, Message
from nonebot_plugin_alconna.uniseg import At, AtAll, File, Image, Reply, Target, Text
from nonebot_plugin_alconna.uniseg.adapters import BUILDER_MAPPING, EXPORTER_MAPPING
from nonebot_plugin_alconna.uniseg.builder import MessageBuilder, build
from nonebot_plugin_alconna.uniseg.exporter import MessageExporter, SerializeFailed, export

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


class WeComBuilder(MessageBuilder):
    """Incoming: text (as is: an "@名字" in it is a display name, never an id), and pictures
    with their bytes."""

    @classmethod
    def get_adapter(cls) -> Any:
        return NAME

    @build("image")
    def image(self, seg: WeComSegment) -> Image:
        raw = seg.data.get("raw")
        if not raw:
            return Image()  # the download failed: a picture without content
        return Image(raw=raw, name=seg.data.get("name") or "image.png")


class WeComExporter(MessageExporter[WeComMessage]):
    @classmethod
    def get_adapter(cls) -> Any:
        return NAME

    def get_message_type(self) -> type[WeComMessage]:
        return WeComMessage

    def get_message_id(self, event: Event) -> str:
        assert isinstance(event, MessageEvent)
        return event.message_id

    def get_target(self, event: Event, bot: Bot | None = None) -> Target:
        assert isinstance(event, MessageEvent)
        return Target(
            event.chat_id,
            private=not isinstance(event, GroupMessageEvent),
            adapter=NAME,
            self_id=bot.self_id if bot else None,
        )

    @export
    async def text(self, seg: Text, bot: Bot | None) -> WeComSegment:
        return WeComSegment.text(seg.text)

    @export
    async def at(self, seg: At, bot: Bot | None) -> WeComSegment:
        return WeComSegment.text(f"@{seg.display or seg.target}")  # no mentions: a name

    @export
    async def at_all(self, seg: AtAll, bot: Bot | None) -> WeComSegment:
        return WeComSegment.text("@所有人")

    @export
    async def image(self, seg: Image, bot: Bot | None) -> WeComSegment:
        if seg.raw:
            return WeComSegment.image(seg.raw_bytes, name=seg.name)
        if seg.path:
            return WeComSegment.image(path=Path(seg.path))
        if seg.id:
            return WeComSegment.image(media_id=seg.id)
        raise SerializeFailed(f"WeCom: a picture needs its bytes, a file or a media_id: {seg!r}")

    @export
    async def file(self, seg: File, bot: Bot | None) -> WeComSegment:
        name = seg.name if seg.name != seg.__default_name__ else None
        if seg.raw:
            return WeComSegment.file(seg.raw_bytes, name=name)
        if seg.path:
            return WeComSegment.file(path=Path(seg.path), name=name)
        if seg.id:
            return WeComSegment.file(media_id=seg.id, name=name)
        raise SerializeFailed(f"WeCom: a file needs its bytes, a path or a media_id: {seg!r}")

    @export
    async def reply(self, seg: Reply, bot: Bot | None) -> list[WeComSegment]:
        return []  # a reply is sent on the message's req_id; there is no quote segment

    async def send_to(self, target: Target | Event, bot: Bot, message: Message, **kwargs: Any):
        assert isinstance(bot, WeComBot)
        if isinstance(target, Event):
            return await bot.send(target, WeComMessage(message))
        return await bot.send_to(target.id, WeComMessage(message))


BUILDER_MAPPING.setdefault(NAME, WeComBuilder())
EXPORTER_MAPPING.setdefault(NAME, WeComExporter())


def _factory(config: Any) -> type[Adapter] | None:
    """Registered for `WECOM_BOTS`."""
    return Adapter if getattr(config, "wecom_bots", None) else None


register(WeCom(), _factory)
