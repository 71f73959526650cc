"""The one safe fetcher: every URL the bot downloads goes through `fetch` (SPEC §3, §6).

- http and https only, at most `MAX_REDIRECTS` redirects, each hop checked like the first.
- Each hop's host is resolved and refused unless every address is public (`is_public`);
  the request then goes to the address that was checked (the IP literal, with the original
  `Host` header and, for https, the host as TLS server name and certificate name), so a
  second DNS answer can never send it elsewhere. Hosts named in `KPI_FETCH_ALLOW_HOSTS`
  (exact, case-insensitive, any port) are exempt from the address rule, nothing else is.
- One time cap covers resolving, connecting, every redirect and the body; the body is
  streamed and reading stops as soon as it passes the caller's byte cap (compressed bodies
  are decoded in bounded steps, so a small gzip bomb cannot grow past it either).
- At most `KPI_FETCH_CONCURRENCY` fetches run at once in the process; the others queue
  (up to `QUEUE_TIMEOUT`, not counted in the time cap). The link checker has a pool of its
  own (`pool="linkcheck"`, `KPI_LINKCHECK_CONCURRENCY`), so re-checking a month of links
  never makes an evidence download wait, nor the other way round.
- `truncate=True` (the link checker): a body past the byte cap is cut there instead of
  failing; `Fetched.truncated` says so.
- No cookies are kept, no proxy from the environment is used, and the User-Agent says who
  is asking: `KPI-Bot/<version> (+evidence check)`.

The outcome is a `Fetched` (any HTTP status, the caller decides), or `FetchRefused` (the
bot will not connect: scheme, malformed URL, non-public address) or `FetchFailed` (it tried:
DNS, connection, time-out, too big, too many redirects, broken encoding), each with a
`reason` code a caller can classify on (a link checker's 「无法确认」).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import weakref
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from importlib import metadata

import httpx

MAX_REDIRECTS = 5
TIMEOUT = 10.0
QUEUE_TIMEOUT = 60.0
DEFAULT_CONCURRENCY = 4
DECODE_STEP = 64 * 1024
REDIRECTS = frozenset({301, 302, 303, 307, 308})

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


class FetchError(Exception):
    """A fetch that produced no response: `reason` is a stable code, `detail` says why."""

    def __init__(self, reason: str, url: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail or url}")
        self.reason = reason
        self.url = url
        self.detail = detail


class FetchRefused(FetchError):
    """Never connected: `scheme`, `url` (malformed) or `address` (not public, any hop)."""


class FetchFailed(FetchError):
    """Tried and failed: `dns`, `connect`, `timeout`, `busy` (queue wait), `too_big`,
    `redirects`, `protocol`, `encoding`, or `status` (raised by `Fetched.raise_for_status`)."""


@dataclass(frozen=True)
class Fetched:
    url: str
    """The final URL, after redirects."""
    status: int
    headers: httpx.Headers
    body: bytes
    """Empty when the body went to a sink."""
    size: int
    """Bytes of (decoded) body read."""
    hops: tuple[str, ...]
    """Every URL requested, the first one included."""
    truncated: bool = False
    """The body was cut at the byte cap (`truncate=True`)."""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def raise_for_status(self) -> Fetched:
        if not self.ok:
            raise FetchFailed("status", self.url, f"HTTP {self.status}")
        return self


def is_public(address: str) -> bool:
    """An address the bot may connect to: globally routable, not loopback, private, link-local,
    multicast, reserved, unspecified, CGNAT 100.64/10 or IPv6 site-local/ULA; IPv6 forms that
    embed an IPv4 address (mapped, 6to4, NAT64) are judged by that address, and the deprecated
    IPv4-compatible `::a.b.c.d` and local-use NAT64 are never public (SPEC §6)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        embedded = ip.ipv4_mapped or ip.sixtofour
        if ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
        if ip in _V4_COMPATIBLE or ip in _NAT64_LOCAL or ip.is_site_local or ip.teredo:
            return False
    elif ip in _CGNAT:
        return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_reserved
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


async def _resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals in any spelling come back normalised)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _parse(url: object) -> httpx.URL:
    if not isinstance(url, (str, httpx.URL)):
        raise FetchRefused("url", repr(url)[:80], "不是网址")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as e:
        raise FetchRefused("url", str(url)[:200], str(e)) from None
    if parsed.scheme not in ("http", "https"):
        raise FetchRefused("scheme", str(url)[:200], f"只抓取 http/https，收到 {parsed.scheme!r}")
    if not parsed.raw_host or b"%" in parsed.raw_host:
        raise FetchRefused("url", str(url)[:200], "缺少主机名")
    return parsed


def _host_key(host: str) -> str:
    return host.lower().rstrip(".")


def _allowed(url: httpx.URL, allow: frozenset[str]) -> bool:
    return bool(allow) and (
        _host_key(url.host) in allow or _host_key(url.raw_host.decode("ascii")) in allow
    )


async def _addresses(url: httpx.URL, allow: frozenset[str]) -> list[str]:
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = await _resolve(host, port)
    except (OSError, UnicodeError) as e:
        raise FetchFailed("dns", str(url), f"{host} 无法解析：{e}") from None
    if not addresses:
        raise FetchFailed("dns", str(url), f"{host} 没有地址")
    if not _allowed(url, allow):
        for address in addresses:
            if not is_public(address):
                raise FetchRefused("address", str(url), f"{host} → {address} 不是公网地址")
    return addresses


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context(trust_env=False)


@cache
def user_agent(purpose: str = "evidence check") -> str:
    try:
        version = metadata.version("kpi-bot")
    except metadata.PackageNotFoundError:
        version = "dev"
    return f"KPI-Bot/{version} (+{purpose})"


@asynccontextmanager
async def _open(
    url: httpx.URL, addresses: list[str], headers: dict[str, str], timeout: float
) -> AsyncIterator[httpx.Response]:
    """GET `url` from the first of its checked `addresses` that accepts a connection."""
    host = url.raw_host.decode("ascii")
    headers = {**headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    async with httpx.AsyncClient(
        verify=_ssl_context(),
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout),
    ) as client:
        for n, address in enumerate(addresses, 1):
            try:
                wire = url.copy_with(host=address, username=None, password=None, fragment=None)
            except httpx.InvalidURL:
                raise FetchFailed("connect", str(url), f"{host} → {address} 无法连接") from None
            request = client.build_request("GET", wire, headers=headers, extensions=extensions)
            try:
                response = await client.send(request, stream=True)
            except httpx.ConnectError as e:
                if n < len(addresses):
                    continue
                raise FetchFailed("connect", str(url), f"{host} 连接失败：{e}") from None
            except httpx.TimeoutException:
                raise FetchFailed("timeout", str(url), f"{host} 超时") from None
            except httpx.TransportError as e:
                raise FetchFailed("protocol", str(url), f"{host}：{e!r}") from None
            try:
                yield response
            finally:
                await response.aclose()
            return


class _Decoder:
    """Bounded decoding of a `Content-Encoding`: each step yields at most DECODE_STEP bytes,
    so the caller's cap stops a compression bomb after one step."""

    def __init__(self, encoding: str, url: str) -> None:
        encoding = encoding.strip().lower()
        if encoding not in ("", "identity", "gzip", "x-gzip", "deflate"):
            raise FetchFailed("encoding", url, f"不支持的压缩 {encoding!r}")
        self.url = url
        self.state = (
            zlib.decompressobj(zlib.MAX_WBITS | 32) if encoding not in ("", "identity") else None
        )

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self.state is None:
            yield data
            return
        try:
            while data:
                yield self.state.decompress(data, DECODE_STEP)
                data = self.state.unconsumed_tail
        except zlib.error as e:
            raise FetchFailed("encoding", self.url, f"压缩数据损坏：{e}") from None

    def finish(self) -> Iterator[bytes]:
        if self.state is not None:
            yield self.state.flush()


async def _read(
    response: httpx.Response,
    url: str,
    max_bytes: int,
    sink: Callable[[bytes], object] | None,
    truncate: bool = False,
) -> tuple[bytes, int, bool]:
    declared = response.headers.get("content-length", "")
    if not truncate and declared.isdigit() and int(declared) > max_bytes:
        raise FetchFailed("too_big", url, f"声明 {declared} 字节，上限 {max_bytes}")
    decoder = _Decoder(response.headers.get("content-encoding", ""), url)
    body = bytearray()
    size = 0

    class _Full(Exception):
        pass

    async def take(pieces: Iterator[bytes]) -> None:
        nonlocal size
        for piece in pieces:
            if truncate and size + len(piece) > max_bytes:
                piece = piece[: max_bytes - size]
                size += len(piece)
                if sink is None:
                    body.extend(piece)
                elif piece:
                    await asyncio.to_thread(sink, piece)
                raise _Full
            size += len(piece)
            if size > max_bytes:
                raise FetchFailed("too_big", url, f"超过 {max_bytes} 字节")
            if sink is None:
                body.extend(piece)
            elif piece:
                await asyncio.to_thread(sink, piece)

    try:
        async for raw in response.aiter_raw():
            await take(decoder.feed(raw))
        await take(decoder.finish())
    except _Full:
        return bytes(body), size, True
    except httpx.TimeoutException:
        raise FetchFailed("timeout", url, "读取超时") from None
    except httpx.TransportError as e:
        raise FetchFailed("protocol", url, f"读取中断：{e!r}") from None
    return bytes(body), size, False


async def _follow(
    start: httpx.URL,
    *,
    max_bytes: int,
    sink: Callable[[bytes], object] | None,
    headers: dict[str, str],
    allow: frozenset[str],
    timeout: float,
    truncate: bool = False,
) -> Fetched:
    url = start
    hops: list[str] = []
    while True:
        hops.append(str(url))
        addresses = await _addresses(url, allow)
        async with _open(url, addresses, headers, timeout) as response:
            location = response.headers.get("location")
            if response.status_code in REDIRECTS and location:
                if len(hops) > MAX_REDIRECTS:
                    raise FetchFailed("redirects", str(start), f"超过 {MAX_REDIRECTS} 次跳转")
                try:
                    target = url.join(location)
                except (httpx.InvalidURL, TypeError, ValueError):
                    raise FetchRefused("url", str(url), f"跳转地址无效：{location[:200]}") from None
                url = _parse(target)
                continue
            if sink is not None and not 200 <= response.status_code < 300:
                body, size, cut = b"", 0, False
            else:
                body, size, cut = await _read(response, str(url), max_bytes, sink, truncate)
            return Fetched(
                str(url), response.status_code, response.headers, body, size, tuple(hops), cut
            )


_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)
POOLS = ("default", "linkcheck")
DEFAULT_LINKCHECK_CONCURRENCY = 8


def _settings(pool: str = "default") -> tuple[frozenset[str], int]:
    try:
        from .config import get_config

        cfg = get_config()
    except ValueError:  # NoneBot not initialised (a script): the defaults
        size = DEFAULT_CONCURRENCY if pool == "default" else DEFAULT_LINKCHECK_CONCURRENCY
        return frozenset(), size
    size = cfg.kpi_fetch_concurrency if pool == "default" else cfg.kpi_linkcheck_concurrency
    return cfg.fetch_allow_hosts, size


def _slot(concurrency: int, pool: str = "default") -> asyncio.Semaphore:
    loop = asyncio.get_running_loop()
    slots = _slots.setdefault(loop, {})
    slot = slots.get(pool)
    if slot is None:
        slot = slots[pool] = asyncio.Semaphore(concurrency)
    return slot


async def fetch(
    url: str,
    *,
    max_bytes: int,
    timeout: float = TIMEOUT,
    sink: Callable[[bytes], object] | None = None,
    purpose: str = "evidence check",
    accept: str = "*/*",
    allow_hosts: Iterable[str] | None = None,
    queue_timeout: float = QUEUE_TIMEOUT,
    pool: str = "default",
    truncate: bool = False,
) -> Fetched:
    """GET `url` under the rules of this module. With a `sink` (called in a worker thread
    with each piece of the body) only a 2xx body is read, into the sink; otherwise the body
    comes back in `Fetched.body`. `allow_hosts` replaces `KPI_FETCH_ALLOW_HOSTS`; `pool`
    names the concurrency pool (`POOLS`); `truncate` cuts a long body at `max_bytes`."""
    if pool not in POOLS:
        raise ValueError(f"unknown fetch pool {pool!r}")
    start = _parse(url)
    configured, concurrency = _settings(pool)
    allow = configured if allow_hosts is None else frozenset(map(_host_key, allow_hosts))
    headers = {
        "User-Agent": user_agent(purpose),
        "Accept": accept,
        "Accept-Encoding": "gzip, deflate",
    }
    slot = _slot(concurrency, pool)
    try:
        await asyncio.wait_for(slot.acquire(), queue_timeout)
    except asyncio.TimeoutError:
        raise FetchFailed("busy", str(start), f"排队超过 {queue_timeout:g} 秒") from None
    try:
        return await asyncio.wait_for(
            _follow(
                start,
                max_bytes=max_bytes,
                sink=sink,
                headers=headers,
                allow=allow,
                timeout=timeout,
                truncate=truncate,
            ),
            timeout,
        )
    except asyncio.TimeoutError:
        raise FetchFailed("timeout", str(start), f"超过 {timeout:g} 秒") from None
    finally:
        slot.release()
