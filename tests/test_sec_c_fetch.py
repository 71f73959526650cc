"""Issue 20 finding 5, SPEC §3/§6: the one safe fetcher (bot/fetch.py) never connects to a
non-public address unless the host is named in KPI_FETCH_ALLOW_HOSTS, on any redirect hop,
and caps size, time and concurrency. Local servers on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import threading
import time
import weakref
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import ValidationError

import bot.fetch
from bot.config import Config, get_config
from bot.fetch import FetchFailed, FetchRefused, fetch, is_public
from tests.sec_c_files import HUGE, MB, PAGE, SECRET, Files, _handler, serve


@pytest.fixture
def files() -> Iterator[Files]:
    with serve() as f:
        yield f


def allow(monkeypatch: pytest.MonkeyPatch, hosts: str) -> None:
    monkeypatch.setattr(
        get_config(),
        "kpi_fetch_allow_hosts",
        Config(kpi_fetch_allow_hosts=hosts).kpi_fetch_allow_hosts,
    )


def resolve_as(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Fake DNS for the names in `answers`; other names resolve for real. Returns the log."""
    real = bot.fetch._resolve
    asked: list[str] = []

    async def fake(host: str, port: int) -> list[str]:
        asked.append(host)
        if host in answers:
            return answers[host]
        return await real(host, port)

    monkeypatch.setattr(bot.fetch, "_resolve", fake)
    return asked


def port_of(files: Files) -> int:
    return int(files.base.rsplit(":", 1)[1])


# ---- the address rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.8.9.10",
        "10.0.0.1",
        "172.16.5.4",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "100.127.255.254",
        "0.0.0.0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "198.18.0.1",
        "::",
        "::1",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "fe80::1%1",
        "fec0::1",
        "ff02::1",
        "ff0e::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "::8.8.8.8",
        "2002:7f00:1::1",
        "2002:c0a8:101::1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "64:ff9b:1::808:808",
        "2001::1",
        "2001:db8::1",
        "not an address",
    ],
)
def test_non_public_addresses_are_refused(address: str):
    assert not is_public(address)


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "93.184.216.34",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "2002:808:808::1",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(address: str):
    assert is_public(address)


@pytest.mark.parametrize(
    "spelling",
    [
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.1",
        "017700000001",
        "127.1",
        "0",
        "localhost",
        "LocalHost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "0177.0.0.1",
    ],
)
async def test_loopback_in_any_spelling_is_refused_and_never_reached(files: Files, spelling: str):
    with pytest.raises(FetchRefused) as e:
        await fetch(f"http://{spelling}:{port_of(files)}/secret", max_bytes=MB)
    assert e.value.reason in ("address", "url")
    assert files.hits["/secret"] == 0


async def test_a_name_whose_dns_answer_is_loopback_is_refused(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    resolve_as(monkeypatch, {"images.example.com": ["127.0.0.1"]})
    with pytest.raises(FetchRefused) as e:
        await fetch(f"http://images.example.com:{port_of(files)}/secret", max_bytes=MB)
    assert e.value.reason == "address"
    assert "127.0.0.1" in e.value.detail
    assert files.hits["/secret"] == 0


async def test_one_private_address_among_public_ones_is_enough_to_refuse(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    resolve_as(monkeypatch, {"cdn.example.com": ["93.184.216.34", "10.1.2.3"]})
    with pytest.raises(FetchRefused):
        await fetch("http://cdn.example.com/x.png", max_bytes=MB)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "file:///etc/passwd",
        "gopher://example.com/",
        "//x",
        "",
        42,
        ["http://x/"],
    ],
)
async def test_other_schemes_and_non_urls_are_refused(url: object):
    with pytest.raises(FetchRefused) as e:
        await fetch(url, max_bytes=MB)  # type: ignore[arg-type]
    assert e.value.reason in ("scheme", "url")


async def test_a_redirect_from_an_allowed_host_to_loopback_is_refused(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "localhost")
    secret = f"http://127.0.0.1:{port_of(files)}/secret"
    start = f"http://localhost:{port_of(files)}/to?url={quote(secret)}"
    with pytest.raises(FetchRefused) as e:
        await fetch(start, max_bytes=MB)
    assert e.value.reason == "address"
    assert files.hits["/to"] == 1
    assert files.hits["/secret"] == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_every_redirect_status_is_checked_hop_by_hop(
    files: Files, monkeypatch: pytest.MonkeyPatch, status: int
):
    allow(monkeypatch, "127.0.0.1")
    resolve_as(monkeypatch, {"internal.example.com": ["192.168.0.10"]})
    to = quote("http://internal.example.com/secret")
    with pytest.raises(FetchRefused):
        await fetch(f"{files.base}/to?status={status}&url={to}", max_bytes=MB)


async def test_a_redirect_to_another_scheme_is_refused(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    with pytest.raises(FetchRefused) as e:
        await fetch(f"{files.base}/to?url={quote('file:///etc/passwd')}", max_bytes=MB)
    assert e.value.reason == "scheme"


async def test_allowed_hosts_are_fetched_through_relative_redirects(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, " LOCALHOST ,127.0.0.1")
    got = await fetch(f"http://localhost:{port_of(files)}/relative", max_bytes=MB)
    assert (got.status, got.body, got.size) == (200, b"ok", 2)
    assert got.url == f"http://localhost:{port_of(files)}/ok"
    assert got.hops == (f"http://localhost:{port_of(files)}/relative", got.url)
    assert (await fetch(f"{files.base}/secret", max_bytes=MB)).body == SECRET


async def test_the_exemption_is_the_exact_host_name_only(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    for other in ("2130706433", "127.1", "localhost", "[::ffff:127.0.0.1]"):
        with pytest.raises(FetchRefused):
            await fetch(f"http://{other}:{port_of(files)}/secret", max_bytes=MB)
    assert files.hits["/secret"] == 0


async def test_a_too_long_redirect_chain_fails_after_five_hops(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/loop", max_bytes=MB)
    assert e.value.reason == "redirects"
    assert files.hits["/loop"] == 6


async def test_no_cookies_are_kept_and_the_user_agent_says_who_asks(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    got = await fetch(f"{files.base}/cookie", max_bytes=MB)
    assert got.body.decode().splitlines() == [
        f"host=127.0.0.1:{port_of(files)}",
        f"ua={bot.fetch.user_agent()}",
        "cookie=",
    ]
    assert bot.fetch.user_agent().startswith("KPI-Bot/")
    assert bot.fetch.user_agent().endswith(" (+evidence check)")


async def test_other_statuses_are_returned_for_the_caller_to_judge(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    got = await fetch(f"{files.base}/gone", max_bytes=MB)
    assert (got.status, got.ok, got.body) == (404, False, b"not found")
    with pytest.raises(FetchFailed) as e:
        got.raise_for_status()
    assert e.value.reason == "status"


async def test_connection_refused_is_a_failure_not_a_crash(monkeypatch: pytest.MonkeyPatch):
    allow(monkeypatch, "127.0.0.1")
    with pytest.raises(FetchFailed) as e:
        await fetch("http://127.0.0.1:9/x.png", max_bytes=MB)
    assert e.value.reason == "connect"


async def test_an_unknown_name_is_a_dns_failure(monkeypatch: pytest.MonkeyPatch):
    async def nxdomain(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    monkeypatch.setattr(bot.fetch, "_resolve", nxdomain)
    with pytest.raises(FetchFailed) as e:
        await fetch("https://no-such-host.example/x", max_bytes=MB)
    assert e.value.reason == "dns"


# ---- DNS rebinding: the connection goes to the address that was checked ---------------------


async def test_the_request_goes_to_the_checked_address_not_a_second_dns_answer(
    monkeypatch: pytest.MonkeyPatch,
):
    """`rebind.example` first answers 127.0.0.2 (treated as public here), then 127.0.0.1 (the
    internal service on the same port). Only the first answer is ever used."""
    with serve("127.0.0.2") as outside:
        port = port_of(outside)
        inside = Files()
        server = ThreadingHTTPServer(("127.0.0.1", port), _handler(inside))
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            answers = iter([["127.0.0.2"]])
            asked: list[str] = []

            async def rebinding(host: str, port: int) -> list[str]:
                asked.append(host)
                return next(answers, ["127.0.0.1"])

            monkeypatch.setattr(bot.fetch, "_resolve", rebinding)
            monkeypatch.setattr(bot.fetch, "is_public", lambda a: a == "127.0.0.2")
            got = await fetch(f"http://rebind.example:{port}/echo", max_bytes=MB)
        finally:
            server.shutdown()
            server.server_close()
    assert asked == ["rebind.example"]
    assert got.body.decode().splitlines()[0] == f"host=rebind.example:{port}"
    assert outside.hits["/echo"] == 1
    assert inside.hits == {}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Files, Path]]:
    """An https server on 127.0.0.1 whose certificate names only `kpi.test`."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=kpi.test",
            "-addext",
            "subjectAltName=DNS:kpi.test",
        ],
        check=True,
        capture_output=True,
    )
    files = Files()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(files))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    files.base = f"https://kpi.test:{server.server_address[1]}"
    yield files, cert
    server.shutdown()
    server.server_close()


async def test_https_to_the_checked_address_verifies_the_certificate_for_the_host_name(
    tls_files: tuple[Files, Path], monkeypatch: pytest.MonkeyPatch
):
    files, cert = tls_files
    trusted = ssl.create_default_context(cafile=str(cert))
    monkeypatch.setattr(bot.fetch, "_ssl_context", lambda: trusted)
    resolve_as(monkeypatch, {"kpi.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]})
    allow(monkeypatch, "kpi.test,impostor.test")
    got = await fetch(f"{files.base}/echo", max_bytes=MB)
    assert got.body.decode().splitlines()[0] == f"host=kpi.test:{port_of(files)}"
    with pytest.raises(FetchFailed) as e:
        await fetch(f"https://impostor.test:{port_of(files)}/echo", max_bytes=MB)
    assert e.value.reason == "connect"
    assert "certificate" in e.value.detail.lower() or "hostname" in e.value.detail.lower()
    assert files.hits["/echo"] == 1


# ---- caps ------------------------------------------------------------------------------------


async def test_an_oversized_body_stops_reading_at_the_cap(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    received: list[int] = []
    started = time.monotonic()
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/huge", max_bytes=MB, sink=lambda b: received.append(len(b)))
    assert e.value.reason == "too_big"
    assert sum(received) <= MB
    assert await asyncio.to_thread(files.done.wait, 10)
    assert files.written < HUGE // 2  # the server was cut off early, not read to the end
    assert time.monotonic() - started < 5


async def test_a_declared_oversized_body_is_not_read_at_all(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    received: list[bytes] = []
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/huge?declared=1", max_bytes=MB, sink=received.append)
    assert e.value.reason == "too_big"
    assert received == []


async def test_a_compression_bomb_stops_at_the_cap(files: Files, monkeypatch: pytest.MonkeyPatch):
    allow(monkeypatch, "127.0.0.1")
    received: list[int] = []
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/bomb", max_bytes=MB, sink=lambda b: received.append(len(b)))
    assert e.value.reason == "too_big"
    assert sum(received) <= MB
    assert max(received) <= bot.fetch.DECODE_STEP


async def test_a_compressed_body_is_decoded_whole_within_the_cap(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    got = await fetch(f"{files.base}/gzip", max_bytes=MB)
    assert (got.body, got.size) == (PAGE, len(PAGE))
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/gzip", max_bytes=len(PAGE) - 1)
    assert e.value.reason == "too_big"


async def test_a_slow_server_hits_the_time_cap(files: Files, monkeypatch: pytest.MonkeyPatch):
    allow(monkeypatch, "127.0.0.1")
    started = time.monotonic()
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/slow", max_bytes=MB, timeout=1.0)
    assert e.value.reason == "timeout"
    assert 0.9 < time.monotonic() - started < 3


async def test_no_more_than_the_limit_are_in_flight_and_the_rest_queue(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    monkeypatch.setattr(get_config(), "kpi_fetch_concurrency", 3)
    monkeypatch.setattr(bot.fetch, "_slots", weakref.WeakKeyDictionary())
    got = await asyncio.gather(
        *(fetch(f"{files.base}/busy?seed={n}", max_bytes=MB) for n in range(15))
    )
    assert [g.status for g in got] == [200] * 15
    assert files.hits["/busy"] == 15
    assert files.max_in_flight == 3


async def test_a_fetch_that_waits_too_long_for_a_slot_fails_as_busy(
    files: Files, monkeypatch: pytest.MonkeyPatch
):
    allow(monkeypatch, "127.0.0.1")
    monkeypatch.setattr(bot.fetch, "_slots", weakref.WeakKeyDictionary())
    held = [
        asyncio.create_task(fetch(f"{files.base}/busy?hold=1&seed={n}", max_bytes=MB))
        for n in range(bot.fetch.DEFAULT_CONCURRENCY)
    ]
    assert await asyncio.to_thread(files.wait_in_flight, bot.fetch.DEFAULT_CONCURRENCY)
    with pytest.raises(FetchFailed) as e:
        await fetch(f"{files.base}/ok", max_bytes=MB, queue_timeout=0.2)
    assert e.value.reason == "busy"
    assert files.hits["/ok"] == 0
    files.release.set()
    assert all(r.status == 200 for r in await asyncio.gather(*held))
    assert (await fetch(f"{files.base}/ok", max_bytes=MB)).body == b"ok"


# ---- configuration ---------------------------------------------------------------------------


def test_allowed_hosts_are_host_names_compared_case_insensitively():
    cfg = Config(kpi_fetch_allow_hosts=" Intranet.Example.COM., [::1] ,127.0.0.1,,图片.公司 ")
    assert cfg.fetch_allow_hosts == {"intranet.example.com", "::1", "127.0.0.1", "图片.公司"}
    assert Config().fetch_allow_hosts == frozenset()


@pytest.mark.parametrize(
    "value", ["http://intranet", "intranet:8080", "intranet/path", "a b", "*.example.com"]
)
def test_allowed_hosts_with_a_scheme_port_or_path_stop_the_bot_at_start(value: str):
    with pytest.raises(ValidationError, match="主机名"):
        Config(kpi_fetch_allow_hosts=value)


@pytest.mark.parametrize(
    ("key", "value"),
    [("kpi_fetch_concurrency", 0), ("kpi_fetch_concurrency", 65), ("kpi_evidence_quota_mb", -1)],
)
def test_fetch_limits_are_validated(key: str, value: int):
    with pytest.raises(ValidationError):
        Config(**{key: value})
