"""A Milky protocol side (Lagrange V2, LuckyLilliaBot) for tests: the bot connects to it.

Written from nonebot-adapter-milky's own code (1.3): the adapter, given `MILKY_CLIENTS=[{
"host", "port", "access_token"}]`, opens the event WebSocket `ws://host:port/event?
access_token=…`, and calls the API as `POST http://host:port/api/<action>` with a JSON
body and `Authorization: Bearer <token>`, reading `{"status": "ok", "retcode": 0, "data":
…}` (`status: failed` or a non-zero `retcode` raises `ActionFailed`). The first call is
`get_login_info` (`uin` names the bot account). Events are `{"event_type":
"message_receive", "time", "self_id", "data": IncomingMessage}`, where IncomingMessage has
`message_scene` (group, friend, temp), `peer_id`, `message_seq`, `sender_id`, `time`,
`segments`, and `group` + `group_member` (card, nickname, role) or `friend`.

Segments the bot receives: `text`, `mention` (`user_id`, `name`), `reply` (`message_seq`:
the adapter fetches it with `get_message`), `image` (`resource_id`, `temp_url`, size). The
bot sends `text`, `mention`, `image` (`uri`: `base64://…`). Pictures a test attaches are
served by this same server (`/res/<id>`), as a protocol side serves its `temp_url`.

Private messages reach friends only (`friends`); to anyone else `send_private_message`
fails, as a QQ client cannot message a stranger.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tools.onebot_sim import free_port

Segment = dict[str, Any]


def text(s: str) -> Segment:
    return {"type": "text", "data": {"text": s}}


@dataclass
class Person:
    user_id: int
    nickname: str
    card: str = ""
    role: str = "member"  # owner, admin, member


@dataclass
class Call:
    action: str
    params: dict[str, Any]
    ok: bool = True
    peer: str = ""  # the client's address and port: one per TCP connection
    at: float = field(default_factory=time.perf_counter)  # when it came (benchmarks)


@dataclass
class Group:
    group_id: int
    name: str
    members: dict[int, Person] = field(default_factory=dict)


class MilkySim:
    """The protocol side of one bot account (`uin`)."""

    def __init__(self, *, uin: int = 99990, token: str = "milky-secret", host: str = "127.0.0.1"):
        self.uin = uin
        self.token = token
        self.host = host
        self.port = free_port(host)
        self.groups: dict[int, Group] = {}
        self.friends: set[int] = set()
        self.calls: list[Call] = []
        self.resources: dict[str, bytes] = {}  # resource id → picture bytes (served)
        self.files: dict[str, tuple[str, bytes]] = {}  # group file id → (name, bytes)
        self.messages: dict[tuple[str, int, int], dict[str, Any]] = {}  # (scene, peer, seq)
        self._seq = itertools.count(1000)
        self._ws: WebSocket | None = None
        self.connected = asyncio.Event()
        self._changed = asyncio.Condition()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    # ---- the server ----------------------------------------------------------------------

    @property
    def client_config(self) -> str:
        """`MILKY_CLIENTS` for the bot's `.env`."""
        return json.dumps([{"host": self.host, "port": self.port, "access_token": self.token}])

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/api/{action}", self._api, methods=["POST"]),
                Route("/res/{rid}", self._resource, methods=["GET"]),
                WebSocketRoute("/event", self._events),
            ]
        )

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app(), host=self.host, port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:  # noqa: ASYNC110  (uvicorn sets a flag, no event)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)

    async def __aenter__(self) -> MilkySim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _events(self, ws: WebSocket) -> None:
        if ws.query_params.get("access_token") != self.token:
            await ws.close(code=1008)
            return
        await ws.accept()
        self._ws = ws
        self.connected.set()
        try:
            while True:
                await ws.receive_text()  # the adapter sends nothing; wait for the close
        except WebSocketDisconnect:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                self.connected.clear()

    async def _resource(self, request: Request) -> Response:
        data = self.resources.get(request.path_params["rid"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/png")

    async def _api(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return Response("Unauthorized", status_code=401)
        action = request.path_params["action"]
        params = json.loads(await request.body() or b"{}")
        handler: Callable[[dict], Any] | None = getattr(self, f"api_{action}", None)
        peer = f"{request.client.host}:{request.client.port}" if request.client else ""
        call = Call(action, params, peer=peer)
        if handler is None:
            call.ok = False
            body: dict[str, Any] = {"status": "failed", "retcode": -404, "message": "no api"}
        else:
            try:
                body = {"status": "ok", "retcode": 0, "data": handler(params)}
            except LookupError as e:
                call.ok = False
                body = {"status": "failed", "retcode": -1, "message": str(e)}
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        return JSONResponse(body)

    # ---- the people ----------------------------------------------------------------------

    def add_group(self, group_id: int, name: str, *people: Person) -> Group:
        group = Group(group_id, name, {p.user_id: p for p in people})
        self.groups[group_id] = group
        return group

    def mention(self, group_id: int, user_id: int) -> Segment:
        """An @ as the protocol side delivers it: the id and the name shown."""
        person = self.groups[group_id].members[user_id]
        return {
            "type": "mention",
            "data": {"user_id": user_id, "name": person.card or person.nickname},
        }

    def picture(self, data: bytes) -> Segment:
        """A picture someone pasted: served here, as the protocol side's `temp_url`."""
        rid = f"res{next(self._seq)}"
        self.resources[rid] = data
        url = f"http://localhost:{self.port}/res/{rid}"
        return {
            "type": "image",
            "data": {
                "resource_id": rid,
                "temp_url": url,
                "width": 100,
                "height": 100,
                "summary": "[图片]",
                "sub_type": "normal",
            },
        }

    @staticmethod
    def reply(message_seq: int) -> Segment:
        return {"type": "reply", "data": {"message_seq": message_seq}}

    def _member(self, group_id: int, user_id: int) -> dict[str, Any]:
        person = self.groups[group_id].members[user_id]
        return {
            "user_id": person.user_id,
            "nickname": person.nickname,
            "sex": "unknown",
            "group_id": group_id,
            "card": person.card,
            "title": "",
            "level": 1,
            "role": person.role,
            "join_time": 1_700_000_000,
            "last_sent_time": int(time.time()),
        }

    def _group(self, group_id: int) -> dict[str, Any]:
        group = self.groups[group_id]
        return {
            "group_id": group_id,
            "group_name": group.name,
            "member_count": len(group.members),
            "max_member_count": 500,
        }

    def _friend(self, user_id: int) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "nickname": f"用户{user_id}",
            "sex": "unknown",
            "qid": "",
            "remark": "",
            "category": {"category_id": 0, "category_name": "我的好友"},
        }

    # ---- events --------------------------------------------------------------------------

    async def post(self, group_id: int, user_id: int, *parts: str | Segment) -> int:
        """A group message from `user_id`; returns its `message_seq`."""
        seq = next(self._seq)
        data = {
            "message_scene": "group",
            "peer_id": group_id,
            "message_seq": seq,
            "sender_id": user_id,
            "time": int(time.time()),
            "segments": [text(p) if isinstance(p, str) else p for p in parts],
            "group": self._group(group_id),
            "group_member": self._member(group_id, user_id),
        }
        await self._send(data)
        return seq

    async def post_private(self, user_id: int, *parts: str | Segment) -> int:
        seq = next(self._seq)
        data = {
            "message_scene": "friend",
            "peer_id": user_id,
            "message_seq": seq,
            "sender_id": user_id,
            "time": int(time.time()),
            "segments": [text(p) if isinstance(p, str) else p for p in parts],
            "friend": self._friend(user_id),
        }
        await self._send(data)
        return seq

    async def _send(self, data: dict[str, Any]) -> None:
        if self._ws is None:
            raise ConnectionError("the bot is not connected to the event stream")
        self.messages[(data["message_scene"], data["peer_id"], data["message_seq"])] = data
        event = {"event_type": "message_receive", "time": data["time"], "self_id": self.uin}
        await self._ws.send_text(json.dumps({**event, "data": data}, ensure_ascii=False))

    async def wait_for(
        self, pred: Callable[[Call], bool], *, since: int = 0, timeout: float = 15.0
    ) -> Call:
        """The first call from index `since` on that `pred` accepts."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for call in self.calls[since:]:
                    if pred(call):
                        return call
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching call; calls: {self.calls[since:]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def say(self, group_id: int, user_id: int, *parts: str | Segment) -> str:
        """A group message, and the text of the bot's one answer in that group."""
        since = len(self.calls)
        await self.post(group_id, user_id, *parts)
        call = await self.wait_for(
            lambda c: c.action == "send_group_message" and c.params.get("group_id") == group_id,
            since=since,
        )
        return self.text_of(call.params["message"])

    def text_of(self, segments: list[Segment]) -> str:
        """What a person reads: text, and @name for a mention."""
        out = []
        for seg in segments:
            kind, data = seg["type"], seg["data"]
            if kind == "text":
                out.append(data["text"])
            elif kind == "mention":
                who = next(
                    (
                        g.members[data["user_id"]]
                        for g in self.groups.values()
                        if data["user_id"] in g.members
                    ),
                    None,
                )
                out.append(f"@{(who.card or who.nickname) if who else data['user_id']}")
            elif kind == "image":
                out.append("[图片]")
        return "".join(out)

    @staticmethod
    def images(segments: list[Segment]) -> list[bytes]:
        found = []
        for seg in segments:
            uri = seg["data"].get("uri", "") if seg["type"] == "image" else ""
            if uri.startswith("base64://"):
                found.append(base64.b64decode(uri.removeprefix("base64://")))
        return found

    # ---- the API (names and shapes as nonebot-adapter-milky calls and reads them) --------

    def api_get_login_info(self, params: dict) -> dict:
        return {"uin": self.uin, "nickname": "KPI 机器人"}

    def api_get_impl_info(self, params: dict) -> dict:
        return {
            "impl_name": "milky-sim",
            "impl_version": "0.1",
            "qq_protocol_version": "9.9",
            "qq_protocol_type": "linux",
        }

    def api_send_group_message(self, params: dict) -> dict:
        if params["group_id"] not in self.groups:
            raise LookupError("group not found")
        return {"message_seq": next(self._seq), "time": int(time.time())}

    def api_send_private_message(self, params: dict) -> dict:
        if params["user_id"] not in self.friends:
            raise LookupError("user is not a friend")
        return {"message_seq": next(self._seq), "time": int(time.time())}

    def api_get_message(self, params: dict) -> dict:
        key = (params["message_scene"], params["peer_id"], params["message_seq"])
        if key not in self.messages:
            raise LookupError("message not found")
        return {"message": self.messages[key]}

    def api_get_group_list(self, params: dict) -> dict:
        return {"groups": [self._group(g) for g in self.groups]}

    def api_get_group_info(self, params: dict) -> dict:
        if params["group_id"] not in self.groups:
            raise LookupError("group not found")
        return {"group": self._group(params["group_id"])}

    def api_get_group_member_info(self, params: dict) -> dict:
        group = self.groups.get(params["group_id"])
        if group is None or params["user_id"] not in group.members:
            raise LookupError("member not found")
        return {"member": self._member(params["group_id"], params["user_id"])}

    def api_get_group_member_list(self, params: dict) -> dict:
        group = self.groups[params["group_id"]]
        return {"members": [self._member(group.group_id, u) for u in group.members]}

    def api_get_friend_list(self, params: dict) -> dict:
        return {"friends": [self._friend(u) for u in sorted(self.friends)]}

    def api_upload_group_file(self, params: dict) -> dict:
        uri = params["file_uri"]
        data = (
            base64.b64decode(uri.removeprefix("base64://")) if uri.startswith("base64://") else b""
        )
        file_id = f"file{next(self._seq)}"
        self.files[file_id] = (params["file_name"], data)
        return {"file_id": file_id}
