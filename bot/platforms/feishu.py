"""Feishu (`nonebot-adapter-feishu`, configured by `FEISHU_BOTS`, webhook or long
connection): a self-built app's bot in the company's chats.

What the platform gives (checked against the adapter's code and the platform's
documentation; `tools/feishu_sim.py` plays it in the tests):

- Users are `open_id`s, per app, so the stored platform is `feishu.<app_id>` (`identity`).
- A bot gets the group messages that @ it (all of them only with the
  `im:message.group_msg` scope). Mentions come as a list (key `@_user_1`, open_id, name);
  the adapter turns a text message's `@_user_n` into `at` segments with the open_id.
- Text with a picture arrives as ONE `post` segment (lines of `at` / `text` / `a` / `img`
  nodes) that no command matcher reads: `flatten` rewrites it, before any matcher runs,
  into the adapter's own text, `at` and `image` segments in order (the bot's leading @
  dropped, links as their URL), so `/朋友圈 <picture>` is a command with its evidence.
- Senders carry ids only: names come from the contact API (`contact/v3/users/{open_id}`),
  else the chat's member list, else a mention's name; the chat owner from chat info
  (`im/v1/chats/{chat_id}`): the owner is "owner", everyone else "member" (Feishu has no
  admin role in a message). Both cached briefly (`NAME_TTL`, `OWNER_TTL`).
- A pasted picture comes as its `image_key` only: the bytes are the message resource API's
  (`GET im/v1/messages/{message_id}/resources/{image_key}?type=image`, with the tenant
  token; the bot must be in the chat of the message). `note_pictures` remembers, for each
  picture of a message as it arrives, that address; a command's uniseg `Image` carries it
  as its `url` (`convert`), so the entry keeps it as `image_url`, and `bot.evidence` has
  the bytes fetched here (`picture`, only for an address noted here: no one can make the
  bot fetch another chat's resource) and kept like any evidence picture (the reused
  screenshot check included).
- Pictures go up with `im/v1/images` and out by `image_key` (uniseg's exporter does it);
  files with `im/v1/files` (the workbook in the chat). The bot may write to a group it is
  in, and privately to anyone in the app's availability, without a message to answer.
- A refused call answers HTTP 400 with a code (230002: the bot is not in the chat, 230013:
  the user is outside the app's availability); the adapter raises it as a NetworkError,
  which `send_*` turn into `ActionFailed` (refused, not "maybe sent"). Someone the bot
  cannot reach privately is told to open a single chat with it (`Caps.private_hint`).
- The adapter's calls go over one kept-alive HTTP session (`keep_alive`; the adapter's
  `send_request` otherwise opens a client and a connection per call).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import nonebot
from nonebot import logger
from nonebot.adapters import Bot, Event
from nonebot.adapters.feishu import Adapter
from nonebot.adapters.feishu.event import GroupMessageEvent, MessageEvent, PrivateMessageEvent
from nonebot.adapters.feishu.exception import ActionFailed, NetworkError
from nonebot.adapters.feishu.message import Message, MessageSegment
from nonebot.message import event_preprocessor

from . import Bounded, Caps, Facts, MemberInfo, Platform, Quoted, keep_alive, register

PLATFORM = "feishu"
NAME_TTL = 600.0
OWNER_TTL = 30.0
MEMBER_PAGES = 50  # chat members are listed 100 a page: up to 5,000 looked through
PICTURES_KEPT = 5_000  # pictures of recent messages whose address the bot remembers


def flatten(bot: Any, event: MessageEvent) -> Message:
    """The event's message with every `post` segment spelled out as text, @ and pictures,
    the bot's own leading @ dropped (see the module docstring)."""
    message = event.get_message()
    if not any(seg.type == "post" for seg in message):
        return message
    keys = {m.key: m.id.open_id for m in event.event.message.mentions or []}
    out = Message()
    for seg in message:
        if seg.type != "post":
            out.append(seg)
            continue
        if seg.data.get("title"):
            out.append(MessageSegment.text(str(seg.data["title"]) + "\n"))
        for n, line in enumerate(seg.data.get("content") or []):
            if n:
                out.append(MessageSegment.text("\n"))
            for node in line:
                tag = node.get("tag")
                if tag == "text":
                    out.append(MessageSegment.text(str(node.get("text", ""))))
                elif tag == "a":
                    href, text = str(node.get("href", "")), str(node.get("text", ""))
                    out.append(
                        MessageSegment.text(href if text in ("", href) else f"{text} {href}")
                    )
                elif tag == "at":
                    uid = str(node.get("user_id", ""))
                    out.append(MessageSegment.at(keys.get(uid, uid)))
                elif tag == "img" and node.get("image_key"):
                    out.append(MessageSegment.image(str(node["image_key"])))
    own = getattr(getattr(bot, "bot_info", None), "open_id", None)
    while out and out[0].type == "text" and not str(out[0].data["text"]).strip():
        out.pop(0)
    if out and out[0].type == "at" and out[0].data.get("user_id") == own:
        out.pop(0)
        event.to_me = True
    if out and out[0].type == "text":
        out[0].data["text"] = str(out[0].data["text"]).lstrip()
    merged = Message()
    for seg in out:  # neighbouring text as one segment (a command's words read as typed)
        if seg.type == "text" and merged and merged[-1].type == "text":
            merged[-1].data["text"] += seg.data["text"]
        else:
            merged.append(seg)
    return merged or Message(MessageSegment.text(""))


async def _flatten_posts(bot: Bot, event: Event) -> None:
    if isinstance(event, MessageEvent):
        event._message = flatten(bot, event)  # type: ignore[attr-defined]
        FEISHU.note_pictures(bot, event)
        FEISHU._remember(bot, event)  # before a command reads its @s (`convert`)


_flattening: list[bool] = []  # module state: the preprocessor is registered once per process


def _flatten_from_now() -> None:
    """Register `_flatten_posts` as NoneBot's event preprocessor — only once Feishu is set
    up: NoneBot runs every preprocessor for every event of every platform (its parameters
    checked and solved in tasks of their own), a cost the other platforms need not pay."""
    if not _flattening:
        event_preprocessor(_flatten_posts)
        _flattening.append(True)


def resource_api(message_id: str, image_key: str) -> str:
    """The message resource API's path of a picture in a message."""
    return f"im/v1/messages/{message_id}/resources/{image_key}"


class Feishu(Platform):
    adapter = "Feishu"
    adapter_type = Adapter
    caps = Caps(
        numeric_ids=False,
        names_in_events=False,
        group_files=True,
        private_hint="请在飞书里打开与机器人的单聊，在单聊里发 /后台"
        "（搜不到机器人时，请管理员把你加进应用的可用范围）",
    )

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._owners: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._urls = Bounded(PICTURES_KEPT)  # (app, image_key) → its address
        self._pictures = Bounded(PICTURES_KEPT)  # address → (app, message_id, image_key)

    def note_pictures(self, bot: Bot, event: MessageEvent) -> None:
        """Remember where each picture of the message is fetched (see the module docstring)."""
        app, message_id = str(bot.self_id), event.event.message.message_id
        for seg in event.get_message():
            key = seg.data.get("image_key") if seg.type == "image" else None
            if not key:
                continue
            api = resource_api(message_id, str(key))
            config = getattr(bot, "bot_config", None)
            base = bot.adapter.get_api_url(config, api) if config is not None else api
            url = f"{base}?type=image"
            self._urls.put((app, str(key)), url)
            self._pictures.put(url, (app, message_id, str(key)))

    def convert(self, bot: Bot, seg: Any) -> Any | None:
        """A picture as uniseg's `Image` with its address (`url`), when it was noted; an @
        as uniseg's `At` with the name it showed (the event's mentions, `_remember`), which
        a refusal of someone outside the chat says instead of their open_id."""
        if seg.type == "at" and seg.data.get("user_id") not in (None, "all", "here"):
            from nonebot_plugin_alconna.uniseg import At

            open_id = str(seg.data["user_id"])
            name = (self._names.get((str(bot.self_id), open_id)) or (0.0, None))[1]
            return At("user", open_id, display=name or None)
        if seg.type != "image":
            return None
        key = str(seg.data.get("image_key") or "")
        url = self._urls.get((str(bot.self_id), key))
        if url is None:
            return None
        from nonebot_plugin_alconna.uniseg import Image

        return Image(id=key, url=url)

    async def picture(self, url: str) -> bytes | None:
        """The bytes of a picture noted here, from the message resource API; None for any
        other address. Raises when the platform refuses or the bot is gone."""
        source = self._pictures.get(url)
        if source is None:
            return None
        app, message_id, key = source
        bot = nonebot.get_bots().get(app)
        if bot is None:
            raise RuntimeError(f"飞书机器人 {app} 不在线，图片取不到")
        found = await self._call(
            bot, resource_api(message_id, key), method="GET", params={"type": "image"}
        )
        if not isinstance(found, bytes):  # a JSON answer: no picture
            raise RuntimeError(f"飞书没有给出图片：{str(found)[:200]}")
        return found

    def identity(self, bot: Bot, event: Event | None = None) -> str:
        return f"{PLATFORM}.{bot.self_id}"

    async def _call(self, bot: Bot, api: str, **data: Any) -> Any:
        try:
            return await bot.call_api(api, **data)
        except NetworkError as e:
            raise _refusal(e) from e

    async def name(self, bot: Bot, open_id: str, *, fresh: bool = False) -> str | None:
        key = (str(bot.self_id), open_id)
        hit = self._names.get(key)
        if hit is not None and not fresh and hit[0] > time.monotonic():
            return hit[1]
        try:
            found = await self._call(
                bot, f"contact/v3/users/{open_id}", method="GET", params={"user_id_type": "open_id"}
            )
            name = str(((found or {}).get("data") or {}).get("user", {}).get("name") or "")
        except Exception as e:
            logger.info(f"Feishu contact lookup of {open_id} failed: {e!r}")
            name = ""
        if name:
            self._names[key] = (time.monotonic() + NAME_TTL, name)
            return name
        # no answer (an app without the contact scope): asked again after NAME_TTL, not at
        # every message; a name seen in a mention stays the answer meanwhile
        known = hit[1] if hit is not None else None
        self._names[key] = (time.monotonic() + NAME_TTL, known)
        return known

    def _remember(self, bot: Bot, event: MessageEvent) -> None:
        for m in event.event.message.mentions or []:
            key = (str(bot.self_id), m.id.open_id)
            if m.name and not (self._names.get(key) or (0.0, None))[1]:
                self._names[key] = (0.0, m.name)  # stale at once: the contact API wins

    async def owner(self, bot: Bot, chat_id: str, *, fresh: bool = False) -> str | None:
        key = (str(bot.self_id), chat_id)
        hit = self._owners.get(key)
        if hit is not None and not fresh and hit[0] > time.monotonic():
            return hit[1]
        try:
            found = await self._call(bot, f"im/v1/chats/{chat_id}", method="GET")
            data = (found or {}).get("data") or {}
            owner = (
                str(data["owner_id"]) if data.get("owner_id_type", "open_id") == "open_id" else None
            )
        except Exception as e:
            logger.info(f"Feishu chat info of {chat_id} failed: {e!r}")
            return hit[1] if hit is not None else None
        self._owners[key] = (time.monotonic() + OWNER_TTL, owner)
        return owner

    async def describe(self, bot: Bot, event: Event) -> Facts | None:
        if not isinstance(event, GroupMessageEvent | PrivateMessageEvent):
            return None
        self._remember(bot, event)
        user_id = event.get_user_id()
        group = isinstance(event, GroupMessageEvent)
        chat_id = event.event.message.chat_id
        role = None
        if group:
            role = "owner" if await self.owner(bot, chat_id) == user_id else "member"
        return Facts(
            platform=self.identity(bot, event),
            adapter=self.adapter,
            user_id=user_id,
            group_id=chat_id if group else None,
            message_id=event.message_id,
            sender_name=await self.name(bot, user_id) or user_id,
            sender_role=role,
            self_id=str(bot.self_id),
            to_me=event.is_tome(),
        )

    def quoted(self, bot: Bot, event: Event, group_id: str | None) -> Quoted | None:
        reply = getattr(event, "reply", None)
        if reply is None or (group_id is not None and reply.chat_id != group_id):
            return None
        sender = reply.sender
        user = sender.id if sender.id_type == "open_id" else None
        return Quoted(reply.message_id, user, "")

    async def member(
        self, bot: Bot, group_id: str, user_id: str, *, fresh: bool = False
    ) -> MemberInfo | None:
        entry, token = None, ""
        for _page in range(MEMBER_PAGES):
            params: dict[str, Any] = {"member_id_type": "open_id", "page_size": 100}
            if token:
                params["page_token"] = token
            try:
                found = await self._call(
                    bot, f"im/v1/chats/{group_id}/members", method="GET", params=params
                )
            except Exception as e:
                logger.info(f"Feishu chat members of {group_id} failed: {e!r}")
                return None
            data = (found or {}).get("data") or {}
            items = data.get("items") or []
            entry = next((i for i in items if i.get("member_id") == user_id), None)
            token = str(data.get("page_token") or "")
            if entry is not None or not data.get("has_more") or not token:
                break
        if entry is None:
            return None
        name = await self.name(bot, user_id, fresh=fresh) or str(entry.get("name") or "")
        owner = await self.owner(bot, group_id, fresh=fresh)
        return MemberInfo(name, "owner" if owner == user_id else "member")

    async def in_group(self, bot: Bot, group_id: str) -> bool:
        return await self.owner(bot, group_id) is not None

    async def send_group(self, bot: Bot, group_id: str, message: Any) -> None:
        try:
            await super().send_group(bot, group_id, message)
        except NetworkError as e:
            raise _refusal(e) from e

    async def send_private(
        self, bot: Bot, user_id: str, message: Any, via_group: str | None = None
    ) -> None:
        try:
            await super().send_private(bot, user_id, message, via_group)
        except NetworkError as e:
            raise _refusal(e) from e

    def setup(self, driver: Any) -> None:
        keep_alive(driver, Adapter, _send_requests_over)
        _flatten_from_now()

    async def upload_group_file(self, bot: Bot, group_id: str, name: str, data: bytes) -> bool:
        up = await self._call(
            bot,
            "im/v1/files",
            method="POST",
            data={
                "file_type": "xls" if name.endswith((".xls", ".xlsx")) else "stream",
                "file_name": name,
            },
            files={"file": (name, data)},
        )
        key = up["data"]["file_key"]
        content = json.dumps({"file_key": key}, ensure_ascii=False)
        await self._call(
            bot,
            "im/v1/messages",
            method="POST",
            params={"receive_id_type": "chat_id"},
            json={"receive_id": group_id, "content": content, "msg_type": "file"},
        )
        return True


def _send_requests_over(adapter: Any, session: Any) -> None:
    """The adapter's `send_request` over `session` (it calls `driver.request` itself, not
    `adapter.request`): the adapter's own logic (status, empty body, JSON by content type,
    errors as NetworkError)."""

    async def send_request(request: Any, **data: Any) -> Any:
        request.timeout = data.get("_timeout", adapter.config.api_timeout)
        try:
            response = await session.request(request)
        except Exception as e:
            raise NetworkError("HTTP request failed") from e
        if not 200 <= response.status_code < 300:
            raise NetworkError(
                f"HTTP request received unexpected status code: {response.status_code}, "
                f"response content: {response.content}"
            )
        if not response.content:
            raise NetworkError("HTTP request failed: Empty response")
        if data.get("_return_response", False):
            return response
        if "application/json" in response.headers.get("Content-Type", ""):
            return json.loads(response.content)
        return response.content

    adapter.send_request = send_request


def _refusal(e: NetworkError) -> Exception:
    """The platform's HTTP 4xx with its code as `ActionFailed`; anything else unchanged."""
    text = str(getattr(e, "msg", "") or "")
    status = re.search(r"status code: (\d+)", text)
    if status is None or not status.group(1).startswith("4"):
        return e
    code = re.search(r'"code"\s*:\s*(\d+)', text)
    msg = re.search(r'"msg"\s*:\s*"([^"]*)"', text)
    return ActionFailed(
        status=int(status.group(1)),
        code=int(code.group(1)) if code else None,
        msg=msg.group(1) if msg else text[:200],
    )


def _factory(config: Any) -> type[Adapter] | None:
    return Adapter if getattr(config, "feishu_bots", None) else None


FEISHU = Feishu()
register(FEISHU, _factory)
