"""A local HTTP server for the fetcher and evidence tests (127.0.0.1 only), with counters
kept on the server side: hits per path, bytes written, requests in flight at once."""

from __future__ import annotations

import gzip
import io
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image

SECRET = b"TOP-SECRET root:x:0:0"
MB = 1024 * 1024
HUGE = 50 * MB
PAGE = "<html><title>文章</title>".encode() + bytes(range(256)) * 2000


def picture(fmt: str = "PNG", seed: int = 0, size: int = 8) -> bytes:
    """A small real image; a different `seed` gives different bytes."""
    rng = random.Random(seed)
    im = Image.new("RGB", (size, size))
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))] * (size * size))
    out = io.BytesIO()
    im.save(out, format=fmt)
    return out.getvalue()


def noise_png(seed: int, side: int = 200) -> bytes:
    """An incompressible PNG of about side² × 3 bytes."""
    rng = random.Random(seed)
    im = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return out.getvalue()


@cache
def bomb() -> bytes:
    """50 MB of zeros, gzipped to about 50 KB."""
    return gzip.compress(b"\0" * HUGE, compresslevel=9)


class Files:
    """State shared with the handler threads."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.written = 0
        self.done = threading.Event()
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.base = ""

    def wait_in_flight(self, n: int, timeout: float = 5.0) -> bool:
        """Block until `n` requests are being served at once (call in a thread)."""
        deadline = time.monotonic() + timeout
        while self.in_flight < n:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True


def _handler(files: Files) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, body: bytes, ctype: str = "text/plain", status: int = 200, **hdr: str):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in hdr.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            self.wfile.write(body)

        def _redirect(self, to: str, status: int = 302) -> None:
            self.send_response(status)
            self.send_header("Location", to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _stream(self, total: int, chunk: bytes, delay: float = 0.0) -> None:
            sent = 0
            try:
                while sent < total:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    with files.lock:
                        files.written += len(chunk)
                    if delay:
                        time.sleep(delay)
            except OSError:
                pass
            finally:
                files.done.set()

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            with files.lock:
                files.hits[path] += 1
                files.headers.append(dict(self.headers.items()))
            if path == "/secret":
                self._send(SECRET)
            elif path == "/echo":
                h = self.headers
                echo = f"host={h['Host']}\nua={h['User-Agent']}\ncookie={h.get('Cookie', '')}"
                self._send(echo.encode())
            elif path == "/ok":
                self._send(b"ok")
            elif path == "/to":
                self._redirect(query["url"][0], int(query.get("status", ["302"])[0]))
            elif path == "/relative":
                self._redirect("ok")
            elif path == "/loop":
                self._redirect("/loop")
            elif path == "/cookie":
                self.send_response(302)
                self.send_header("Set-Cookie", "sid=abc; Path=/")
                self.send_header("Location", "/echo")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/image":
                fmt = query.get("fmt", ["PNG"])[0]
                seed = int(query.get("seed", ["0"])[0])
                ctype = query.get("ctype", ["image/png"])[0]
                self._send(picture(fmt, seed), ctype)
            elif path == "/noise":
                self._send(noise_png(int(query["seed"][0])), "image/png")
            elif path == "/huge":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                if "declared" in query:
                    self.send_header("Content-Length", str(HUGE))
                self.end_headers()
                self._stream(HUGE, b"\x89PNG" + b"\0" * (64 * 1024 - 4))
            elif path == "/gzip":
                self._send(gzip.compress(PAGE), "text/html", Content_Encoding="gzip")
            elif path == "/bomb":
                self._send(bomb(), "text/html", Content_Encoding="gzip")
            elif path == "/slow":
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.end_headers()
                self._stream(10_000, b"x", delay=0.1)
            elif path == "/busy":
                with files.lock:
                    files.in_flight += 1
                    files.max_in_flight = max(files.max_in_flight, files.in_flight)
                try:
                    if "hold" in query:
                        files.release.wait(10)
                    else:
                        time.sleep(0.05)
                    self._send(picture("PNG", int(query.get("seed", ["0"])[0])), "image/png")
                finally:
                    with files.lock:
                        files.in_flight -= 1
            else:
                self._send(b"not found", status=404)

    return Handler


@contextmanager
def serve(host: str = "127.0.0.1", port: int = 0) -> Iterator[Files]:
    files = Files()
    server = ThreadingHTTPServer((host, port), _handler(files))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    files.base = f"http://{host}:{server.server_address[1]}"
    try:
        yield files
    finally:
        files.release.set()
        server.shutdown()
        server.server_close()
