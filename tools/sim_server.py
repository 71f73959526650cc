"""A platform simulator's own HTTP + WebSocket server, in the test's event loop.

The official QQ bot API and Feishu are servers the bot calls (HTTP APIs, a gateway or a long
connection it opens), so their simulators listen: a Starlette app under uvicorn, started and
stopped by `SimServer`. Signals stay with the test runner (uvicorn does not capture them here).
`PlatformSim` is what such a simulator is besides its protocol: the server's life (`async
with`), the one WebSocket the bot holds open, the client address of every API call (`peers`:
one kept-alive connection shows as one address), and waiting for what the bot sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Sequence
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, TypeVar

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.websockets import WebSocket

S = TypeVar("S", bound="PlatformSim")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SimServer:
    def __init__(self, app: Starlette, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port or free_port(host)
        config = uvicorn.Config(
            app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="websockets-sansio",
            ws_ping_interval=None,
        )
        self.server = uvicorn.Server(config)
        self.server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        self._task: asyncio.Task | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("simulator server stopped at start")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._task, 10)
        self._task = None


def multipart_fields(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """A multipart/form-data body as {field: (file name or None, bytes)}."""
    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
    return fields


class PlatformSim:
    """The plumbing a platform simulator shares (see the module docstring). A subclass
    passes its routes, appends what the bot sent to `sent` (items with `ok`), calls
    `_notify` (or `_notify_soon` outside a coroutine) when anything changed, `_peer` for
    each API call, and keeps the bot's WebSocket in `_ws`."""

    def __init__(self, routes: Sequence[BaseRoute], host: str = "127.0.0.1", port: int = 0):
        self.server = SimServer(Starlette(routes=list(routes)), host, port)
        self.sent: list[Any] = []
        self.peers: list[tuple[str, int]] = []  # the client address of each API call
        self._ws: WebSocket | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        if self._ws is not None:
            with contextlib.suppress(Exception):
                await self._ws.close()
        await self.server.stop()

    async def __aenter__(self: S) -> S:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _peer(self, request: Request) -> None:
        if request.client is not None:
            self.peers.append((request.client.host, request.client.port))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _notify_soon(self) -> None:
        asyncio.get_running_loop().create_task(self._notify())

    async def _until(self, ready: Callable[[], bool], timeout: float) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(ready), timeout)

    async def _collect(
        self, got: Callable[[], list], expect: int, linger: float, timeout: float
    ) -> list:
        """`got()` once it holds `expect` items, after `linger` seconds more (for a late
        one; half a second when nothing is expected)."""
        await self._until(lambda: len(got()) >= expect, timeout)
        await asyncio.sleep(linger if (linger or expect) else 0.5)
        return got()

    async def wait_sent(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        """The first message (accepted or refused) the bot sent that satisfies `predicate`."""
        await self._until(lambda: any(predicate(s) for s in self.sent), timeout)
        return next(s for s in self.sent if predicate(s))
