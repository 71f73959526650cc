"""The official QQ bot API (api.sgroup.qq.com / bots.qq.com) as `nonebot-adapter-qq` uses it.

Written from the adapter's own code (`nonebot/adapters/qq/adapter.py`, `bot.py`, `models/`)
and the platform's documentation (bot.q.qq.com/wiki, api-v2):

- `POST /app/getAppAccessToken` {appId, clientSecret} → {access_token, expires_in} (the
  adapter's `QQ_AUTH_BASE`); every other call carries `Authorization: QQBot <token>` and
  `X-Union-Appid`, refused with 401 otherwise.
- `GET /gateway/bot` → the WebSocket URL, shards and the session-start limit.
- The gateway: Hello (op 10, heartbeat_interval) → Identify (op 2, token, intents, shard) →
  Ready (op 0 `READY`, session_id, the bot user); Heartbeat (op 1) → Heartbeat ACK (op 11);
  Resume (op 6) → `RESUMED`; dispatches (op 0, `s` counting up) `GROUP_AT_MESSAGE_CREATE`
  and `C2C_MESSAGE_CREATE`. Group and C2C events go only to a session that identified with
  the group/C2C intent (`1 << 25`), as the platform does.
- Webhook mode instead of the gateway (`protocol="webhook"`; `"use_websocket": false` in
  `QQ_BOTS`): the platform POSTs each payload to the bot's callback URL (`/qq/webhook`)
  with `X-Bot-Appid`, `X-Signature-Timestamp` and `X-Signature-Ed25519`: an Ed25519
  signature of timestamp + body by the key whose 32-byte seed is the AppSecret repeated.
  The URL is first checked (op 13 {plain_token, event_ts}): the bot answers
  {plain_token, signature of event_ts + plain_token}, and must answer every callback with
  200 or 204 within 3 s. Events go to a webhook as subscribed in the console (no intents).
- Users are openids: in a group a person is `member_openid` (with `member_role`), in C2C the
  same person is another id, `user_openid`; `union_openid` is the same in both. No QQ numbers.
  A name comes with each mention (`username`); the author of a group message carries one
  only with `author_names` (the adapter's model has the field; whether the platform fills
  it is not documented).
- `POST /v2/groups/{group_openid}/messages`, `/v2/users/{openid}/messages` (msg_type 0 text,
  7 media with `media.file_info`), `POST /v2/groups/{group_openid}/files`,
  `/v2/users/{openid}/files` (file_type 1 image; `url` or base64 `file_data`) → file_info.
- Quotes: every message has a `msg_idx` (`REFIDX_…`, in `message_scene.ext`; a bot's send
  answers it in `ext_info.ref_idx`); a message quoting one is `message_type` 103 with
  `ref_msg_idx=` in `message_scene.ext` and the quoted message in `msg_elements`.
- A reply names `msg_id` (or `event_id`); a group reply counts within 5 minutes of the
  message (C2C: 60), at most 5 per message, each `msg_seq` once. A send with neither is a
  proactive message: allowed `proactive_quota` times per target (the platform's old "4 a
  month"; today's platform refuses them: quota 0, the default) and refused with HTTP 400
  `{"code": 40034102, "message": "主动消息失败, 无权限"}` beyond it. C2C goes only to a
  `user_openid` of someone who has talked to the bot privately.

    async with QQOfficialSim() as qq:            # start the bot with qq.env() in its .env
        await qq.wait_ready()
        g = qq.add_group("售后群")
        boss = qq.add_member(g, "老板", role="owner")
        print(await qq.say(g, boss, "/绑定 客服一组"))
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tools.sim_server import PlatformSim

GROUP_AND_C2C_INTENT = 1 << 25
PROACTIVE_REFUSED = {"code": 40034102, "err_code": 40034102, "message": "主动消息失败, 无权限"}
CST = timezone(timedelta(hours=8))

_ids = itertools.count(int(time.time() * 1000) % 10**9)


def _openid() -> str:
    return uuid.uuid4().hex.upper()


def _msg_id() -> str:
    return f"ROBOT1.0_{secrets.token_urlsafe(24)}"


def _ref_idx() -> str:
    return f"REFIDX_{base64.b64encode(secrets.token_bytes(16)).decode()}"


@dataclass
class Person:
    """Someone who talks to the bot: their openids are per bot app, never a QQ number."""

    name: str
    member_openid: str = field(default_factory=_openid)
    user_openid: str = field(default_factory=_openid)
    union_openid: str = field(default_factory=_openid)
    c2c: bool = False  # has added the bot / talked to it privately (C2C reaches them)


@dataclass
class Group:
    name: str
    group_openid: str = field(default_factory=_openid)
    roles: dict[str, str] = field(default_factory=dict)  # member_openid → owner/admin/member
    members: dict[str, Person] = field(default_factory=dict)


@dataclass
class Picture:
    """A picture a person pastes: served by the simulator at `url`."""

    data: bytes
    filename: str = "evidence.png"
    content_type: str = "image/png"


@dataclass(frozen=True)
class Quote:
    """A part of `group_message`: the message replies to (quotes) the one `ref_idx` names."""

    ref_idx: str


@dataclass
class Sent:
    """One message the bot sent, as the platform took it (or refused it)."""

    scope: str  # "group" or "c2c"
    target: str  # group_openid or user_openid
    body: dict[str, Any]
    text: str  # what a person reads: content with <@openid> as @name, media as [图片]
    images: list[bytes]
    reply_to: str | None  # msg_id (or event_id) it answers; None: proactive
    status: int = 200
    error: dict[str, Any] | None = None
    ref_idx: str | None = None  # how a quote of this message names it (`quote(…)`)

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class _Inbound:
    scope: str
    target: str
    at: float
    replies: int = 0
    seqs: set[int] = field(default_factory=set)


class QQOfficialSim(PlatformSim):
    """The platform side of the official QQ bot API, for one bot app."""

    def __init__(
        self,
        appid: str = "102000001",
        secret: str = "qqbot-sim-secret",
        *,
        bot_name: str = "绩效助手",
        host: str = "127.0.0.1",
        port: int = 0,
        proactive_quota: int = 0,
        heartbeat_interval_ms: int = 41250,
        group_reply_window: float = 300.0,
        c2c_reply_window: float = 3600.0,
        author_names: bool = False,
        protocol: str = "ws",
    ) -> None:
        assert protocol in ("ws", "webhook"), protocol
        self.protocol = protocol
        self.webhook_url: str | None = None  # the bot's callback URL (webhook mode)
        self.webhook_answers: list[int] = []  # the HTTP status of each callback
        self.appid = appid
        self.secret = secret
        self.bot_name = bot_name
        self.bot_id = str(next(_ids) + 10**15)
        self.proactive_quota = proactive_quota
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.group_reply_window = group_reply_window
        self.c2c_reply_window = c2c_reply_window
        self.author_names = author_names  # group events name their author (`username`)
        self.groups: dict[str, Group] = {}
        self.people: dict[str, Person] = {}  # by any of their openids
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats = 0
        self.token_requests = 0
        self.files: dict[str, bytes] = {}  # file_info → bytes
        self.pictures: dict[str, Picture] = {}
        self.elements: dict[str, dict[str, Any]] = {}
        self.last_ref: str | None = (
            None  # ref_idx of the last message `post` sent  # ref_idx → the message as a quote shows it
        )
        self._tokens: dict[str, float] = {}  # access_token → expiry (monotonic)
        self._inbound: dict[str, _Inbound] = {}  # msg_id / event_id → reply accounting
        self._proactive_used: dict[str, int] = {}
        self._sessions: dict[str, dict[str, Any]] = {}  # session_id → {intents, seq}
        self._session_id: str | None = None
        self._seq = 0
        self._ready = asyncio.Event()
        super().__init__(
            [
                Route("/app/getAppAccessToken", self._token, methods=["POST"]),
                Route("/gateway/bot", self._gateway_bot, methods=["GET"]),
                Route("/gateway", self._gateway, methods=["GET"]),
                Route("/users/@me", self._me, methods=["GET"]),
                Route("/v2/groups/{openid}/messages", self._group_message, methods=["POST"]),
                Route("/v2/users/{openid}/messages", self._c2c_message, methods=["POST"]),
                Route("/v2/groups/{openid}/files", self._group_file, methods=["POST"]),
                Route("/v2/users/{openid}/files", self._c2c_file, methods=["POST"]),
                Route("/download/{name}", self._download, methods=["GET"]),
                WebSocketRoute("/websocket", self._gateway_ws),
            ],
            host,
            port,
        )
        self.sent: list[Sent] = []

    @property
    def api_base(self) -> str:
        return self.server.base + "/"

    @property
    def auth_base(self) -> str:
        return self.server.base + "/app/getAppAccessToken"

    def env(self, *, intents: dict[str, bool] | None = None) -> dict[str, str]:
        """The `.env` keys that point `nonebot-adapter-qq` at this simulator."""
        intent = {"c2c_group_at_messages": True} if intents is None else intents
        bot: dict[str, Any] = {"id": self.appid, "secret": self.secret, "intent": intent}
        if self.protocol == "webhook":
            bot["use_websocket"] = False
        bots = [bot]
        return {
            "QQ_BOTS": json.dumps(bots),
            "QQ_API_BASE": self.api_base,
            "QQ_AUTH_BASE": self.auth_base,
        }

    def use_webhook(self, bot_base: str) -> None:
        """Webhook mode: payloads go to the bot's `/qq/webhook` on `bot_base`."""
        self.webhook_url = f"{bot_base.rstrip('/')}/qq/webhook"

    async def wait_ready(self, timeout: float = 20.0) -> None:
        """Until the bot has identified (or resumed) on the gateway; in webhook mode, until
        its callback URL answers the platform's check (op 13) with the right signature."""
        if self.protocol == "ws":
            await asyncio.wait_for(self._ready.wait(), timeout)
            return
        assert self.webhook_url, "use_webhook(bot_base) first"
        deadline = time.monotonic() + timeout
        while not await self._verify_webhook():
            if time.monotonic() > deadline:
                raise TimeoutError("the bot's callback URL did not pass the check")
            await asyncio.sleep(0.2)
        self._ready.set()

    @property
    def connected(self) -> bool:
        if self.protocol == "webhook":
            return self._ready.is_set()
        return self._ws is not None and self._ready.is_set()

    # ---- webhook mode ----------------------------------------------------------------------

    def _key(self) -> Ed25519PrivateKey:
        seed = self.secret.encode()
        while len(seed) < 32:
            seed += seed
        return Ed25519PrivateKey.from_private_bytes(seed[:32])

    async def _callback(self, payload: dict[str, Any], *, forged: bool = False) -> httpx.Response:
        """POST a payload to the callback URL, signed as the platform signs it (`forged`:
        by another key, as someone who does not know the AppSecret)."""
        assert self.webhook_url, "use_webhook(bot_base) first"
        key = Ed25519PrivateKey.generate() if forged else self._key()
        body = json.dumps(payload, ensure_ascii=False).encode()
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "QQBot-Callback",
            "X-Bot-Appid": self.appid,
            "X-Signature-Method": "Ed25519",
            "X-Signature-Timestamp": ts,
            "X-Signature-Ed25519": key.sign(ts.encode() + body).hex(),
        }
        async with httpx.AsyncClient(timeout=3) as client:
            r = await client.post(self.webhook_url, content=body, headers=headers)
        self.webhook_answers.append(r.status_code)
        return r

    async def _verify_webhook(self) -> bool:
        token, ts = secrets.token_urlsafe(16), str(int(time.time()))
        try:
            r = await self._callback({"op": 13, "d": {"plain_token": token, "event_ts": ts}})
            answer = r.json()
            signature = bytes.fromhex(str(answer.get("signature", "")))
            self._key().public_key().verify(signature, (ts + token).encode())
        except Exception:
            return False
        return answer.get("plain_token") == token

    # ---- people and groups -----------------------------------------------------------------

    def add_group(self, name: str = "客服群") -> Group:
        g = Group(name)
        self.groups[g.group_openid] = g
        return g

    def add_member(self, group: Group, name: str, role: str = "member", person=None) -> Person:
        p = person or Person(name)
        group.members[p.member_openid] = p
        group.roles[p.member_openid] = role
        for oid in (p.member_openid, p.user_openid, p.union_openid):
            self.people[oid] = p
        return p

    def set_role(self, group: Group, person: Person, role: str) -> None:
        group.roles[person.member_openid] = role

    def name_of(self, openid: str) -> str:
        p = self.people.get(openid)
        return p.name if p else openid

    def picture(self, data: bytes, filename: str = "evidence.png") -> dict[str, Any]:
        """An attachment as the platform sends it: a download URL on its media server."""
        name = f"{uuid.uuid4().hex}-{filename}"
        self.pictures[name] = Picture(data, filename)
        return {
            "content_type": "image/png",
            "filename": filename,
            "height": 64,
            "width": 64,
            "size": len(data),
            "url": f"{self.server.base}/download/{name}",
        }

    # ---- events ----------------------------------------------------------------------------

    async def dispatch(self, event_type: str, data: dict[str, Any]) -> str | None:
        """Send a dispatch (op 0) to the bot's session; None when the session does not take it
        (no connection, or an intent it did not ask for). In webhook mode: POSTed, signed, to
        the callback URL; None unless it answers 200 or 204."""
        if self.protocol == "webhook":
            self._seq += 1
            event_id = f"{event_type}:{uuid.uuid4().hex}"
            payload = {"op": 0, "s": self._seq, "t": event_type, "id": event_id, "d": data}
            r = await self._callback(payload)
            return event_id if r.status_code in (200, 204) else None
        if self._ws is None or self._session_id is None:
            return None
        intents = self._sessions[self._session_id]["intents"]
        if event_type in {
            "GROUP_AT_MESSAGE_CREATE",
            "C2C_MESSAGE_CREATE",
            "GROUP_MESSAGE_CREATE",
        } and not (intents & GROUP_AND_C2C_INTENT):
            return None
        self._seq += 1
        self._sessions[self._session_id]["seq"] = self._seq
        event_id = f"{event_type}:{uuid.uuid4().hex}"
        await self._ws.send_text(
            json.dumps({"op": 0, "s": self._seq, "t": event_type, "id": event_id, "d": data})
        )
        return event_id

    def group_message(
        self,
        group: Group,
        person: Person,
        *parts: str | Person | dict[str, Any],
        at_bot: bool = True,
    ) -> dict[str, Any]:
        """A group message as the platform writes it. `parts`: text, a `Person` (an @ of them,
        `<@member_openid>` in content), an attachment (`picture()`). With `at_bot` (how a
        group talks to a bot) the bot's own @ is left out of content, which starts with a
        space, as the platform sends it."""
        content, mentions, attachments = [" " if at_bot else ""], [], []
        quoted: str | None = None
        for part in parts:
            if isinstance(part, Quote):
                quoted = part.ref_idx
            elif isinstance(part, str):
                content.append(part)
            elif isinstance(part, Person):
                content.append(f"<@{part.member_openid}>")
                mentions.append(
                    {
                        "scope": "single",
                        "bot": False,
                        "id": part.member_openid,
                        "is_you": False,
                        "member_openid": part.member_openid,
                        "username": part.name,
                    }
                )
            else:
                attachments.append(part)
        data: dict[str, Any] = {
            "id": _msg_id(),
            "content": "".join(content),
            "timestamp": datetime.now(CST).isoformat(timespec="seconds"),
            "group_id": group.group_openid,
            "group_openid": group.group_openid,
            "author": {
                "id": person.member_openid,
                "bot": False,
                "member_openid": person.member_openid,
                "union_openid": person.union_openid,
                "member_role": group.roles.get(person.member_openid, "member"),
                **({"username": person.name} if self.author_names else {}),
            },
            "message_scene": {"source": "default", "ext": []},
            "message_type": 0,
        }
        if mentions:
            data["mentions"] = mentions
        if attachments:
            data["attachments"] = attachments
        idx = _ref_idx()
        data["msg_idx"] = idx
        data["message_scene"]["ext"].append(f"msg_idx={idx}")
        self.elements[idx] = {
            "msg_idx": idx,
            "content": data["content"],
            "message_type": 0,
            "author": {"id": person.member_openid, "member_openid": person.member_openid},
        }
        if quoted is not None:  # a reply: type 103, the quoted message in msg_elements
            data["message_type"] = 103
            data["message_scene"]["ext"].append(f"ref_msg_idx={quoted}")
            data["msg_elements"] = [self.elements[quoted]]
        return data

    @staticmethod
    def quote(of: Sent | str) -> Quote:
        """Quote a message the bot sent (`Sent`) or a person's message (its ref_idx, as
        `post(...)` returned it in `last_ref`)."""
        ref = of.ref_idx if isinstance(of, Sent) else of
        assert ref, "that message cannot be quoted"
        return Quote(ref)

    def c2c_message(self, person: Person, *parts: str | dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": _msg_id(),
            "content": "".join(p for p in parts if isinstance(p, str)),
            "timestamp": datetime.now(CST).isoformat(timespec="seconds"),
            "author": {
                "id": person.user_openid,
                "user_openid": person.user_openid,
                "union_openid": person.union_openid,
            },
            "message_scene": {"source": "default", "ext": []},
            "message_type": 0,
        }
        if attachments := [p for p in parts if isinstance(p, dict)]:
            data["attachments"] = attachments
        return data

    async def forge(self, group: Group, person: Person, *parts: str | Person) -> int:
        """Webhook mode: a group message POSTed with a signature not made by the platform's
        key; the bot's HTTP status."""
        data = self.group_message(group, person, *parts)
        payload = {"op": 0, "s": 1, "t": "GROUP_AT_MESSAGE_CREATE", "id": "x", "d": data}
        return (await self._callback(payload, forged=True)).status_code

    async def post(self, group: Group, person: Person, *parts, at_bot: bool = True) -> str:
        """Send a group message; its msg_id (raises if the bot's session does not take it)."""
        data = self.group_message(group, person, *parts, at_bot=at_bot)
        self.last_ref = data["msg_idx"]
        kind = "GROUP_AT_MESSAGE_CREATE" if at_bot else "GROUP_MESSAGE_CREATE"
        self._inbound[data["id"]] = _Inbound("group", group.group_openid, time.monotonic())
        if await self.dispatch(kind, data) is None:
            raise RuntimeError("the bot's gateway session takes no group messages")
        return data["id"]

    async def say(
        self,
        group: Group,
        person: Person,
        *parts: str | Person | dict[str, Any],
        expect: int = 1,
        linger: float = 0.0,
        timeout: float = 10.0,
    ) -> list[str]:
        """Send a group message (at the bot) and return the bot's replies to it, as text."""
        msg_id = await self.post(group, person, *parts)
        return [s.text for s in await self.replies_to(msg_id, expect, linger, timeout)]

    async def say_private(
        self, person: Person, *parts: str | dict[str, Any], expect: int = 1, timeout=10.0
    ) -> list[str]:
        person.c2c = True
        for oid in (person.member_openid, person.user_openid, person.union_openid):
            self.people[oid] = person
        data = self.c2c_message(person, *parts)
        self._inbound[data["id"]] = _Inbound("c2c", person.user_openid, time.monotonic())
        if await self.dispatch("C2C_MESSAGE_CREATE", data) is None:
            raise RuntimeError("the bot's gateway session takes no C2C messages")
        return [s.text for s in await self.replies_to(data["id"], expect, 0.0, timeout)]

    async def replies_to(
        self, msg_id: str, expect: int = 1, linger: float = 0.0, timeout: float = 10.0
    ) -> list[Sent]:
        """The messages the bot sent in answer to `msg_id` (accepted ones)."""

        def got() -> list[Sent]:
            return [s for s in self.sent if s.reply_to == msg_id and s.ok]

        return await self._collect(got, expect, linger, timeout)

    def proactive(self, target: str | None = None) -> list[Sent]:
        """Messages sent without a msg_id (accepted or refused), to `target` or anywhere."""
        return [
            s for s in self.sent if s.reply_to is None and (target is None or s.target == target)
        ]

    async def send_reconnect(self) -> None:
        """op 7: the platform asks the bot to reconnect (and resume)."""
        if self._ws is not None:
            self._ready.clear()
            await self._ws.send_text(json.dumps({"op": 7}))

    # ---- HTTP: auth and gateway -----------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        body = await request.json()
        self.token_requests += 1
        if body.get("appId") != self.appid or body.get("clientSecret") != self.secret:
            return JSONResponse({"code": 100016, "message": "invalid appid or secret"})
        token = secrets.token_urlsafe(32)
        self._tokens[token] = time.monotonic() + 7200
        return JSONResponse({"access_token": token, "expires_in": "7200"})

    def _authorized(self, request: Request) -> bool:
        self._peer(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("QQBot ")
        return (
            auth.startswith("QQBot ")
            and self._tokens.get(token, 0) > time.monotonic()
            and request.headers.get("x-union-appid") == self.appid
        )

    @staticmethod
    def _unauthorized() -> Response:
        return JSONResponse({"code": 11241, "message": "wrong access token"}, status_code=401)

    async def _gateway_bot(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        ws = self.server.base.replace("http://", "ws://") + "/websocket"
        return JSONResponse(
            {
                "url": ws,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 86400000,
                    "max_concurrency": 1,
                },
            }
        )

    async def _gateway(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        return JSONResponse({"url": self.server.base.replace("http://", "ws://") + "/websocket"})

    async def _me(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        return JSONResponse({"id": self.bot_id, "username": self.bot_name, "bot": True})

    async def _download(self, request: Request) -> Response:
        pic = self.pictures.get(request.path_params["name"])
        if pic is None:
            return Response(status_code=404)
        return Response(pic.data, media_type=pic.content_type)

    # ---- the gateway WebSocket -------------------------------------------------------------

    def _valid_token(self, value: str) -> bool:
        token = str(value).removeprefix("QQBot ")
        return str(value).startswith("QQBot ") and self._tokens.get(token, 0) > time.monotonic()

    async def _gateway_ws(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(
            json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        )
        try:
            first = json.loads(await ws.receive_text())
            op, d = first.get("op"), first.get("d") or {}
            if op == 2:
                if not self._valid_token(d.get("token", "")):
                    await ws.close(4004, "invalid token")
                    return
                self.identifies.append(d)
                session_id = str(uuid.uuid4())
                self._sessions[session_id] = {"intents": int(d.get("intents", 0)), "seq": 0}
                self._ws, self._session_id, self._seq = ws, session_id, 0
                self._seq += 1
                await ws.send_text(
                    json.dumps(
                        {
                            "op": 0,
                            "s": self._seq,
                            "t": "READY",
                            "id": "",
                            "d": {
                                "version": 1,
                                "session_id": session_id,
                                "user": {
                                    "id": self.bot_id,
                                    "username": self.bot_name,
                                    "bot": True,
                                    "status": 1,
                                },
                                "shard": list(d.get("shard") or [0, 1]),
                            },
                        }
                    )
                )
            elif op == 6:
                session = self._sessions.get(d.get("session_id", ""))
                if session is None or not self._valid_token(d.get("token", "")):
                    await ws.send_text(json.dumps({"op": 9, "d": False}))
                    await ws.close()
                    return
                self.resumes.append(d)
                self._ws, self._session_id = ws, d["session_id"]
                self._seq = max(self._seq, int(d.get("seq") or 0)) + 1
                await ws.send_text(json.dumps({"op": 0, "s": self._seq, "t": "RESUMED", "d": ""}))
            else:
                await ws.close(4002, "invalid payload")
                return
            self._ready.set()
            while True:
                frame = json.loads(await ws.receive_text())
                if frame.get("op") == 1:
                    self.heartbeats += 1
                    await ws.send_text(json.dumps({"op": 11}))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                self._ready.clear()

    # ---- HTTP: sending ---------------------------------------------------------------------

    async def _group_message(self, request: Request) -> Response:
        return await self._message(request, "group")

    async def _c2c_message(self, request: Request) -> Response:
        return await self._message(request, "c2c")

    async def _group_file(self, request: Request) -> Response:
        return await self._file(request, "group")

    async def _c2c_file(self, request: Request) -> Response:
        return await self._file(request, "c2c")

    def _reaches(self, scope: str, target: str) -> bool:
        if scope == "group":
            return target in self.groups
        p = self.people.get(target)
        return p is not None and p.c2c and p.user_openid == target

    async def _file(self, request: Request, scope: str) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        target = request.path_params["openid"]
        if not self._reaches(scope, target):
            return JSONResponse({"code": 11255, "message": "invalid request"}, status_code=400)
        body = await request.json()
        if body.get("file_type") not in (1, 2, 3, 4):
            return JSONResponse({"code": 850027, "message": "file_type 错误"}, status_code=400)
        if data := body.get("file_data"):
            content = base64.b64decode(data)
        elif url := body.get("url"):
            content = ("url:" + str(url)).encode()
        else:
            return JSONResponse({"code": 850026, "message": "缺少 url"}, status_code=400)
        file_info = base64.b64encode(hashlib.sha256(content).digest() + secrets.token_bytes(8))
        self.files[file_info.decode()] = content
        result: dict[str, Any] = {
            "file_uuid": uuid.uuid4().hex,
            "file_info": file_info.decode(),
            "ttl": 3600,
        }
        if body.get("srv_send_msg"):
            self._record(scope, target, {"msg_type": 7, "media": result}, None, [content])
        return JSONResponse(result)

    async def _message(self, request: Request, scope: str) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        target = request.path_params["openid"]
        body = await request.json()
        reply_to = body.get("msg_id") or body.get("event_id")
        images: list[bytes] = []
        if body.get("msg_type") == 7:
            info = (body.get("media") or {}).get("file_info")
            if info not in self.files:
                return self._refuse(scope, target, body, reply_to, 850012, "file_info 无效")
            images.append(self.files[info])
        elif body.get("msg_type") == 0 and not body.get("content"):
            return self._refuse(scope, target, body, reply_to, 40034006, "消息内容为空")
        if not self._reaches(scope, target):
            return self._refuse(scope, target, body, reply_to, 11255, "invalid request")
        if reply_to is None:
            used = self._proactive_used.get(target, 0)
            if used >= self.proactive_quota:
                return self._refuse(scope, target, body, None, **_proactive_refusal())
            self._proactive_used[target] = used + 1
        else:
            inbound = self._inbound.get(reply_to)
            window = self.group_reply_window if scope == "group" else self.c2c_reply_window
            if inbound is None or inbound.target != target:
                return self._refuse(scope, target, body, reply_to, 40034024, "msg_id 无效或越权")
            if time.monotonic() - inbound.at > window:
                return self._refuse(scope, target, body, reply_to, 40034025, "被动回复已过期")
            if inbound.replies >= 5:
                return self._refuse(scope, target, body, reply_to, 40034026, "被动回复次数超限")
            seq = int(body.get("msg_seq") or 1)
            if seq in inbound.seqs:
                return self._refuse(scope, target, body, reply_to, 40054005, "消息被去重")
            inbound.seqs.add(seq)
            inbound.replies += 1
        ref = _ref_idx()
        self._record(scope, target, body, reply_to, images, ref_idx=ref)
        self.elements[ref] = {
            "msg_idx": ref,
            "content": str(body.get("content") or ""),
            "message_type": 0,
            "author": {"id": self.bot_id, "bot": True, "username": self.bot_name},
        }
        return JSONResponse(
            {
                "id": _msg_id(),
                "timestamp": datetime.now(CST).isoformat(timespec="seconds"),
                "ext_info": {"ref_idx": ref},
            }
        )

    def _refuse(
        self,
        scope: str,
        target: str,
        body: dict[str, Any],
        reply_to: str | None,
        code: int,
        message: str,
    ) -> Response:
        error = {"code": code, "err_code": code, "message": message, "trace_id": uuid.uuid4().hex}
        self._record(scope, target, body, reply_to, [], status=400, error=error)
        return JSONResponse(error, status_code=400)

    def _record(
        self,
        scope: str,
        target: str,
        body: dict[str, Any],
        reply_to: str | None,
        images: list[bytes],
        status: int = 200,
        error: dict[str, Any] | None = None,
        ref_idx: str | None = None,
    ) -> None:
        self.sent.append(
            Sent(scope, target, body, self.readable(body), images, reply_to, status, error, ref_idx)
        )
        self._notify_soon()

    def readable(self, body: dict[str, Any]) -> str:
        """What a person reads: `<@openid>` as @name, a media message as [图片] after its text."""
        text = re.sub(
            r"<@!?(\w+)>|<qqbot-at-user id=\"(\w+)\"\s*/>",
            lambda m: "@" + self.name_of(m.group(1) or m.group(2)),
            str(body.get("content") or ""),
        )
        text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        if body.get("msg_type") == 7:
            text = (text + "[图片]") if text.strip() else "[图片]"
        return text


def _proactive_refusal() -> dict[str, Any]:
    return {"code": PROACTIVE_REFUSED["code"], "message": PROACTIVE_REFUSED["message"]}
