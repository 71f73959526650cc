"""The robot: replies on the callback's req_id while it is fresh, otherwise proactive sends.

Platform rules this follows (wecom_aibot_sdk; the platform's documentation):
- a reply (`aibot_respond_msg`) echoes the message callback's `req_id`; text goes as a
  finished `stream` (markdown, at most 20480 bytes), a picture as media uploaded first;
- a proactive send (`aibot_send_msg`) to a group chatid or a userid takes markdown (at most
  4096 bytes), template cards or media (image, file…), never `text`;
- a refused frame raises `ActionFailed` (errcode, errmsg); a frame without an answer
  (disconnected, ack timeout) raises `NetworkError`.
A reply the platform refuses (its req_id expired or unknown) is sent again proactively.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nonebot import logger
from nonebot.adapters import Bot as BaseBot
from nonebot.message import handle_event
from typing_extensions import override
from wecom_aibot_sdk import WSClient, generate_req_id

from .config import BotInfo
from .event import Event, MessageEvent
from .exception import ActionFailed
from .message import Message, MessageSegment, image_suffix

if TYPE_CHECKING:
    from .adapter import Adapter

REPLY_MAX_BYTES = 20480
MARKDOWN_MAX_BYTES = 4096


def split_utf8(text: str, limit: int) -> list[str]:
    """`text` cut into pieces of at most `limit` UTF-8 bytes, at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.splitlines(keepends=True):
        while len(line.encode()) > limit:  # one line longer than a piece: cut it by bytes
            cut = line.encode()[:limit].decode(errors="ignore")
            if current:
                pieces.append(current)
                current = ""
            pieces.append(cut)
            line = line[len(cut) :]
        if len((current + line).encode()) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current or not pieces:
        pieces.append(current)
    return [p.rstrip("\n") if p.endswith("\n") and len(pieces) > 1 else p for p in pieces]


def _parts(message: Message) -> list[MessageSegment | str]:
    """Consecutive text and markdown joined into one string; other segments as they are."""
    parts: list[MessageSegment | str] = []
    for seg in message:
        if seg.type in ("text", "markdown"):
            text = seg.data["text"] if seg.type == "text" else seg.data["content"]
            if parts and isinstance(parts[-1], str):
                parts[-1] += text
            else:
                parts.append(text)
        else:
            parts.append(seg)
    return [p for p in parts if not (isinstance(p, str) and not p)]


class Bot(BaseBot):
    adapter: Adapter

    @override
    def __init__(self, adapter: Adapter, self_id: str, info: BotInfo, client: WSClient):
        super().__init__(adapter, self_id)
        self.info = info
        self.client = client

    async def handle_event(self, event: Event) -> None:
        await handle_event(self, event)

    @override
    async def send(
        self, event: Event, message: str | Message | MessageSegment, **kwargs: Any
    ) -> list[dict[str, Any]]:
        """Answer a message: on its req_id while fresh (`WECOM_REPLY_WINDOW`), else
        proactively to its chat (the group, or the sender in a private chat)."""
        if not isinstance(event, MessageEvent):
            raise TypeError("WeCom: only a message event can be answered")
        age = (datetime.now(timezone.utc) - event.time).total_seconds()
        fresh = age < self.adapter.wecom_config.wecom_reply_window
        return await self._deliver(Message(message), event.chat_id, event.req_id if fresh else None)

    async def send_to(self, chat_id: str, message: str | Message | MessageSegment) -> list[dict]:
        """Send proactively to a group chatid or a userid."""
        return await self._deliver(Message(message), chat_id, None)

    async def send_markdown(self, chat_id: str, content: str) -> list[dict]:
        return await self.send_to(chat_id, MessageSegment.markdown(content))

    async def send_image(
        self, chat_id: str, raw: bytes | None = None, *, path: str | Path | None = None
    ) -> list[dict]:
        return await self.send_to(chat_id, MessageSegment.image(raw, path=path))

    async def upload_image(self, raw: bytes, name: str | None = None) -> str:
        """Upload a picture as temporary media; its media_id."""
        return await self.upload(raw, "image", name)

    async def upload(self, raw: bytes, kind: str = "file", name: str | None = None) -> str:
        """Upload temporary media (`kind`: image, file, voice, video); its media_id."""
        if name is None:
            suffix = image_suffix(raw) if kind == "image" else "bin"
            name = f"{hashlib.md5(raw).hexdigest()[:12]}.{suffix}"
        result = await self.call_api("upload_media", data=raw, type=kind, filename=name)
        return result["media_id"]

    async def download(self, url: str, aeskey: str | None) -> bytes:
        """A received file's decrypted bytes (`download_file(url, aeskey)`)."""
        result = await self.call_api("download_file", url=url, aeskey=aeskey)
        return result["buffer"]

    async def _media_id(self, seg: MessageSegment) -> str:
        if seg.data.get("media_id"):
            return seg.data["media_id"]
        raw = seg.data.get("raw")
        if raw is None and seg.data.get("path"):
            raw = await asyncio.to_thread(Path(seg.data["path"]).read_bytes)
        if not raw:
            raise ValueError(f"WeCom: a {seg.type} to send has no bytes")
        return await self.upload(raw, seg.type, seg.data.get("name"))

    async def _deliver(self, message: Message, chat_id: str, req_id: str | None) -> list[dict]:
        acks: list[dict] = []
        for part in _parts(message):
            if isinstance(part, str):
                limit = REPLY_MAX_BYTES if req_id else MARKDOWN_MAX_BYTES
                bodies = [("markdown", piece) for piece in split_utf8(part, limit)]
            elif part.type in ("image", "file"):
                bodies = [(part.type, await self._media_id(part))]
            elif part.type == "template_card":
                bodies = [("template_card", part.data["card"])]
            else:
                raise ValueError(f"WeCom: cannot send a {part.type!r} segment")
            for kind, value in bodies:
                if req_id:
                    try:
                        acks.append(await self._reply(req_id, kind, value))
                        continue
                    except ActionFailed as e:
                        logger.warning(f"WeCom {self.self_id}: reply refused ({e}), sent instead")
                        req_id = None
                acks.append(await self._push(chat_id, kind, value))
        return acks

    async def _reply(self, req_id: str, kind: str, value: Any) -> dict:
        if kind == "markdown":
            body = {
                "msgtype": "stream",
                "stream": {"id": generate_req_id("stream"), "finish": True, "content": value},
            }
        elif kind in ("image", "file"):
            body = {"msgtype": kind, kind: {"media_id": value}}
        else:
            body = {"msgtype": "template_card", "template_card": value}
        return await self.call_api("reply", req_id=req_id, body=body)

    async def _push(self, chat_id: str, kind: str, value: Any) -> dict:
        if kind == "markdown":
            pieces = split_utf8(value, MARKDOWN_MAX_BYTES)
            ack: dict = {}
            for piece in pieces:
                body = {"msgtype": "markdown", "markdown": {"content": piece}}
                ack = await self.call_api("send_message", chatid=chat_id, body=body)
            return ack
        if kind in ("image", "file"):
            body = {"msgtype": kind, kind: {"media_id": value}}
        else:
            body = {"msgtype": "template_card", "template_card": value}
        return await self.call_api("send_message", chatid=chat_id, body=body)
