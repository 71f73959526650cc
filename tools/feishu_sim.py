"""Feishu (open.feishu.cn) as `nonebot-adapter-feishu` uses it, for one self-built app.

Written from the adapter's own code (`nonebot/adapters/feishu/adapter.py`, `bot.py`,
`message.py`, `ws/`) and the platform's documentation (open.feishu.cn/document, the
server API and the event v2.0 schema):

- `POST /open-apis/auth/v3/tenant_access_token/internal` {app_id, app_secret} →
  tenant_access_token; every other call carries `Authorization: Bearer <token>`.
- `GET /open-apis/bot/v3/info` → the bot's name and open_id.
- Events (schema 2.0, `im.message.receive_v1`) reach the bot one of two ways, as the app is
  configured (`FEISHU_BOTS[].protocol`):
  - webhook (`http`): POSTed to the bot's `/feishu/<app_id>`, with the verification token in
    `header.token`, AES-256-CBC encrypted as `{"encrypt": …}` when an Encrypt Key is set, and
    the `X-Lark-Signature` headers; the URL is first checked with a `url_verification`
    challenge.
  - long connection (`ws`): `POST /callback/ws/endpoint` {AppID, AppSecret} → a WebSocket
    URL; protobuf `Frame`s (pbbp2: seq_id, log_id, service, method, headers, payload): the
    client pings (method 0, type ping) and gets pong with its ClientConfig, events arrive as
    method 1 type event (split in parts with `sum`/`seq` when `split` is set) and the client
    acks each with `{"code": 200}`.
- A bot gets a group message only when it is @-ed (unless `all_messages`, the
  im:message.group_msg scope); senders carry ids only (open_id, union_id, user_id), mentions
  carry `key` (`@_user_1`), id and name. Text is `{"text": "@_user_1 …"}`; text with a picture
  is one `post` (`{"title", "content": [[{tag: at|text|img …}]]}`); a picture alone is
  `image` {image_key}.
- `POST /open-apis/im/v1/messages?receive_id_type=chat_id|open_id`,
  `POST /open-apis/im/v1/messages/{id}/reply`, `GET /open-apis/im/v1/messages/{id}`,
  `POST /open-apis/im/v1/images` (multipart image_type=message, image) → image_key,
  `GET /open-apis/im/v1/messages/{id}/resources/{key}?type=image` → the bytes,
  `GET /open-apis/contact/v3/users/{open_id}` (and `/batch`) → names,
  `GET /open-apis/im/v1/chats/{chat_id}` → name and owner_id,
  `GET /open-apis/im/v1/chats/{chat_id}/members` → members with names.
  Errors as the platform answers them: HTTP 400 with `code` (230002 the bot is not in the
  chat, 230013 the user is outside the app's availability, 234001 bad image…).

    async with FeishuSim(protocol="ws") as fs:       # the bot's .env: fs.env()
        await fs.wait_connected()
        chat = fs.add_chat("售后群", owner=fs.add_user("老板"))
        print(await fs.say(chat, chat.owner, "/绑定 客服一组"))
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import os
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from Crypto.Cipher import AES
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tools.sim_server import PlatformSim, multipart_fields

TENANT = "736588c9260f175d"
_seq = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:28]}"


def _ms() -> str:
    return str(int(time.time() * 1000))


# ---- protobuf Frame (pbbp2.proto), by hand: the platform's wire format, not the adapter's code


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(num: int, wire: int, value: bytes | int) -> bytes:
    key = _varint((num << 3) | wire)
    if wire == 0:
        return key + _varint(int(value))
    data = value if isinstance(value, bytes) else str(value).encode()
    return key + _varint(len(data)) + data


@dataclass
class Frame:
    seq_id: int = 0
    log_id: int = 0
    service: int = 0
    method: int = 0  # 0 control (ping/pong), 1 data (event/card)
    headers: list[tuple[str, str]] = field(default_factory=list)
    payload: bytes = b""

    def header(self, key: str) -> str | None:
        return next((v for k, v in self.headers if k == key), None)

    def encode(self) -> bytes:
        out = [
            _field(1, 0, self.seq_id),
            _field(2, 0, self.log_id),
            _field(3, 0, self.service),
            _field(4, 0, self.method),
        ]
        for k, v in self.headers:
            out.append(_field(5, 2, _field(1, 2, k.encode()) + _field(2, 2, v.encode())))
        if self.payload:
            out.append(_field(8, 2, self.payload))
        return b"".join(out)

    @classmethod
    def decode(cls, raw: bytes) -> Frame:
        f = cls()
        for num, value in _fields(raw):
            if num == 1:
                f.seq_id = int(value)
            elif num == 2:
                f.log_id = int(value)
            elif num == 3:
                f.service = int(value)
            elif num == 4:
                f.method = int(value)
            elif num == 5:
                kv = dict(_fields(bytes(value)))  # type: ignore[arg-type]
                f.headers.append((bytes(kv[1]).decode(), bytes(kv[2]).decode()))
            elif num == 8:
                f.payload = bytes(value)  # type: ignore[arg-type]
        return f


def _fields(raw: bytes):
    i = 0
    while i < len(raw):
        key, i = _read_varint(raw, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(raw, i)
            yield num, value
        elif wire == 2:
            n, i = _read_varint(raw, i)
            yield num, raw[i : i + n]
            i += n
        else:
            raise ValueError(f"unsupported wire type {wire}")


def _read_varint(raw: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = raw[i]
        i += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, i
        shift += 7


# ---- people, chats, what was sent ----------------------------------------------------------


@dataclass
class User:
    """A person in the tenant: ids only in events; the name is the contact API's."""

    name: str
    open_id: str = field(default_factory=lambda: _id("ou"))
    union_id: str = field(default_factory=lambda: _id("on"))
    user_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    reachable: bool = True  # inside the app's availability: the bot may message them

    def ids(self) -> dict[str, str]:
        return {"union_id": self.union_id, "user_id": self.user_id, "open_id": self.open_id}


@dataclass
class Chat:
    name: str
    owner: User
    chat_id: str = field(default_factory=lambda: _id("oc"))
    members: dict[str, User] = field(default_factory=dict)
    bot_in: bool = True


@dataclass
class Sent:
    """One message the bot sent (or tried to)."""

    receive_id_type: str  # chat_id / open_id, or "reply"
    receive_id: str  # chat_id, open_id, or the message replied to
    chat_id: str | None
    msg_type: str
    content: dict[str, Any]
    text: str
    images: list[bytes]
    reply_to: str | None
    code: int = 0

    @property
    def ok(self) -> bool:
        return self.code == 0


@dataclass
class _Message:
    message_id: str
    chat_id: str
    chat_type: str
    sender: dict[str, Any]
    msg_type: str
    content: dict[str, Any]
    mentions: list[dict[str, Any]]
    images: dict[str, bytes]
    parent_id: str | None = None


class FeishuSim(PlatformSim):
    """The platform side of one Feishu self-built app (its bot)."""

    def __init__(
        self,
        app_id: str | None = None,
        app_secret: str = "feishu-sim-secret",
        *,
        protocol: str = "ws",
        verification_token: str = "feishu-sim-verify",
        encrypt_key: str | None = None,
        bot_name: str = "绩效助手",
        host: str = "127.0.0.1",
        port: int = 0,
        all_messages: bool = False,
        ping_interval: int = 120,
        split: int = 1,
    ) -> None:
        self.app_id = app_id or f"cli_{uuid.uuid4().hex[:16]}"
        self.app_secret = app_secret
        self.protocol = protocol
        self.verification_token = verification_token
        self.encrypt_key = encrypt_key
        self.bot = User(bot_name)
        self.all_messages = all_messages
        self.ping_interval = ping_interval
        self.split = split
        self.users: dict[str, User] = {self.bot.open_id: self.bot}
        self.chats: dict[str, Chat] = {}
        self.messages: dict[str, _Message] = {}
        self.images: dict[str, bytes] = {}  # image_key → bytes (uploads and pasted pictures)
        self.files: dict[str, tuple[str, bytes]] = {}  # file_key → (file name, bytes)
        self.api_calls: list[tuple[str, str]] = []  # (method, path) of every API call
        self.pings = 0
        self.acks: list[dict[str, Any]] = []
        self.webhook_url: str | None = None  # the bot's event URL (webhook mode)
        self._tokens: set[str] = set()
        self._ws_ready = asyncio.Event()
        self._service_id = 1000 + next(_seq)
        oa = "/open-apis"
        super().__init__(
            [
                Route(f"{oa}/auth/v3/tenant_access_token/internal", self._token, methods=["POST"]),
                Route(f"{oa}/bot/v3/info", self._bot_info, methods=["GET"]),
                Route(f"{oa}/im/v1/messages", self._send, methods=["POST"]),
                Route(f"{oa}/im/v1/messages/{{mid}}/reply", self._reply, methods=["POST"]),
                Route(f"{oa}/im/v1/messages/{{mid}}", self._get_message, methods=["GET"]),
                Route(
                    f"{oa}/im/v1/messages/{{mid}}/resources/{{key}}",
                    self._resource,
                    methods=["GET"],
                ),
                Route(f"{oa}/im/v1/images", self._upload_image, methods=["POST"]),
                Route(f"{oa}/im/v1/files", self._upload_file, methods=["POST"]),
                Route(f"{oa}/contact/v3/users/batch", self._users_batch, methods=["GET"]),
                Route(f"{oa}/contact/v3/users/{{uid}}", self._user, methods=["GET"]),
                Route(f"{oa}/im/v1/chats/{{cid}}/members", self._members, methods=["GET"]),
                Route(f"{oa}/im/v1/chats/{{cid}}", self._chat, methods=["GET"]),
                Route("/callback/ws/endpoint", self._ws_endpoint, methods=["POST"]),
                WebSocketRoute("/ws", self._ws_conn),
            ],
            host,
            port,
        )
        self.sent: list[Sent] = []

    @property
    def api_base(self) -> str:
        return self.server.base

    def env(self) -> dict[str, str]:
        """The `.env` keys that point `nonebot-adapter-feishu` at this simulator."""
        bot: dict[str, Any] = {
            "app_id": self.app_id,
            "app_secret": self.app_secret,
            "verification_token": self.verification_token,
            "protocol": self.protocol,
        }
        if self.encrypt_key:
            bot["encrypt_key"] = self.encrypt_key
        return {"FEISHU_BOTS": json.dumps([bot]), "FEISHU_API_BASE": self.api_base}

    def use_webhook(self, bot_base: str) -> None:
        """Webhook mode: events go to the bot's `/feishu/<app_id>` on `bot_base`."""
        self.webhook_url = f"{bot_base.rstrip('/')}/feishu/{self.app_id}"

    async def wait_connected(self, timeout: float = 20.0) -> None:
        """Long connection: until the bot has opened it. Webhook: until the URL answers the
        platform's url_verification challenge (as the console checks it)."""
        if self.protocol == "ws":
            await asyncio.wait_for(self._ws_ready.wait(), timeout)
            return
        assert self.webhook_url, "use_webhook(bot_base) first"
        challenge = secrets.token_hex(8)
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = await self._post_webhook(
                    {
                        "challenge": challenge,
                        "token": self.verification_token,
                        "type": "url_verification",
                    }
                )
                if r.status_code == 200 and r.json().get("challenge") == challenge:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the bot's webhook did not answer the challenge")
            await asyncio.sleep(0.2)

    # ---- people and chats ------------------------------------------------------------------

    def add_user(self, name: str) -> User:
        u = User(name)
        self.users[u.open_id] = u
        return u

    def add_chat(self, name: str = "客服群", owner: User | None = None) -> Chat:
        owner = owner or self.add_user("群主")
        c = Chat(name, owner)
        c.members[owner.open_id] = owner
        self.chats[c.chat_id] = c
        return c

    def join(self, chat: Chat, *users: User) -> None:
        for u in users:
            chat.members[u.open_id] = u

    def name_of(self, open_id: str) -> str:
        u = self.users.get(open_id)
        return u.name if u else open_id

    @staticmethod
    def picture(data: bytes) -> tuple[str, bytes]:
        """A pasted picture: put it in a message's parts."""
        return ("img", data)

    # ---- events ----------------------------------------------------------------------------

    def message_event(
        self,
        chat: Chat | None,
        sender: User,
        *parts: str | User | tuple[str, bytes],
        at_bot: bool = True,
    ) -> tuple[dict[str, Any], _Message]:
        """`im.message.receive_v1` as the platform writes it. Parts: text, a `User` (an @),
        `picture(bytes)`. In a group the bot's @ comes first (how people address it)."""
        if chat is not None:
            self.join(chat, sender)
        mentioned: list[User] = ([self.bot] if at_bot and chat is not None else []) + [
            p for p in parts if isinstance(p, User)
        ]
        mentions, keys = [], {}
        for i, u in enumerate(mentioned, 1):
            keys[u.open_id] = f"@_user_{i}"
            mentions.append(
                {"key": f"@_user_{i}", "id": u.ids(), "name": u.name, "tenant_key": TENANT}
            )
        nodes: list[dict[str, Any]] = []  # one line of a post
        images: dict[str, bytes] = {}
        if at_bot and chat is not None:
            nodes.append(
                {"tag": "at", "user_id": keys[self.bot.open_id], "user_name": self.bot.name}
            )
            nodes.append({"tag": "text", "text": " "})
        for p in parts:
            if isinstance(p, str):
                nodes.append({"tag": "text", "text": p})
            elif isinstance(p, User):
                nodes.append({"tag": "at", "user_id": keys[p.open_id], "user_name": p.name})
            else:
                key = f"img_v3_{uuid.uuid4().hex[:24]}"
                images[key] = p[1]
                self.images[key] = p[1]
                nodes.append({"tag": "img", "image_key": key, "width": 64, "height": 64})
        if images and all(n["tag"] == "img" for n in nodes):
            msg_type, content = "image", {"image_key": next(iter(images))}
        elif images:
            lines: list[list[dict[str, Any]]] = [[]]
            for n in nodes:
                if n["tag"] == "img":
                    lines.append([n])
                    lines.append([])
                else:
                    n.setdefault("style", [])
                    lines[-1].append(n)
            msg_type = "post"
            content = {"title": "", "content": [line for line in lines if line]}
        else:
            text = "".join(n["text"] if n["tag"] == "text" else n["user_id"] for n in nodes)
            msg_type, content = "text", {"text": text}
        message_id = f"om_{uuid.uuid4().hex}"
        chat_id = chat.chat_id if chat is not None else f"oc_p2p_{sender.open_id}"
        msg = _Message(
            message_id,
            chat_id,
            "group" if chat is not None else "p2p",
            {"sender_id": sender.ids(), "sender_type": "user", "tenant_key": TENANT},
            msg_type,
            content,
            mentions,
            images,
        )
        self.messages[message_id] = msg
        message: dict[str, Any] = {
            "message_id": message_id,
            "create_time": _ms(),
            "update_time": _ms(),
            "chat_id": chat_id,
            "chat_type": msg.chat_type,
            "message_type": msg_type,
            "content": json.dumps(content, ensure_ascii=False),
        }
        if mentions:
            message["mentions"] = mentions
        event = {
            "schema": "2.0",
            "header": {
                "event_id": uuid.uuid4().hex,
                "event_type": "im.message.receive_v1",
                "create_time": _ms(),
                "token": self.verification_token,
                "app_id": self.app_id,
                "tenant_key": TENANT,
            },
            "event": {"sender": msg.sender, "message": message},
        }
        return event, msg

    async def deliver(self, event: dict[str, Any]) -> None:
        """Hand an event to the bot the way the app is configured."""
        if self.protocol == "ws":
            await self._push_ws(event)
        else:
            r = await self._post_webhook(event)
            if r.status_code != 200:
                raise RuntimeError(f"the bot's webhook answered {r.status_code}: {r.text}")

    async def post(
        self, chat: Chat | None, sender: User, *parts, at_bot: bool = True
    ) -> str | None:
        """Send a message; its message_id, or None when the platform does not deliver it to
        the bot (a group message that does not @ it, without the all-messages scope)."""
        event, msg = self.message_event(chat, sender, *parts, at_bot=at_bot)
        if chat is not None and not at_bot and not self.all_messages:
            return None
        await self.deliver(event)
        return msg.message_id

    async def say(
        self,
        chat: Chat,
        sender: User,
        *parts: str | User | tuple[str, bytes],
        expect: int = 1,
        linger: float = 0.0,
        timeout: float = 10.0,
    ) -> list[str]:
        """A group message at the bot; the bot's messages to that chat after it, as text."""
        return await self._converse(chat.chat_id, chat, sender, parts, expect, linger, timeout)

    async def say_private(
        self, sender: User, *parts, expect: int = 1, linger: float = 0.0, timeout: float = 10.0
    ) -> list[str]:
        return await self._converse(sender.open_id, None, sender, parts, expect, linger, timeout)

    async def _converse(self, where, chat, sender, parts, expect, linger, timeout) -> list[str]:
        start = len(self.sent)

        def got() -> list[Sent]:
            return [s for s in self.sent[start:] if s.ok and where in (s.chat_id, s.receive_id)]

        await self.post(chat, sender, *parts)
        return [s.text for s in await self._collect(got, expect, linger, timeout)]

    # ---- webhook delivery ------------------------------------------------------------------

    def _encrypt(self, body: bytes) -> bytes:
        assert self.encrypt_key
        key = hashlib.sha256(self.encrypt_key.encode()).digest()
        iv = os.urandom(16)
        pad = 16 - len(body) % 16
        cipher = AES.new(key, AES.MODE_CBC, iv)
        return base64.b64encode(iv + cipher.encrypt(body + bytes([pad]) * pad))

    async def _post_webhook(self, payload: dict[str, Any]) -> httpx.Response:
        assert self.webhook_url, "use_webhook(bot_base) first"
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.encrypt_key:
            body = json.dumps({"encrypt": self._encrypt(body).decode()}).encode()
            ts, nonce = str(int(time.time())), secrets.token_hex(8)
            sign = hashlib.sha256((ts + nonce + self.encrypt_key).encode() + body).hexdigest()
            headers |= {
                "X-Lark-Request-Timestamp": ts,
                "X-Lark-Request-Nonce": nonce,
                "X-Lark-Signature": sign,
            }
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.webhook_url, content=body, headers=headers)

    # ---- long connection -------------------------------------------------------------------

    async def _ws_endpoint(self, request: Request) -> Response:
        body = await request.json()
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return JSONResponse({"code": 1000040351, "msg": "app secret invalid"})
        ws = self.server.base.replace("http://", "ws://")
        device = uuid.uuid4().hex
        return JSONResponse(
            {
                "code": 0,
                "msg": "ok",
                "data": {
                    "URL": f"{ws}/ws?device_id={device}&service_id={self._service_id}",
                    "ClientConfig": self._client_config(),
                },
            }
        )

    def _client_config(self) -> dict[str, int]:
        return {
            "ReconnectCount": -1,
            "ReconnectInterval": 120,
            "ReconnectNonce": 30,
            "PingInterval": self.ping_interval,
        }

    async def _ws_conn(self, ws: WebSocket) -> None:
        if ws.query_params.get("service_id") != str(self._service_id):
            await ws.close(1008)
            return
        await ws.accept()
        self._ws = ws
        self._ws_ready.set()
        try:
            while True:
                raw = await ws.receive_bytes()
                frame = Frame.decode(raw)
                kind = frame.header("type")
                if frame.method == 0 and kind == "ping":
                    self.pings += 1
                    pong = Frame(0, 0, frame.service, 0, [("type", "pong")])
                    pong.payload = json.dumps(self._client_config()).encode()
                    await ws.send_bytes(pong.encode())
                elif frame.method == 1:
                    self.acks.append(
                        {
                            "message_id": frame.header("message_id"),
                            "biz_rt": frame.header("biz_rt"),
                            "payload": json.loads(frame.payload or b"{}"),
                        }
                    )
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                self._ws_ready.clear()

    async def _push_ws(self, event: dict[str, Any]) -> None:
        if self._ws is None:
            raise RuntimeError("the bot has no long connection open")
        payload = json.dumps(event, ensure_ascii=False).encode()
        n = max(1, min(self.split, len(payload)))
        size = -(-len(payload) // n)
        parts = [payload[i * size : (i + 1) * size] for i in range(n)]
        message_id = uuid.uuid4().hex
        for seq, part in enumerate(parts):
            frame = Frame(
                next(_seq),
                next(_seq),
                self._service_id,
                1,
                [
                    ("type", "event"),
                    ("message_id", message_id),
                    ("sum", str(n)),
                    ("seq", str(seq)),
                    ("trace_id", uuid.uuid4().hex),
                ],
                part,
            )
            await self._ws.send_bytes(frame.encode())

    # ---- the open API ----------------------------------------------------------------------

    def _authorized(self, request: Request) -> bool:
        self.api_calls.append((request.method, request.url.path))
        self._peer(request)
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth.removeprefix("Bearer ") in self._tokens

    @staticmethod
    def _error(code: int, msg: str, status: int = 400) -> Response:
        return JSONResponse({"code": code, "msg": msg}, status_code=status)

    @staticmethod
    def _ok(data: Any = None, **extra: Any) -> Response:
        body: dict[str, Any] = {"code": 0, "msg": "success", **extra}
        if data is not None:
            body["data"] = data
        return JSONResponse(body)

    async def _token(self, request: Request) -> Response:
        body = await request.json()
        if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
            return JSONResponse({"code": 10014, "msg": "app secret invalid"})
        token = f"t-{secrets.token_hex(20)}"
        self._tokens.add(token)
        return JSONResponse({"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200})

    async def _bot_info(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.", 400)
        return JSONResponse(
            {
                "code": 0,
                "msg": "ok",
                "bot": {
                    "activate_status": 2,
                    "app_name": self.bot.name,
                    "avatar_url": "https://s1-imfile.feishucdn.com/static-resource/v1/bot.png",
                    "ip_white_list": [],
                    "open_id": self.bot.open_id,
                },
            }
        )

    def _message_body(self, m: _Message) -> dict[str, Any]:
        sender = (
            {"id": self.app_id, "id_type": "app_id", "sender_type": "app", "tenant_key": TENANT}
            if m.sender.get("sender_type") == "app"
            else {
                "id": m.sender["sender_id"]["open_id"],
                "id_type": "open_id",
                "sender_type": "user",
                "tenant_key": TENANT,
            }
        )
        return {
            "message_id": m.message_id,
            "parent_id": m.parent_id,
            "msg_type": m.msg_type,
            "create_time": _ms(),
            "update_time": _ms(),
            "deleted": False,
            "updated": False,
            "chat_id": m.chat_id,
            "sender": sender,
            "body": {"content": json.dumps(m.content, ensure_ascii=False)},
            "mentions": [
                {
                    "id": x["id"]["open_id"],
                    "id_type": "open_id",
                    "key": x["key"],
                    "name": x["name"],
                    "tenant_key": TENANT,
                }
                for x in m.mentions
            ],
        }

    async def _store_sent(
        self,
        receive_id_type: str,
        receive_id: str,
        chat_id: str | None,
        body: dict[str, Any],
        reply_to: str | None,
    ) -> Response:
        msg_type = str(body.get("msg_type") or "")
        try:
            content = json.loads(body.get("content") or "")
        except ValueError:
            return self._error(230001, "Your request contains an invalid request parameter.")
        images: list[bytes] = []
        for key in _image_keys(msg_type, content):
            if key not in self.images:
                return self._error(234001, "Invalid request param: image_key.")
            images.append(self.images[key])
        if msg_type == "file" and content.get("file_key") not in self.files:
            return self._error(234001, "Invalid request param: file_key.")
        if msg_type not in {"text", "post", "image", "interactive", "file", "share_chat"}:
            return self._error(230001, f"invalid msg_type {msg_type}")
        sent = Sent(
            receive_id_type,
            receive_id,
            chat_id,
            msg_type,
            content,
            self.readable(msg_type, content),
            images,
            reply_to,
        )
        self.sent.append(sent)
        m = _Message(
            f"om_{uuid.uuid4().hex}",
            chat_id or receive_id,
            "group" if receive_id_type == "chat_id" else "p2p",
            {"sender_type": "app"},
            msg_type,
            content,
            [],
            {},
            parent_id=reply_to,
        )
        self.messages[m.message_id] = m
        await self._notify()
        return self._ok(self._message_body(m))

    def _refused(self, *args: Any, code: int) -> None:
        rtype, rid, chat_id, body, reply_to = args
        self.sent.append(
            Sent(rtype, rid, chat_id, str(body.get("msg_type")), {}, "", [], reply_to, code)
        )
        self._notify_soon()

    async def _send(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        rtype = request.query_params.get("receive_id_type")
        body = await request.json()
        rid = str(body.get("receive_id") or "")
        if rtype == "chat_id":
            chat = self.chats.get(rid)
            if chat is None or not chat.bot_in:
                self._refused(rtype, rid, rid, body, None, code=230002)
                return self._error(230002, "Bot/User can NOT be out of the chat.")
            return await self._store_sent(rtype, rid, rid, body, None)
        if rtype == "open_id":
            user = self.users.get(rid)
            if user is None or not user.reachable:
                self._refused(rtype, rid, None, body, None, code=230013)
                return self._error(230013, "Bot has NO availability to this user.")
            return await self._store_sent(rtype, rid, None, body, None)
        return self._error(99992402, "field validation failed: receive_id_type")

    async def _reply(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        mid = request.path_params["mid"]
        m = self.messages.get(mid)
        if m is None:
            return self._error(230011, "The message was withdrawn or not found.")
        body = await request.json()
        rtype = "chat_id" if m.chat_type == "group" else "open_id"
        rid = m.chat_id if m.chat_type == "group" else m.sender["sender_id"]["open_id"]
        return await self._store_sent(
            rtype, rid, m.chat_id if m.chat_type == "group" else None, body, mid
        )

    async def _get_message(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        m = self.messages.get(request.path_params["mid"])
        if m is None:
            return self._error(230011, "The message was withdrawn or not found.")
        return self._ok({"items": [self._message_body(m)]})

    async def _resource(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        m = self.messages.get(request.path_params["mid"])
        key = request.path_params["key"]
        if m is None or key not in m.images or request.query_params.get("type") != "image":
            return self._error(234003, "File not in msg.")
        data = m.images[key]  # the file's own type, as the platform says it
        kind = "image/jpeg" if data.startswith(b"\xff\xd8") else "image/png"
        return Response(data, media_type=kind)

    async def _upload_image(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        fields = multipart_fields(request.headers.get("content-type", ""), await request.body())
        kind = fields.get("image_type", (None, b""))[1].decode()
        data = fields.get("image", (None, b""))[1]
        if kind not in ("message", "avatar") or not data:
            return self._error(234001, "Invalid request param.")
        if not (data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8")):
            return self._error(234011, "Can't recognise image format.")
        key = f"img_v3_{uuid.uuid4().hex[:24]}"
        self.images[key] = data
        return self._ok({"image_key": key})

    async def _upload_file(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        fields = multipart_fields(request.headers.get("content-type", ""), await request.body())
        kind = fields.get("file_type", (None, b""))[1].decode()
        name = fields.get("file_name", (None, b""))[1].decode()
        data = fields.get("file", (None, b""))[1]
        if (
            kind not in {"opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"}
            or not name
            or not data
        ):
            return self._error(234001, "Invalid request param.")
        key = f"file_v3_{uuid.uuid4().hex[:24]}"
        self.files[key] = (name, data)
        return self._ok({"file_key": key})

    def _user_body(self, u: User) -> dict[str, Any]:
        return {**u.ids(), "name": u.name, "en_name": "", "nickname": ""}

    async def _user(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        u = self.users.get(request.path_params["uid"])
        if u is None or request.query_params.get("user_id_type", "open_id") != "open_id":
            return self._error(41050, "no user authority error")
        return self._ok({"user": self._user_body(u)})

    async def _users_batch(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        ids = request.query_params.getlist("user_ids")
        return self._ok({"items": [self._user_body(self.users[i]) for i in ids if i in self.users]})

    async def _chat(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        c = self.chats.get(request.path_params["cid"])
        if c is None or not c.bot_in:
            return self._error(232011, "Operator can NOT be out of the chat.")
        return self._ok(
            {
                "avatar": "",
                "name": c.name,
                "description": "",
                "owner_id": c.owner.open_id,
                "owner_id_type": "open_id",
                "chat_mode": "group",
                "chat_type": "private",
                "user_count": str(len(c.members)),
                "bot_count": "1",
                "tenant_key": TENANT,
            }
        )

    async def _members(self, request: Request) -> Response:
        """Chat members a page at a time (page_size ≤ 100, default 20; page_token)."""
        if not self._authorized(request):
            return self._error(99991663, "Invalid access token for authorization.")
        c = self.chats.get(request.path_params["cid"])
        if c is None or not c.bot_in:
            return self._error(232011, "Operator can NOT be out of the chat.")
        size = min(100, int(request.query_params.get("page_size") or 20))
        start = int(request.query_params.get("page_token") or 0)
        members = list(c.members.values())
        items = [
            {
                "member_id_type": "open_id",
                "member_id": u.open_id,
                "name": u.name,
                "tenant_key": TENANT,
            }
            for u in members[start : start + size]
        ]
        more = start + size < len(members)
        return self._ok(
            {
                "items": items,
                "page_token": str(start + size) if more else "",
                "has_more": more,
                "member_total": len(members),
            }
        )

    # ---- reading what the bot sent ---------------------------------------------------------

    def readable(self, msg_type: str, content: dict[str, Any]) -> str:
        """What a person reads: @ as @name, pictures as [图片]."""

        def at(uid: str) -> str:
            return "@" + ("所有人" if uid == "all" else self.name_of(uid))

        if msg_type == "text":
            text = str(content.get("text", ""))
            return re.sub(r"<at user_id=\"([^\"]+)\">[^<]*</at>", lambda m: at(m.group(1)), text)
        if msg_type == "image":
            return "[图片]"
        if msg_type == "file":
            name = self.files.get(str(content.get("file_key")), ("",))[0]
            return f"[文件] {name}".rstrip()
        if msg_type == "post":
            body = content.get("zh_cn") or content.get("en_us") or content
            lines = []
            for line in body.get("content") or []:
                out = []
                for node in line:
                    tag = node.get("tag")
                    if tag == "text":
                        out.append(str(node.get("text", "")))
                    elif tag == "a":
                        out.append(str(node.get("text") or node.get("href", "")))
                    elif tag == "at":
                        out.append(at(str(node.get("user_id", ""))))
                    elif tag == "img":
                        out.append("[图片]")
                    else:
                        out.append(f"[{tag}]")
                lines.append("".join(out))
            title = body.get("title") or ""
            return "\n".join(([title] if title else []) + lines)
        return f"[{msg_type}]"


def _image_keys(msg_type: str, content: dict[str, Any]) -> list[str]:
    if msg_type == "image":
        return [str(content.get("image_key", ""))]
    if msg_type == "post":
        body = content.get("zh_cn") or content.get("en_us") or content
        return [
            str(n.get("image_key", ""))
            for line in body.get("content") or []
            for n in line
            if n.get("tag") == "img"
        ]
    return []
