"""Speak OneBot to the real bot over a WebSocket, as NapCat (v11) or a WeChat bridge (v12) does.

- `BotProcess` starts the bot exactly as `make run` does — `python -m bot` in a folder holding
  a `.env` (free port, its own database) — waits for the port, and stops or `kill -9`s it.
- `OneBotV11Sim` connects to `/onebot/v11/ws` with the headers NapCat sends, sends real-format
  events, answers every API call the bot makes and records it. `OneBotV12Sim` does the same
  for `/onebot/v12/ws` (connect and status_update meta events, `mention` segments).

    async with BotProcess(token="t") as bot, OneBotV11Sim(bot.ws_url("v11"), token="t") as qq:
        print(await qq.say(20001, 10001, "/绑定 客服一组", role="owner"))
        print(await qq.say(20001, 30001, "/软文 https://example.com/a", card="张三"))

`say()` waits for the bot's reply to that person in that group: NoneBot's `send` copies the
event's `user_id` and `group_id` into the API call, which is how replies are told apart when
many people talk at once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import inspect
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tools import testdb

Segment = dict[str, Any]
SegmentLike = str | Segment
Handler = Callable[[dict[str, Any]], Any]

# Unique across simulators of one process and (randomly offset) across processes, because the
# bot remembers handled message ids in its database: a reused id would be taken as a redelivery.
_message_ids = itertools.count(random.randrange(10**8, 1_900_000_000))


def next_message_id() -> int:
    return next(_message_ids)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---- message segments ----------------------------------------------------------------------


def text(s: str) -> Segment:
    return {"type": "text", "data": {"text": s}}


def at(user_id: int | str) -> Segment:
    """An @mention: `at` in OneBot v11; the v12 simulator sends it as `mention`."""
    return {"type": "at", "data": {"qq": str(user_id)}}


def mention(user_id: int | str) -> Segment:
    return {"type": "mention", "data": {"user_id": str(user_id)}}


def image(
    url: str = "http://127.0.0.1:9/evidence.png", file: str | None = None, **extra: Any
) -> Segment:
    """A picture as NapCat sends it: a file name and a download URL."""
    return {
        "type": "image",
        "data": {"file": file or f"{uuid.uuid4().hex[:16]}.image", "url": url, **extra},
    }


def as_segments(parts: Iterable[SegmentLike]) -> list[Segment]:
    return [text(p) if isinstance(p, str) else dict(p) for p in parts]


def _cq_escape(s: str, *, comma: bool = False) -> str:
    s = s.replace("&", "&amp;").replace("[", "&#91;").replace("]", "&#93;")
    return s.replace(",", "&#44;") if comma else s


def cq_string(segments: list[Segment]) -> str:
    """`raw_message` of a v11 event: text escaped, other segments as CQ codes."""
    out = []
    for seg in segments:
        if seg["type"] == "text":
            out.append(_cq_escape(seg["data"]["text"]))
        else:
            params = ",".join(
                f"{k}={_cq_escape(str(v), comma=True)}" for k, v in seg["data"].items()
            )
            out.append(f"[CQ:{seg['type']}{',' + params if params else ''}]")
    return "".join(out)


def plain_text(message: Any, names: Callable[[str], str | None] | None = None) -> str:
    """What a person reads: text as is, @ as `@name`, a picture as `[图片]`, a file as `[文件]`."""
    if message is None:
        return ""
    if isinstance(message, str):
        return message
    if isinstance(message, dict):
        message = [message]
    out = []
    for seg in message:
        kind, data = seg.get("type"), seg.get("data") or {}
        if kind == "text":
            out.append(str(data.get("text", "")))
        elif kind in ("at", "mention"):
            uid = str(data.get("qq") or data.get("user_id") or "")
            out.append("@全体成员" if uid == "all" else f"@{(names and names(uid)) or uid}")
        elif kind == "mention_all":
            out.append("@全体成员")
        elif kind == "image":
            out.append("[图片]")
        elif kind == "face":
            out.append("[表情]")
        elif kind == "reply":
            continue
        else:
            out.append(f"[{kind}]")
    return "".join(out)


def file_bytes(ref: str) -> bytes:
    """The bytes behind a OneBot file reference: a path, `file://`, or `base64://`."""
    if ref.startswith("base64://"):
        return base64.b64decode(ref.removeprefix("base64://"))
    if ref.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(ref).path)).read_bytes()
    return Path(ref).read_bytes()


# ---- recorded traffic ----------------------------------------------------------------------


@dataclass
class ApiCall:
    """One API call the bot made, with what the simulator answered."""

    action: str
    params: dict[str, Any]
    at: float  # time.perf_counter() when it arrived
    status: str = "ok"
    data: Any = None


@dataclass
class Sent:
    """A message the bot sent (any of the send actions), as plain text."""

    group_id: str | None
    user_id: str | None  # the person it answers (NoneBot copies it from the event)
    text: str
    message: Any
    call: ApiCall


@dataclass
class UploadedFile:
    """A file the bot uploaded to the v12 implementation (`upload_file`)."""

    name: str
    data: bytes


class ApiFailure(Exception):
    """Raise in a custom handler to answer `status: failed` with this retcode."""

    def __init__(self, retcode: int = 100, message: str = "failed"):
        super().__init__(message)
        self.retcode = retcode
        self.message = message


@dataclass
class Person:
    nickname: str
    card: str = ""
    role: str = "member"

    @property
    def name(self) -> str:
        return self.card or self.nickname


@dataclass
class _Waiter:
    predicate: Callable[[ApiCall], bool]
    future: asyncio.Future
    since: int = 0


class _Sim:
    """What both OneBot versions share: the connection, the recorder, replies, waiting."""

    version = ""
    path = ""
    send_actions: frozenset[str] = frozenset()

    def __init__(
        self,
        url: str,
        *,
        self_id: str | int = "99999",
        token: str | None = None,
        handlers: dict[str, Handler] | None = None,
    ) -> None:
        self.url = url if url.rstrip("/").endswith("/ws") else url.rstrip("/") + self.path
        self.self_id = str(self_id)
        self.token = token or None
        self.ws: ClientConnection | None = None
        self.calls: list[ApiCall] = []
        self.sent: list[Sent] = []
        self.events: dict[str, dict[str, Any]] = {}  # message_id → event we sent
        self.roster: dict[tuple[str, str], Person] = {}
        self.groups: set[str] | None = None  # the groups this account is in; None: all
        self.handlers: dict[str, Handler] = dict(handlers or {})
        self._inbox: dict[tuple[str | None, str | None], list[Sent]] = defaultdict(list)
        self._reply_waiters: dict[
            tuple[str | None, str | None], list[tuple[int, asyncio.Future]]
        ] = defaultdict(list)
        self._locks: dict[tuple[str | None, str | None], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiters: list[_Waiter] = []
        self._reader: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()
        self._out_ids = itertools.count(1)
        self.closed = asyncio.Event()

    # ---- connection ------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        h = {"X-Self-ID": self.self_id}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    async def connect(self, *, retries: int = 40, timeout: float = 10.0) -> None:
        """Open the reverse WebSocket and announce ourselves.

        A refused handshake (wrong token, or the bot still holding our previous connection)
        is retried `retries` times, 50 ms apart, then raised as `websockets.InvalidStatus`.
        """
        for attempt in range(retries + 1):
            try:
                self.ws = await websockets.connect(
                    self.url,
                    additional_headers=self.headers(),
                    max_size=None,
                    open_timeout=timeout,
                    ping_interval=None,
                    compression=None,
                )
                break
            except InvalidStatus:
                if attempt == retries:
                    raise
                await asyncio.sleep(0.05)
        self.closed.clear()
        self._reader = asyncio.create_task(self._read_loop())
        await self.announce()

    async def disconnect(self) -> None:
        """Close the connection as an implementation going offline does."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 5)
        self.ws = None
        self._reader = None

    async def reconnect(self) -> None:
        await self.disconnect()
        await self.connect()

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    async def announce(self) -> None:
        """Meta events sent right after connecting."""

    async def send_event(self, event: dict[str, Any]) -> int | str:
        """Post an event; returns its message id (if it has one)."""
        if "message_id" in event:
            self.events[str(event["message_id"])] = event
        await self.send_json(event)
        return event.get("message_id", "")

    async def post(self, group_id: int | str, user_id: int | str, *parts: SegmentLike, **kw):
        """Send a group message without waiting; returns its message id."""
        return await self.send_event(self.group_event(group_id, user_id, *parts, **kw))

    async def send_json(self, payload: dict[str, Any]) -> None:
        if self.ws is None:
            raise ConnectionError("simulator is not connected")
        await self.ws.send(json.dumps(payload, ensure_ascii=False))

    async def _read_loop(self) -> None:
        assert self.ws is not None
        try:
            async for raw in self.ws:
                at = time.perf_counter()
                frame = json.loads(raw)
                if isinstance(frame, dict) and "action" in frame:
                    await self._answer(frame, at)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    # ---- API calls -------------------------------------------------------------------------

    async def _answer(self, frame: dict[str, Any], at: float) -> None:
        action = str(frame["action"])
        params = frame.get("params") or {}
        call = ApiCall(action, params, at)
        handler = self.handlers.get(action) or getattr(self, f"api_{action}", None)
        try:
            if handler is None:
                raise ApiFailure(self.unsupported_retcode, f"unsupported action {action}")
            result = handler(params)
            if inspect.isawaitable(result):
                task = asyncio.create_task(self._answer_later(frame, call, result))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return
            await self._reply(frame, call, result)
        except ApiFailure as e:
            await self._reply(frame, call, None, failure=e)

    async def _answer_later(self, frame: dict, call: ApiCall, result: Awaitable) -> None:
        try:
            await self._reply(frame, call, await result)
        except ApiFailure as e:
            await self._reply(frame, call, None, failure=e)

    async def _reply(
        self, frame: dict, call: ApiCall, data: Any, failure: ApiFailure | None = None
    ) -> None:
        call.data = data
        if failure is not None:
            call.status = "failed"
            body = {"status": "failed", "retcode": failure.retcode, "data": None}
            body |= {"message": failure.message, "wording": failure.message}
        else:
            body = {"status": "ok", "retcode": 0, "data": data}
            if self.version == "v12":
                body["message"] = ""
        if "echo" in frame:
            body["echo"] = frame["echo"]
        self._record(call)
        with contextlib.suppress(ConnectionClosed, ConnectionError):
            await self.send_json(body)

    unsupported_retcode = 1404

    def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        if call.action in self.send_actions and call.status == "ok":
            sent = self.describe_send(call)
            self.sent.append(sent)
            for key in {(sent.group_id, sent.user_id), (sent.group_id, None)}:
                box = self._inbox[key]
                box.append(sent)
                waiters = self._reply_waiters.get(key)
                if waiters:
                    for need, fut in list(waiters):
                        if len(box) >= need and not fut.done():
                            fut.set_result(None)
                    waiters[:] = [w for w in waiters if not w[1].done()]
        if self._waiters:
            index = len(self.calls) - 1
            for w in self._waiters:
                if not w.future.done() and index >= w.since and w.predicate(call):
                    w.future.set_result(call)
            self._waiters = [w for w in self._waiters if not w.future.done()]

    def describe_send(self, call: ApiCall) -> Sent:
        raise NotImplementedError

    def name_of(self, user_id: str, group_id: str | None = None) -> str | None:
        if group_id is not None and (p := self.roster.get((group_id, user_id))):
            return p.name
        for (_, uid), p in self.roster.items():
            if uid == user_id:
                return p.name
        return None

    def next_out_id(self) -> int:
        return next(self._out_ids) + 1_000_000

    # ---- waiting ---------------------------------------------------------------------------

    async def wait_for(
        self, predicate: Callable[[ApiCall], bool], timeout: float = 10.0, *, since: int = 0
    ) -> ApiCall:
        """The first API call (from index `since` of `calls`) that satisfies `predicate`."""
        for call in self.calls[since:]:
            if predicate(call):
                return call
        fut = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, fut, since)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def replies(self, group_id: int | str | None, user_id: int | str | None = None) -> list[str]:
        """Every message the bot sent to that person in that group (user_id None: anyone)."""
        key = (_s(group_id), _s(user_id))
        return [m.text for m in self._inbox.get(key, [])]

    async def wait_replies(
        self,
        group_id: int | str | None,
        user_id: int | str | None,
        count: int,
        timeout: float = 10.0,
    ) -> list[str]:
        """Wait until the bot has sent `count` messages in total to that key; return them all."""
        key = (_s(group_id), _s(user_id))
        box = self._inbox[key]
        if len(box) < count:
            fut = asyncio.get_running_loop().create_future()
            self._reply_waiters[key].append((count, fut))
            try:
                await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                got = [m.text for m in box]
                raise TimeoutError(
                    f"waited {timeout}s for {count} messages to {key}, got {len(got)}: {got!r}"
                ) from None
        return [m.text for m in box]

    async def _converse(
        self,
        key: tuple[str | None, str | None],
        send: Callable[[], Awaitable[Any]],
        expect: int,
        linger: float,
        timeout: float,
    ) -> list[str]:
        async with self._locks[key]:
            start = len(self._inbox[key])
            await send()
            if expect:
                await self.wait_replies(key[0], key[1], start + expect, timeout)
            if linger or not expect:
                await asyncio.sleep(linger or 0.5)
            return [m.text for m in self._inbox[key][start:]]


def _s(v: int | str | None) -> str | None:
    return None if v is None else str(v)


# ---- OneBot v11 ----------------------------------------------------------------------------


class OneBotV11Sim(_Sim):
    """A OneBot v11 implementation (NapCat-like) on the bot's reverse WebSocket."""

    version = "v11"
    path = "/onebot/v11/ws"
    send_actions = frozenset({"send_msg", "send_group_msg", "send_private_msg"})

    def headers(self) -> dict[str, str]:
        return {**super().headers(), "X-Client-Role": "Universal", "User-Agent": "OneBot/11"}

    async def announce(self) -> None:
        await self.send_json(
            {
                "time": int(time.time()),
                "self_id": int(self.self_id),
                "post_type": "meta_event",
                "meta_event_type": "lifecycle",
                "sub_type": "connect",
            }
        )

    async def heartbeat(self, interval_ms: int = 30000) -> None:
        await self.send_json(
            {
                "time": int(time.time()),
                "self_id": int(self.self_id),
                "post_type": "meta_event",
                "meta_event_type": "heartbeat",
                "status": {"online": True, "good": True},
                "interval": interval_ms,
            }
        )

    def add_member(
        self,
        group_id: int | str,
        user_id: int | str,
        *,
        card: str = "",
        nickname: str | None = None,
        role: str = "member",
    ) -> Person:
        p = Person(nickname or f"用户{user_id}", card, role)
        self.roster[(str(group_id), str(user_id))] = p
        return p

    def group_event(
        self,
        group_id: int | str,
        user_id: int | str,
        *parts: SegmentLike,
        card: str | None = None,
        nickname: str | None = None,
        role: str | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        """A group message event as NapCat posts it (array message), updating the roster."""
        key = (str(group_id), str(user_id))
        known = self.roster.get(key)
        person = Person(
            nickname if nickname is not None else (known.nickname if known else f"用户{user_id}"),
            card if card is not None else (known.card if known else ""),
            role if role is not None else (known.role if known else "member"),
        )
        self.roster[key] = person
        segments = as_segments(parts)
        mid = message_id if message_id is not None else next_message_id()
        return {
            "time": int(time.time()),
            "self_id": int(self.self_id),
            "post_type": "message",
            "message_type": "group",
            "sub_type": "normal",
            "message_id": mid,
            "message_seq": mid,
            "real_id": mid,
            "group_id": int(group_id),
            "user_id": int(user_id),
            "anonymous": None,
            "message": segments,
            "raw_message": cq_string(segments),
            "message_format": "array",
            "font": 14,
            "sender": {
                "user_id": int(user_id),
                "nickname": person.nickname,
                "card": person.card,
                "sex": "unknown",
                "age": 0,
                "area": "",
                "level": "1",
                "role": person.role,
                "title": "",
            },
        }

    def private_event(
        self,
        user_id: int | str,
        *parts: SegmentLike,
        nickname: str | None = None,
        message_id: int | None = None,
    ) -> dict[str, Any]:
        segments = as_segments(parts)
        mid = message_id if message_id is not None else next_message_id()
        return {
            "time": int(time.time()),
            "self_id": int(self.self_id),
            "post_type": "message",
            "message_type": "private",
            "sub_type": "friend",
            "message_id": mid,
            "user_id": int(user_id),
            "message": segments,
            "raw_message": cq_string(segments),
            "message_format": "array",
            "font": 14,
            "sender": {
                "user_id": int(user_id),
                "nickname": nickname or self.name_of(str(user_id)) or f"用户{user_id}",
                "sex": "unknown",
                "age": 0,
            },
        }

    async def say(
        self,
        group_id: int | str,
        user_id: int | str,
        *parts: SegmentLike,
        card: str | None = None,
        nickname: str | None = None,
        role: str | None = None,
        message_id: int | None = None,
        expect: int = 1,
        linger: float = 0.0,
        timeout: float = 10.0,
    ) -> list[str]:
        """Send a group message and return the bot's replies to it, as plain text.

        Waits for `expect` replies, then `linger` seconds for more. `expect=0` checks
        silence: it waits `linger` (default 0.5 s) and returns whatever came.
        """
        event = self.group_event(
            group_id,
            user_id,
            *parts,
            card=card,
            nickname=nickname,
            role=role,
            message_id=message_id,
        )
        key = (str(group_id), str(user_id))
        return await self._converse(key, lambda: self.send_event(event), expect, linger, timeout)

    async def say_private(
        self, user_id: int | str, *parts: SegmentLike, expect: int = 1, linger: float = 0.0, **kw
    ) -> list[str]:
        event = self.private_event(user_id, *parts, **kw)
        return await self._converse(
            (None, str(user_id)), lambda: self.send_event(event), expect, linger, 10.0
        )

    def describe_send(self, call: ApiCall) -> Sent:
        p = call.params
        kind = p.get("message_type") or (
            "private"
            if call.action == "send_private_msg"  # with a group_id: a temporary session
            else "group"
            if "group_id" in p
            else "private"
        )
        group = _s(p.get("group_id")) if kind == "group" else None
        user = _s(p.get("user_id"))
        msg = p.get("message")
        if isinstance(msg, str) and not p.get("auto_escape"):
            msg = _parse_cq(msg)
        return Sent(group, user, plain_text(msg, lambda u: self.name_of(u, group)), msg, call)

    # ---- API answers -----------------------------------------------------------------------

    def api_send_msg(self, params: dict) -> dict:
        group = params.get("group_id")
        if group is not None and self.groups is not None and str(group) not in self.groups:
            raise ApiFailure(1200, f"不在群 {group} 中")
        return {"message_id": self.next_out_id()}

    api_send_group_msg = api_send_msg
    api_send_private_msg = api_send_msg

    def api_get_login_info(self, params: dict) -> dict:
        return {"user_id": int(self.self_id), "nickname": "KPI 机器人"}

    def api_get_status(self, params: dict) -> dict:
        return {"online": True, "good": True, "stat": {}}

    def api_get_version_info(self, params: dict) -> dict:
        return {"app_name": "onebot-sim", "app_version": "1.0.0", "protocol_version": "v11"}

    def api_get_group_member_info(self, params: dict) -> dict:
        g, u = str(params.get("group_id")), str(params.get("user_id"))
        p = self.roster.get((g, u))
        if p is None:
            raise ApiFailure(100, f"群成员 {u} 不存在")
        return {
            "group_id": int(g),
            "user_id": int(u),
            "nickname": p.nickname,
            "card": p.card,
            "sex": "unknown",
            "age": 0,
            "area": "",
            "join_time": 0,
            "last_sent_time": 0,
            "level": "1",
            "role": p.role,
            "unfriendly": False,
            "title": "",
            "title_expire_time": 0,
            "card_changeable": True,
        }

    def api_get_group_member_list(self, params: dict) -> list[dict]:
        g = str(params.get("group_id"))
        return [
            self.api_get_group_member_info({"group_id": g, "user_id": u})
            for (gid, u) in self.roster
            if gid == g
        ]

    def api_get_group_info(self, params: dict) -> dict:
        g = str(params.get("group_id"))
        n = sum(1 for gid, _ in self.roster if gid == g)
        return {
            "group_id": int(g),
            "group_name": f"群{g}",
            "member_count": n,
            "max_member_count": 500,
        }

    def api_get_group_list(self, params: dict) -> list[dict]:
        groups = self.groups if self.groups is not None else {g for g, _ in self.roster}
        return [self.api_get_group_info({"group_id": g}) for g in sorted(groups)]

    def api_get_stranger_info(self, params: dict) -> dict:
        u = str(params.get("user_id"))
        return {"user_id": int(u), "nickname": self.name_of(u) or f"用户{u}", "sex": "unknown"}

    def api_get_msg(self, params: dict) -> dict:
        ev = self.events.get(str(params.get("message_id")))
        if ev is None:
            raise ApiFailure(100, "消息不存在")
        # As NapCat answers: the chat it was sent in comes with it.
        keys = (
            "time",
            "message_type",
            "group_id",
            "user_id",
            "message_id",
            "real_id",
            "sender",
            "message",
        )
        return {k: ev[k] for k in keys if k in ev}

    def api_upload_group_file(self, params: dict) -> dict:
        return {"file_id": uuid.uuid4().hex}

    api_upload_private_file = api_upload_group_file

    def api_delete_msg(self, params: dict) -> None:
        return None

    def api_can_send_image(self, params: dict) -> dict:
        return {"yes": True}


def _parse_cq(s: str) -> list[Segment]:
    """A CQ-coded string back into segments (enough for plain_text)."""
    out: list[Segment] = []
    pos = 0
    for m in re.finditer(r"\[CQ:(\w+)((?:,[^\]]*)?)\]", s):
        if m.start() > pos:
            out.append(text(_cq_unescape(s[pos : m.start()])))
        data = {}
        for kv in filter(None, m.group(2).split(",")):
            k, _, v = kv.partition("=")
            data[k] = _cq_unescape(v)
        out.append({"type": m.group(1), "data": data})
        pos = m.end()
    if pos < len(s):
        out.append(text(_cq_unescape(s[pos:])))
    return out


def _cq_unescape(s: str) -> str:
    return s.replace("&#44;", ",").replace("&#91;", "[").replace("&#93;", "]").replace("&amp;", "&")


# ---- OneBot v12 ----------------------------------------------------------------------------


class OneBotV12Sim(_Sim):
    """A OneBot v12 implementation (a WeChat bridge) on the bot's reverse WebSocket."""

    version = "v12"
    path = "/onebot/v12/ws"
    send_actions = frozenset({"send_message"})
    unsupported_retcode = 10002

    def __init__(self, url: str, *, platform: str = "wechat", impl: str = "onebot-sim", **kw):
        kw.setdefault("self_id", "wxid_kpibot")
        super().__init__(url, **kw)
        self.platform = platform
        self.impl = impl
        self.files: dict[str, UploadedFile] = {}  # file_id → what upload_file received

    def headers(self) -> dict[str, str]:
        return {
            **super().headers(),
            "X-Impl": self.impl,
            "X-OneBot-Version": "12",
            "X-Platform": self.platform,
            "Sec-WebSocket-Protocol": f"12.{self.impl}",
        }

    def _meta(self, detail_type: str, **fields: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "time": time.time(),
            "type": "meta",
            "detail_type": detail_type,
            "sub_type": "",
            **fields,
        }

    async def announce(self) -> None:
        """`meta.connect` first (the adapter closes the socket otherwise), then the bot online."""
        await self.send_json(
            self._meta(
                "connect",
                version={"impl": self.impl, "version": "1.0.0", "onebot_version": "12"},
            )
        )
        await self.send_json(self._meta("status_update", status=self.status()))

    def status(self) -> dict[str, Any]:
        return {
            "good": True,
            "bots": [
                {"self": {"platform": self.platform, "user_id": self.self_id}, "online": True}
            ],
        }

    def add_member(
        self, group_id: int | str, user_id: int | str, *, name: str | None = None, **_: Any
    ) -> Person:
        p = Person(name or f"用户{user_id}")
        self.roster[(str(group_id), str(user_id))] = p
        return p

    @staticmethod
    def _v12_segments(parts: Iterable[SegmentLike]) -> list[Segment]:
        out = []
        for seg in as_segments(parts):
            if seg["type"] == "at":
                seg = mention(seg["data"]["qq"])
            elif seg["type"] == "image" and "file_id" not in seg["data"]:
                seg = {"type": "image", "data": {"file_id": seg["data"].get("file", "img")}}
            out.append(seg)
        return out

    def group_event(
        self,
        group_id: int | str,
        user_id: int | str,
        *parts: SegmentLike,
        name: str | None = None,
        message_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        key = (str(group_id), str(user_id))
        if name is not None or key not in self.roster:
            self.add_member(group_id, user_id, name=name)
        segments = self._v12_segments(parts)
        return {
            "id": str(uuid.uuid4()),
            "time": time.time(),
            "type": "message",
            "detail_type": "group",
            "sub_type": "",
            "self": {"platform": self.platform, "user_id": self.self_id},
            "message_id": str(message_id if message_id is not None else next_message_id()),
            "message": segments,
            "alt_message": plain_text(segments),
            "user_id": str(user_id),
            "group_id": str(group_id),
            **(extra or {}),
        }

    async def say(
        self,
        group_id: int | str,
        user_id: int | str,
        *parts: SegmentLike,
        name: str | None = None,
        message_id: str | None = None,
        extra: dict[str, Any] | None = None,
        expect: int = 1,
        linger: float = 0.0,
        timeout: float = 10.0,
    ) -> list[str]:
        event = self.group_event(
            group_id, user_id, *parts, name=name, message_id=message_id, extra=extra
        )
        key = (str(group_id), str(user_id))
        return await self._converse(key, lambda: self.send_event(event), expect, linger, timeout)

    def describe_send(self, call: ApiCall) -> Sent:
        p = call.params
        group = _s(p.get("group_id")) if p.get("detail_type") == "group" else None
        msg = p.get("message")
        return Sent(
            group,
            _s(p.get("user_id")),
            plain_text(msg, lambda u: self.name_of(u, group)),
            msg,
            call,
        )

    # ---- API answers -----------------------------------------------------------------------

    def api_send_message(self, params: dict) -> dict:
        return {"message_id": str(self.next_out_id()), "time": time.time()}

    def api_get_self_info(self, params: dict) -> dict:
        return {"user_id": self.self_id, "user_name": "KPI 机器人", "user_displayname": ""}

    def api_get_status(self, params: dict) -> dict:
        return self.status()

    def api_get_version(self, params: dict) -> dict:
        return {"impl": self.impl, "version": "1.0.0", "onebot_version": "12"}

    def api_get_supported_actions(self, params: dict) -> list[str]:
        return sorted(a.removeprefix("api_") for a in dir(self) if a.startswith("api_"))

    def api_get_group_member_info(self, params: dict) -> dict:
        g, u = str(params.get("group_id")), str(params.get("user_id"))
        p = self.roster.get((g, u))
        if p is None:
            raise ApiFailure(35001, f"群成员 {u} 不存在")
        return {"user_id": u, "user_name": p.nickname, "user_displayname": p.card}

    def api_get_user_info(self, params: dict) -> dict:
        u = str(params.get("user_id"))
        name = self.name_of(u) or u
        return {"user_id": u, "user_name": name, "user_displayname": "", "user_remark": ""}

    def api_get_group_info(self, params: dict) -> dict:
        g = str(params.get("group_id"))
        return {"group_id": g, "group_name": f"群{g}"}

    def api_upload_file(self, params: dict) -> dict:
        """Keep the file as an implementation does (`files`) and answer its id. Type `data`
        carries the bytes (base64 in JSON) and may carry their sha256; `path` and `url` name
        where they are."""
        kind = params.get("type")
        if kind == "data":
            data = base64.b64decode(params.get("data") or "")
            digest = params.get("sha256")
            if digest and hashlib.sha256(data).hexdigest() != digest:
                raise ApiFailure(10003, "sha256 不符")
        elif kind == "path":
            data = Path(str(params.get("path"))).read_bytes()
        elif kind == "url":
            data = b""
        else:
            raise ApiFailure(10003, f"不支持的上传方式 {kind}")
        file_id = uuid.uuid4().hex
        self.files[file_id] = UploadedFile(str(params.get("name") or file_id), data)
        return {"file_id": file_id}

    def api_get_file(self, params: dict) -> dict:
        f = self.files.get(str(params.get("file_id")))
        if f is None:
            raise ApiFailure(32001, "文件不存在")
        return {"name": f.name, "data": base64.b64encode(f.data).decode(), "type": "data"}

    def images(self, message: Any) -> list[bytes]:
        """The uploaded bytes behind each `image` segment of a sent message."""
        return [
            self.files[seg["data"]["file_id"]].data
            for seg in message or []
            if seg.get("type") == "image" and seg.get("data", {}).get("file_id") in self.files
        ]

    def api_delete_message(self, params: dict) -> None:
        return None


# ---- the bot process -----------------------------------------------------------------------


@dataclass
class BotProcess:
    """The bot as `make run` starts it: `python -m bot` in a folder with its own `.env`.

    `argv` may name another app started the same way (the echo bot of the benchmarks).
    Output goes to `folder/bot.log` (appended across restarts).
    """

    folder: Path | None = None
    token: str = ""
    superusers: tuple[str, ...] = ("10000",)
    host: str = "127.0.0.1"
    port: int = 0
    log_level: str = "INFO"
    env: dict[str, str] = field(default_factory=dict)
    argv: list[str] = field(default_factory=lambda: [sys.executable, "-m", "bot"])
    # KPI_DATABASE_URL; empty: a new scratch database (tools.testdb: SQLite in the folder,
    # or one on the PostgreSQL server of KPI_TEST_DATABASE_URL) made at the first start.
    database_url: str = ""
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="kpi-bot-"))
        self.folder = Path(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.host)

    @property
    def database(self) -> Path:
        """The SQLite file (when the bot runs on SQLite)."""
        assert self.folder is not None
        return self.folder / "kpi.db"

    async def rows(self, sql: str, **params: object) -> list[tuple]:
        """Read (or change) the bot's database directly, on either engine."""
        return await testdb.rows(self.database_url, sql, **params)

    @property
    def log_path(self) -> Path:
        assert self.folder is not None
        return self.folder / "bot.log"

    def dotenv(self) -> dict[str, str]:
        assert self.folder is not None
        return {
            "HOST": self.host,
            "PORT": str(self.port),
            "SUPERUSERS": json.dumps(list(self.superusers)),
            "ONEBOT_ACCESS_TOKEN": self.token,
            "KPI_DATABASE_URL": self.database_url,
            "KPI_DATA_DIR": str(self.folder / "data"),
            "KPI_TIMEZONE": "Asia/Shanghai",
            "LOG_LEVEL": self.log_level,
            **self.env,
        }

    def ws_url(self, version: str = "v11") -> str:
        return f"ws://{self.host}:{self.port}/onebot/{version}/ws"

    def log(self) -> str:
        return (
            self.log_path.read_text(encoding="utf-8", errors="replace")
            if self.log_path.exists()
            else ""
        )

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def start(self, timeout: float = 30.0) -> None:
        """Write `.env`, start the process, return once it accepts connections."""
        assert self.folder is not None
        if not self.database_url:
            self.database_url = await testdb.create_database(self.folder, "kpi")
        values = self.dotenv()
        (self.folder / ".env").write_text(
            "".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8"
        )
        env = {k: v for k, v in os.environ.items() if k.upper() not in values}
        for k in ("ENVIRONMENT", "DRIVER"):
            env.pop(k, None)
        env["PYTHONUNBUFFERED"] = "1"
        log = self.log_path.open("ab")
        # Popen only forks; the start-up is awaited below.
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            self.argv, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"bot exited with {self.proc.returncode} at start:\n{self.log()[-3000:]}"
                )
            try:
                _r, w = await asyncio.open_connection(self.host, self.port)
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
                return
            except OSError:
                await asyncio.sleep(0.05)
        self.kill()
        raise TimeoutError(
            f"bot did not open port {self.port} in {timeout}s:\n{self.log()[-3000:]}"
        )

    async def stop(self, timeout: float = 10.0) -> int | None:
        """Ctrl+C (SIGINT), as a person stops `make run`; SIGKILL if it hangs."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGINT)
        try:
            await asyncio.to_thread(self.proc.wait, timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        """`kill -9`: no shutdown hooks, no flushing."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    async def __aenter__(self) -> BotProcess:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
