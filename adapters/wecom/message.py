"""Messages of the WeCom intelligent robot.

Incoming: `text` and `image` segments. A picture arrives AES-encrypted behind a URL that is
valid a few minutes; the adapter downloads and decrypts it before the event is handled, so
an `image` segment carries the picture itself: `raw` (bytes) and `name` (a file name with
the suffix of its format), plus `media_url` / `aeskey` where it came from. When the download
failed, `raw` is None and `error` says why.

Outgoing: `text` and `markdown` are sent as markdown (the platform sends no plain `text`
proactively), `image` and `file` are uploaded (`raw` bytes or a `path`) then sent as media,
or sent by a `media_id` already uploaded; `template_card` is passed through as given.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nonebot.adapters import Message as BaseMessage
from nonebot.adapters import MessageSegment as BaseMessageSegment
from typing_extensions import Self, override

_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)


def image_suffix(data: bytes) -> str:
    """The usual suffix of a picture's format, from its first bytes ("png" when unknown)."""
    for magic, suffix in _IMAGE_MAGIC:
        if data.startswith(magic):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "png"


class MessageSegment(BaseMessageSegment["Message"]):
    @classmethod
    @override
    def get_message_class(cls) -> type[Message]:
        return Message

    @override
    def __str__(self) -> str:
        if self.type in ("text", "markdown"):
            return self.data["text"] if self.type == "text" else self.data["content"]
        if self.type in ("image", "file"):
            return f"[{self.type}:{self.data.get('name') or self.data.get('media_id') or ''}]"
        return f"[{self.type}]"

    @override
    def is_text(self) -> bool:
        return self.type == "text"

    @classmethod
    def text(cls, text: str) -> Self:
        return cls("text", {"text": text})

    @classmethod
    def markdown(cls, content: str) -> Self:
        return cls("markdown", {"content": content})

    @classmethod
    def image(
        cls,
        raw: bytes | None = None,
        *,
        path: str | Path | None = None,
        media_id: str | None = None,
        name: str | None = None,
    ) -> Self:
        """A picture to send: its bytes, a local file, or a `media_id` already uploaded."""
        if raw is None and path is None and media_id is None:
            raise ValueError("image needs raw bytes, a path or a media_id")
        return cls(
            "image",
            {
                "raw": raw,
                "path": str(path) if path is not None else None,
                "media_id": media_id,
                "name": name,
            },
        )

    @classmethod
    def file(
        cls,
        raw: bytes | None = None,
        *,
        path: str | Path | None = None,
        media_id: str | None = None,
        name: str | None = None,
    ) -> Self:
        """A file to send (the platform shows `name`): bytes, a local file or a media_id."""
        if raw is None and path is None and media_id is None:
            raise ValueError("file needs raw bytes, a path or a media_id")
        if name is None and path is not None:
            name = Path(path).name
        return cls(
            "file",
            {
                "raw": raw,
                "path": str(path) if path is not None else None,
                "media_id": media_id,
                "name": name or "file.bin",
            },
        )

    @classmethod
    def received_image(
        cls,
        raw: bytes | None,
        *,
        media_url: str,
        aeskey: str | None,
        error: str | None = None,
    ) -> Self:
        """A picture that arrived: decrypted bytes, or None and why not."""
        name = f"image.{image_suffix(raw)}" if raw else None
        return cls(
            "image",
            {
                "raw": raw,
                "name": name,
                "media_url": media_url,
                "aeskey": aeskey,
                "error": error,
            },
        )

    @classmethod
    def template_card(cls, card: dict[str, Any]) -> Self:
        return cls("template_card", {"card": card})


class Message(BaseMessage[MessageSegment]):
    @classmethod
    @override
    def get_segment_class(cls) -> type[MessageSegment]:
        return MessageSegment

    @staticmethod
    @override
    def _construct(msg: str) -> Iterable[MessageSegment]:
        yield MessageSegment.text(msg)

    @override
    def extract_plain_text(self) -> str:
        return "".join(seg.data["text"] for seg in self if seg.is_text())
