"""uniseg (nonebot-plugin-alconna) for the WeCom adapter: how its messages read as
`UniMessage` and how a `UniMessage` is sent through it. uniseg has no table entry for this
adapter: `install()` adds one (import this module only once alconna is loaded as a plugin).

In: text as it is (an "@名字" in it is a display name, never an id: there is no mention
list), a picture as an `Image` with its decrypted bytes (an empty `Image` when its download
failed). Out: text, an @ as the "@name" text, pictures and files by bytes, path or media_id;
a reply is sent on the message's req_id (there is no quote segment).
"""

# No `from __future__ import annotations`: uniseg's `@export` reads the `seg` annotation as
# the class it exports.
from pathlib import Path
from typing import Any

from nonebot.adapters import Bot, Event, Message
from nonebot_plugin_alconna.uniseg.builder import MessageBuilder, build
from nonebot_plugin_alconna.uniseg.exporter import MessageExporter, SerializeFailed, export
from nonebot_plugin_alconna.uniseg.segment import At, AtAll, File, Image, Reply, Text
from nonebot_plugin_alconna.uniseg.target import Target

from .bot import Bot as WeComBot
from .event import GroupMessageEvent, MessageEvent
from .message import Message as WeComMessage
from .message import MessageSegment as WeComSegment

NAME = "WeCom"


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


def install() -> None:
    """Add the builder and the exporter to uniseg's tables (again: no change)."""
    from nonebot_plugin_alconna.uniseg.adapters import BUILDER_MAPPING, EXPORTER_MAPPING

    BUILDER_MAPPING.setdefault(NAME, WeComBuilder())
    EXPORTER_MAPPING.setdefault(NAME, WeComExporter())
