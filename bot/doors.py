"""The ways into the bot over the network, each one authenticated (SPEC §5, issue 20).

- **OneBot HTTP webhooks** (`/onebot/v11/`, `/onebot/v11/http`, `/onebot/v11/http/` and the
  same under `/onebot/v12`): `WebhookGuard`, an ASGI middleware on NoneBot's own app, admits
  a request only when it proves it comes from the OneBot implementation. v11: with
  `ONEBOT_SECRET` the `X-Signature` (HMAC-SHA1 of the body) must be right; else with
  `ONEBOT_ACCESS_TOKEN` the `Authorization: Bearer` token must match. v12 (no signature in
  the protocol): the bearer token. With neither configured the webhook is off (403 naming
  the key to set). The adapters alone check v11's route only against the secret and v12's
  only when a token is set, so without the guard anyone could post an event as any user.
- **WebSockets**: the adapters refuse a handshake without the right token when one is set.
- **No token, no network**: `check_exposure` refuses a `HOST` other than loopback while
  either adapter has no access token, and warns on loopback.
- **Private files**: `private_files()` sets umask 077 (the database, exports, evidence and
  backups are created 0600, folders 0700) and tightens an existing SQLite file.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nonebot import logger

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PREFIXES = {"/onebot/v11": "v11", "/onebot/v12": "v12"}
MAX_BODY = 32 * 1024 * 1024  # bytes read to check a signature; OneBot events are far smaller


@dataclass(frozen=True)
class Keys:
    """The shared secrets of both OneBot adapters, as the adapters themselves read them
    (`ONEBOT_ACCESS_TOKEN` or `ONEBOT_V11_ACCESS_TOKEN`, `ONEBOT_SECRET`, …)."""

    v11_token: str | None = None
    v11_secret: str | None = None
    v12_token: str | None = None

    @classmethod
    def from_config(cls) -> Keys:
        from .platforms.onebot_v11 import webhook_keys
        from .platforms.onebot_v12 import webhook_token

        v11_token, v11_secret = webhook_keys()
        return cls(v11_token=v11_token, v11_secret=v11_secret, v12_token=webhook_token())


def _bearer(headers: dict[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>` (or `Token <token>`, which the adapters'
    WebSocket check also takes)."""
    from .platforms.onebot_v11 import auth_bearer

    return auth_bearer(headers.get("authorization"))


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _door(scope: Scope) -> str | None:
    """The OneBot version ("v11", "v12") of a path under its prefix (with or without the ASGI
    root path), else None."""
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "") or ""
    paths = {path, path[len(root) :] if root and path.startswith(root) else path}
    for prefix, version in PREFIXES.items():
        if any(p == prefix or p.startswith(prefix + "/") for p in paths):
            return version
    return None


class WebhookGuard:
    """ASGI middleware: every HTTP request to a OneBot path is authenticated first (see the
    module docstring); anything else, WebSockets included, passes untouched."""

    def __init__(self, app: ASGIApp, keys: Keys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = _door(scope) if scope["type"] == "http" else None
        if version is None:
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if version == "v11" and self.keys.v11_secret:
            body, receive = await _read_body(receive)
            if body is None:
                await _refuse(send, 413, "Request body too large")
                return
            status, reason = _check_signature(self.keys.v11_secret, headers, body)
        else:
            token = self.keys.v11_token if version == "v11" else self.keys.v12_token
            status, reason = _check_token(version, token, headers)
        if status:
            client = scope.get("client") or ("?", 0)
            logger.warning(f"OneBot {version} HTTP 上报被拒绝 / refused from {client[0]}: {reason}")
            await _refuse(send, status, reason)
            return
        await self.app(scope, receive, send)


def _check_signature(secret: str, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    given = headers.get("x-signature")
    if not given:
        return 401, "Missing X-Signature"
    expected = "sha1=" + hmac.new(secret.encode(), body, "sha1").hexdigest()
    return (0, "") if _same(given, expected) else (403, "X-Signature is invalid")


def _check_token(version: str, token: str | None, headers: dict[str, str]) -> tuple[int, str]:
    if not token:
        keys = "ONEBOT_ACCESS_TOKEN or ONEBOT_SECRET" if version == "v11" else "ONEBOT_ACCESS_TOKEN"
        return 403, f"OneBot {version} HTTP webhook is off: set {keys}"
    given = _bearer(headers)
    if given is None:
        return 401, "Missing Authorization: Bearer <access token>"
    return (0, "") if _same(given, token) else (403, "Access token is invalid")


async def _read_body(receive: Receive) -> tuple[bytes | None, Receive]:
    """The whole request body (None past MAX_BODY), and a `receive` that replays it."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return None, receive
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


async def _refuse(send: Send, status: int, reason: str) -> None:
    content = reason.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": content})


def install_guard(driver: Any) -> None:
    """Put `WebhookGuard` in front of the driver's ASGI app (once). A server driver whose
    app takes no Starlette middleware cannot be guarded, so the bot refuses to start."""
    from nonebot.drivers import ASGIMixin

    if not isinstance(driver, ASGIMixin):
        return  # no server, no webhook
    app = driver.server_app
    if not hasattr(app, "add_middleware") or not hasattr(app, "state"):
        raise ExposureError(
            "DRIVER",
            f"这个驱动（{driver.type}）的 HTTP 服务无法校验 OneBot 上报，请用 ~fastapi",
            f"the {driver.type} driver's HTTP server cannot be guarded; use ~fastapi",
        )
    if getattr(app.state, "kpi_webhook_guard", False):
        return
    app.add_middleware(WebhookGuard, keys=Keys.from_config())
    app.state.kpi_webhook_guard = True


class ExposureError(Exception):
    """A setting that would leave a way in open; names the key, in Chinese and English."""

    def __init__(self, key: str, zh: str, en: str) -> None:
        super().__init__(f"{key}: {zh} / {en}")
        self.key, self.zh, self.en = key, zh, en


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 (also as ::ffff:127.x) and `localhost`."""
    h = host.strip().strip("[]").lower()
    if h == "localhost" or h.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def check_exposure(host: str, keys: Keys) -> list[str]:
    """Refuse (ExposureError) to listen beyond this machine while an adapter has no access
    token; on loopback, the warnings to log instead (SPEC §5)."""
    missing = [v for v, t in (("v11", keys.v11_token), ("v12", keys.v12_token)) if not t]
    if not missing:
        return []
    which = "、".join(missing)
    if not is_loopback(host):
        raise ExposureError(
            "ONEBOT_ACCESS_TOKEN",
            f"HOST={host} 会让其他机器连上机器人，必须在 .env 里设置 ONEBOT_ACCESS_TOKEN"
            f"（QQ 端填同一个 token）；OneBot {which} 没有 token",
            f"HOST={host} is reachable from other machines: set ONEBOT_ACCESS_TOKEN in .env "
            f"(and the same token in the OneBot client); OneBot {which} has none",
        )
    return [
        f"没有设置 ONEBOT_ACCESS_TOKEN：本机任何程序都能以任意账号连上 OneBot {which} WebSocket，"
        "HTTP 上报已关闭 / ONEBOT_ACCESS_TOKEN is not set: any local program may connect "
        f"to the OneBot {which} WebSocket as any account; HTTP webhooks are off"
    ]


def private_files(sqlite_file: Path | None = None) -> None:
    """Files the process creates are readable by its user only (umask 077: files 0600,
    folders 0700), and an existing SQLite database (with -wal/-shm) made by an older
    version is tightened to 0600."""
    os.umask(0o077)
    if sqlite_file is None:
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = sqlite_file.with_name(sqlite_file.name + suffix)
        try:
            if path.exists() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except OSError as e:
            logger.warning(f"无法收紧权限 / cannot chmod {path}: {e}")
