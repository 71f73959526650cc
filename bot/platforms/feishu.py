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
- Pictures go up with `im/v1/images` and out by `image_key` (uniseg's exporter does it);
  files with `im/v1/files` (the workbook in the chat). The bot may write to a group it is
  in, and privately to anyone in the app's availability, without a message to answer.
- A refused call answers HTTP 400 with a code (230002: the bot is not in the chat, 230013:
  the user is outside the app's availability); the adapter raises it as a NetworkError,
  which `send_*` turn into `ActionFailed` (refused, not "maybe sent").
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
from nonebot.drivers import HTTPClientMixin
from nonebot.message import event_preprocessor

from . import Caps, Facts, MemberInfo, Platform, Quoted, register

PLATFORM = "feishu"
NAME_TTL = 600.0
OWNER_TTL = 30.0
MEMBER_PAGES = 50  # chat members are listed 100 a page: up to 5,000 looked through


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


@event_preprocessor
async def _flatten_posts(bot: Bot, event: Event) -> None:
    if isinstance(event, MessageEvent):
        event._message = flatten(bot, event)  # type: ignore[attr-defined]


class Feishu(Platform):
    adapter = "Feishu"
    adapter_type = Adapter
    caps = Caps(numeric_ids=False, names_in_events=False, group_files=True)

    def __init__(self) -> None:
        self._names: dict[tuple[str, str], tuple[float, str]] = {}
        self._owners: dict[tuple[str, str], tuple[float, str | None]] = {}

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
        return hit[1] if hit is not None else None

    def _remember(self, bot: Bot, event: MessageEvent) -> None:
        for m in event.event.message.mentions or []:
            key = (str(bot.self_id), m.id.open_id)
            if m.name and key not in self._names:
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
        _keep_alive(driver)

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


def _keep_alive(driver: Any) -> None:
    """One kept-alive HTTP session for the adapter's API calls. The adapter's
    `send_request` goes through `driver.request`: a new httpx client and connection per
    call. This is the same method over one session (the adapter's own logic: status,
    empty body, JSON by content type, errors as NetworkError)."""
    session: Any = None

    @driver.on_startup
    async def _open() -> None:
        nonlocal session
        if not isinstance(driver, HTTPClientMixin):
            return
        session = driver.get_session()
        await session.setup()
        adapter = nonebot.get_adapter(Adapter)

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

        adapter.send_request = send_request  # type: ignore[method-assign]

    @driver.on_shutdown
    async def _close() -> None:
        if session is not None:
            await session.close()


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


register(Feishu(), _factory)
