"""A WeCom intelligent-robot long-connection server (企业微信智能机器人长连接), for tests.

It speaks the protocol as `wecom_aibot_sdk` (and the platform's documentation) has it, one
JSON frame per WebSocket message, `{"cmd", "headers": {"req_id"}, "body"}`:

- robot → platform: `aibot_subscribe` (body bot_id, secret) first; `ping`;
  `aibot_respond_msg` / `aibot_respond_welcome_msg` / `aibot_respond_update_msg` (a reply:
  the callback's req_id); `aibot_send_msg` (proactive: body chatid + markdown, template_card
  or media); `aibot_upload_media_init` / `_chunk` / `_finish` (temporary media in chunks of
  at most 512 KB, base64). Each is answered by a frame without `cmd`, the same req_id and
  a top-level `errcode` / `errmsg` (and a `body` for uploads).
- platform → robot: `aibot_msg_callback` (msgid, aibotid, chatid for groups, chattype
  "group" / "single", from.userid, msgtype text / image / mixed, with `text.content`,
  `image.url` + `image.aeskey`, or `mixed.msg_item`); `aibot_event_callback`
  (`event.eventtype`, e.g. `disconnected_event` when a newer connection of the same robot
  takes over).

What the platform does that a test relies on: a group message is delivered only when the
robot is @-ed, its text starting with "@<robot name>"; a picture is served encrypted
(AES-256-CBC, the IV the key's first 16 bytes, PKCS#7 padding to 32 bytes; the key in the
callback, base64 without padding) over HTTP from this same port, as `download_file(url,
aeskey)` decrypts it; a reply is accepted only on a req_id the robot received and within
`reply_window` seconds (else errcode 846605, "invalid req_id", as the platform answers);
a proactive send goes only to a group the robot is in or a user of the corp, and never as
`text`. The other errcodes here are this simulator's own.

Everything the robot sent is in `sent` (accepted or not), every frame in `frames`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

OK = 0
ERR_INVALID_REQ_ID = 846605  # the platform's answer to a reply on an unknown/expired req_id
ERR_AUTH = 40001
ERR_MSGTYPE = 40008
ERR_CHAT = 40003
ERR_TOO_LONG = 40058
ERR_MEDIA = 40007
ERR_UPLOAD = 40009
ERR_UNKNOWN_CMD = 40000

REPLY_TYPES = {"stream", "markdown", "template_card", "stream_with_template_card"}
MEDIA_TYPES = {"image", "file", "voice", "video"}
SEND_TYPES = {"markdown", "template_card"} | MEDIA_TYPES
CHUNK_MAX = 512 * 1024


def encrypt(data: bytes, aeskey: str) -> bytes:
    """What the platform serves for a picture: AES-256-CBC, IV = key[:16], PKCS#7 to 32."""
    key = base64.b64decode(aeskey + "=" * (-len(aeskey) % 4))
    pad = 32 - len(data) % 32
    padded = data + bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return enc.update(padded) + enc.finalize()


def new_aeskey() -> str:
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


@dataclass
class Sent:
    """One frame the robot sent that is not subscribe or ping."""

    cmd: str
    bot_id: str
    req_id: str
    body: dict[str, Any]
    chatid: str | None  # where it went: the callback's chat for a reply
    errcode: int
    errmsg: str
    at: float = field(default_factory=time.monotonic)

    @property
    def ok(self) -> bool:
        return self.errcode == OK

    @property
    def msgtype(self) -> str:
        return self.body.get("msgtype", "")

    @property
    def text(self) -> str:
        """The text it carries (stream content or markdown), else ""."""
        body = self.body
        if body.get("msgtype") in ("stream", "stream_with_template_card"):
            return (body.get("stream") or {}).get("content", "")
        if body.get("msgtype") == "markdown":
            return (body.get("markdown") or {}).get("content", "")
        return ""


@dataclass
class Callback:
    req_id: str
    msgid: str
    bot_id: str
    chatid: str  # the group's chatid, or the user's id in a single chat
    chattype: str
    userid: str
    body: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Media:
    media_id: str
    type: str
    filename: str
    data: bytes


class WeComSim:
    def __init__(
        self,
        bots: dict[str, tuple[str, str]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply_window: float = 360.0,
    ) -> None:
        """`bots`: bot_id → (secret, robot name)."""
        self.bots = dict(bots)
        self.host, self.port = host, port
        self.reply_window = reply_window
        self.groups: dict[str, set[str]] = {}  # chatid → robots in it
        self.users: set[str] = set()  # userids of the corp
        self.refusals: dict[str, tuple[int, str]] = {}  # chatid → what aibot_send_msg answers
        self.answer_pings = True
        self.sent: list[Sent] = []
        self.frames: list[tuple[str | None, dict[str, Any]]] = []
        self.pings: Counter[str] = Counter()
        self.auths: list[tuple[str, bool]] = []
        self.media: dict[str, Media] = {}
        self.downloads: list[str] = []
        self.callbacks: dict[str, Callback] = {}
        self._uploads: dict[str, dict[str, Any]] = {}
        self._files: dict[str, tuple[str, bytes]] = {}
        self._conns: dict[str, ServerConnection] = {}
        self._server: Server | None = None
        self._changed = asyncio.Condition()

    # ---- life -----------------------------------------------------------------------------

    async def start(self) -> WeComSim:
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._http, ping_interval=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> WeComSim:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def http_base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def connected(self, bot_id: str) -> bool:
        return bot_id in self._conns

    def auth_count(self, bot_id: str) -> int:
        return sum(1 for b, ok in self.auths if b == bot_id and ok)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, check: Callable[[], Any], timeout: float = 5.0) -> Any:
        """The first truthy `check()`, re-evaluated on every change here and every 20 ms
        (for conditions on the other side); TimeoutError after `timeout` seconds."""

        async def loop() -> Any:
            async with self._changed:
                while not (result := check()):
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.02)
                return result

        return await asyncio.wait_for(loop(), timeout)

    async def wait_connected(self, bot_id: str, *, auths: int = 1, timeout: float = 5.0) -> None:
        """Until the robot has authenticated `auths` times in all and is connected."""
        await self.wait_until(
            lambda: self.connected(bot_id) and self.auth_count(bot_id) >= auths, timeout
        )

    async def wait_sent(
        self, check: Callable[[Sent], bool], *, timeout: float = 5.0, start: int = 0
    ) -> Sent:
        """The first frame in `sent[start:]` that passes `check`."""
        return await self.wait_until(
            lambda: next((s for s in self.sent[start:] if check(s)), None), timeout
        )

    async def drop(self, bot_id: str | None = None, code: int = 1011) -> None:
        """Close the robot's connection (all of them without `bot_id`) from the server side,
        with close `code` (1000: a clean close, 1011: an error)."""
        for bid, conn in list(self._conns.items()):
            if bot_id is None or bid == bot_id:
                await conn.close(code, "server going away")

    # ---- messages to the robot -----------------------------------------------------------

    def picture(self, data: bytes, filename: str = "image.png") -> dict[str, str]:
        """Serve `data` encrypted; the callback's `image` object for it."""
        aeskey = new_aeskey()
        token = secrets.token_hex(8)
        self._files[token] = (filename, encrypt(data, aeskey))
        return {"url": f"{self.http_base}/media/{token}", "aeskey": aeskey}

    async def send_message(
        self,
        bot_id: str,
        *,
        user: str,
        parts: list[str | bytes],
        chat: str | None = None,
        at_bot: bool = True,
    ) -> Callback | None:
        """A user's message to the robot: in group `chat` (delivered only when `at_bot`:
        the first text then starts with "@<robot name> "), or in a single chat. A `str` part
        is text, a `bytes` part a picture; several parts make a `mixed` message. Returns
        what was delivered, None when the platform would not deliver it."""
        if chat is not None and not at_bot:
            return None
        name = self.bots[bot_id][1]
        items: list[dict[str, Any]] = []
        for part in parts:
            if isinstance(part, bytes):
                items.append({"msgtype": "image", "image": self.picture(part)})
            else:
                items.append({"msgtype": "text", "text": {"content": part}})
        if chat is not None:
            first = next((i for i in items if i["msgtype"] == "text"), None)
            if first is None:
                first = {"msgtype": "text", "text": {"content": ""}}
                items.insert(0, first)
            first["text"]["content"] = f"@{name} {first['text']['content']}".rstrip()
        msgid = secrets.token_hex(12)
        body: dict[str, Any] = {
            "msgid": msgid,
            "aibotid": bot_id,
            "chattype": "group" if chat is not None else "single",
            "from": {"userid": user},
        }
        if chat is not None:
            body["chatid"] = chat
            self.groups.setdefault(chat, set()).add(bot_id)
        self.users.add(user)
        if len(items) == 1:
            body["msgtype"] = items[0]["msgtype"]
            body[body["msgtype"]] = items[0][body["msgtype"]]
        else:
            body["msgtype"] = "mixed"
            body["mixed"] = {"msg_item": items}
        req_id = f"cb_{secrets.token_hex(10)}"
        cb = Callback(req_id, msgid, bot_id, chat or user, body["chattype"], user, body)
        self.callbacks[req_id] = cb
        await self._push(
            bot_id, {"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body}
        )
        return cb

    async def say(
        self,
        bot_id: str,
        *,
        user: str,
        parts: list[str | bytes],
        chat: str | None = None,
        timeout: float = 15.0,
    ) -> str:
        """Send a message and return the text of the robot's first answer to it: a reply on
        its req_id, or a proactive send to its chat."""
        start = len(self.sent)
        cb = await self.send_message(bot_id, user=user, parts=parts, chat=chat)
        assert cb is not None, "a group message reaches the robot only when it is @-ed"
        sent = await self.wait_sent(
            lambda s: (
                bool(s.ok and s.text)
                and (s.req_id == cb.req_id or (s.cmd == "aibot_send_msg" and s.chatid == cb.chatid))
            ),
            start=start,
            timeout=timeout,
        )
        return sent.text

    def texts_to(self, chatid: str, start: int = 0) -> list[str]:
        """The texts the robot sent to `chatid` (replies and proactive sends), in order."""
        return [s.text for s in self.sent[start:] if s.ok and s.chatid == chatid and s.text]

    async def send_event(self, bot_id: str, eventtype: str, *, user: str, **extra: Any) -> str:
        req_id = f"ev_{secrets.token_hex(10)}"
        body = {
            "msgid": secrets.token_hex(12),
            "aibotid": bot_id,
            "from": {"userid": user},
            "msgtype": "event",
            "event": {"eventtype": eventtype, **extra},
        }
        await self._push(
            bot_id, {"cmd": "aibot_event_callback", "headers": {"req_id": req_id}, "body": body}
        )
        return req_id

    async def _push(self, bot_id: str, frame: dict[str, Any]) -> None:
        conn = self._conns.get(bot_id)
        if conn is None:
            raise RuntimeError(f"robot {bot_id} is not connected")
        await conn.send(json.dumps(frame, ensure_ascii=False))

    # ---- HTTP: encrypted files ---------------------------------------------------------------

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        if not request.path.startswith("/media/"):
            return None
        token = request.path.removeprefix("/media/")
        self.downloads.append(token)
        if token not in self._files:
            return Response(404, "Not Found", Headers([("Content-Length", "0")]), b"")
        filename, data = self._files[token]
        headers = Headers(
            [
                ("Content-Type", "application/octet-stream"),
                ("Content-Disposition", f'attachment; filename="{filename}"'),
                ("Content-Length", str(len(data))),
                ("Connection", "close"),
            ]
        )
        return Response(200, "OK", headers, data)

    # ---- the robot's frames -------------------------------------------------------------------

    async def _handle(self, conn: ServerConnection) -> None:
        bot_id: str | None = None
        try:
            async for raw in conn:
                frame = json.loads(raw)
                self.frames.append((bot_id, frame))
                cmd = frame.get("cmd", "")
                req_id = (frame.get("headers") or {}).get("req_id", "")
                body = frame.get("body") or {}
                if bot_id is None:
                    if cmd != "aibot_subscribe":
                        await conn.close(1008, "subscribe first")
                        return
                    bot_id = await self._subscribe(conn, req_id, body)
                    continue
                if cmd == "ping":
                    self.pings[bot_id] += 1
                    if self.answer_pings:
                        await self._ack(conn, req_id, OK, "ok")
                    continue
                errcode, errmsg, out, chatid = self._command(bot_id, cmd, body, req_id)
                self.sent.append(Sent(cmd, bot_id, req_id, body, chatid, errcode, errmsg))
                await self._ack(conn, req_id, errcode, errmsg, out)
                await self._notify()
        except ConnectionClosed:
            pass
        finally:
            if bot_id is not None and self._conns.get(bot_id) is conn:
                del self._conns[bot_id]
            await self._notify()

    async def _subscribe(self, conn: ServerConnection, req_id: str, body: dict) -> str | None:
        bot_id = str(body.get("bot_id", ""))
        ok = bot_id in self.bots and self.bots[bot_id][0] == body.get("secret")
        self.auths.append((bot_id, ok))
        if not ok:
            await self._ack(conn, req_id, ERR_AUTH, "invalid bot_id or secret")
            await self._notify()
            return None
        old = self._conns.get(bot_id)
        self._conns[bot_id] = conn
        await self._ack(conn, req_id, OK, "ok")
        if old is not None:  # the platform keeps the newest connection of a robot
            with contextlib.suppress(ConnectionClosed):
                frame = {
                    "cmd": "aibot_event_callback",
                    "headers": {"req_id": f"ev_{secrets.token_hex(6)}"},
                    "body": {"msgtype": "event", "event": {"eventtype": "disconnected_event"}},
                }
                await old.send(json.dumps(frame))
                await old.close(1000, "replaced by a new connection")
        await self._notify()
        return bot_id

    async def _ack(
        self,
        conn: ServerConnection,
        req_id: str,
        errcode: int,
        errmsg: str,
        body: dict | None = None,
    ) -> None:
        frame: dict[str, Any] = {
            "headers": {"req_id": req_id},
            "errcode": errcode,
            "errmsg": errmsg,
        }
        if body is not None:
            frame["body"] = body
        with contextlib.suppress(ConnectionClosed):
            await conn.send(json.dumps(frame, ensure_ascii=False))

    def _command(
        self, bot_id: str, cmd: str, body: dict, req_id: str
    ) -> tuple[int, str, dict | None, str | None]:
        if cmd in ("aibot_respond_msg", "aibot_respond_welcome_msg", "aibot_respond_update_msg"):
            cb = self.callbacks.get(req_id)
            if cb is None or cb.bot_id != bot_id:
                return ERR_INVALID_REQ_ID, "invalid req_id", None, None
            if time.monotonic() - cb.at > self.reply_window:
                return ERR_INVALID_REQ_ID, "invalid req_id", None, cb.chatid
            if cmd == "aibot_respond_msg":
                return (
                    *self._check_body(bot_id, body, REPLY_TYPES | MEDIA_TYPES, 20480),
                    None,
                    cb.chatid,
                )
            return OK, "ok", None, cb.chatid
        if cmd == "aibot_send_msg":
            chatid = str(body.get("chatid", ""))
            if chatid in self.refusals:
                return (*self.refusals[chatid], None, chatid)
            if bot_id not in self.groups.get(chatid, set()) and chatid not in self.users:
                return ERR_CHAT, "invalid chatid", None, chatid
            return (*self._check_body(bot_id, body, SEND_TYPES, 4096), None, chatid)
        if cmd.startswith("aibot_upload_media_"):
            return (*self._upload(bot_id, cmd, body), None)
        return ERR_UNKNOWN_CMD, f"unknown cmd {cmd}", None, None

    def _check_body(
        self, bot_id: str, body: dict, allowed: set[str], limit: int
    ) -> tuple[int, str]:
        msgtype = body.get("msgtype")
        if msgtype not in allowed:
            return ERR_MSGTYPE, f"invalid msgtype {msgtype}"
        if msgtype in ("stream", "stream_with_template_card"):
            stream = body.get("stream") or {}
            if not stream.get("id"):
                return ERR_MSGTYPE, "stream.id missing"
            if len(str(stream.get("content", "")).encode()) > limit:
                return ERR_TOO_LONG, "content too long"
        if msgtype == "markdown":
            content = (body.get("markdown") or {}).get("content")
            if not content:
                return ERR_MSGTYPE, "markdown.content missing"
            if len(content.encode()) > limit:
                return ERR_TOO_LONG, "content too long"
        if msgtype in MEDIA_TYPES:
            media = self.media.get((body.get(msgtype) or {}).get("media_id", ""))
            if media is None or media.type != msgtype:
                return ERR_MEDIA, "invalid media_id"
        return OK, "ok"

    def _upload(self, bot_id: str, cmd: str, body: dict) -> tuple[int, str, dict | None]:
        if cmd == "aibot_upload_media_init":
            total = int(body.get("total_chunks", 0))
            if (
                body.get("type") not in MEDIA_TYPES
                or not body.get("filename")
                or not 0 < total <= 100
            ):
                return ERR_UPLOAD, "invalid upload", None
            upload_id = secrets.token_hex(8)
            self._uploads[upload_id] = {**body, "bot_id": bot_id, "chunks": {}}
            return OK, "ok", {"upload_id": upload_id}
        upload = self._uploads.get(str(body.get("upload_id", "")))
        if upload is None or upload["bot_id"] != bot_id:
            return ERR_UPLOAD, "invalid upload_id", None
        if cmd == "aibot_upload_media_chunk":
            index = int(body.get("chunk_index", -1))
            data = base64.b64decode(body.get("base64_data", ""))
            if not 0 <= index < int(upload["total_chunks"]) or len(data) > CHUNK_MAX:
                return ERR_UPLOAD, "invalid chunk", None
            upload["chunks"][index] = data
            return OK, "ok", None
        if cmd == "aibot_upload_media_finish":
            chunks = upload["chunks"]
            if sorted(chunks) != list(range(int(upload["total_chunks"]))):
                return ERR_UPLOAD, "chunks missing", None
            data = b"".join(chunks[i] for i in sorted(chunks))
            if (
                len(data) != int(upload["total_size"])
                or hashlib.md5(data).hexdigest() != upload["md5"]
            ):
                return ERR_UPLOAD, "size or md5 mismatch", None
            media_id = f"media_{secrets.token_hex(8)}"
            self.media[media_id] = Media(media_id, upload["type"], upload["filename"], data)
            del self._uploads[str(body["upload_id"])]
            return (
                OK,
                "ok",
                {"type": upload["type"], "media_id": media_id, "created_at": str(int(time.time()))},
            )
        return ERR_UNKNOWN_CMD, f"unknown cmd {cmd}", None


async def _main() -> None:
    parser = argparse.ArgumentParser(description="WeCom intelligent-robot simulator")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--bot", action="append", default=[], help="BOT_ID:SECRET:NAME")
    args = parser.parse_args()
    bots = {}
    for spec in args.bot or ["bot1:secret1:KPI助手"]:
        bot_id, secret, name = spec.split(":", 2)
        bots[bot_id] = (secret, name)
    sim = await WeComSim(bots, port=args.port).start()
    print(f"WeCom simulator on {sim.ws_url} for {', '.join(bots)}")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(_main())
