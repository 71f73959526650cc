"""A local web site for the link checker's tests and bench (127.0.0.1 only): articles, the
deleted pages of each platform, verification pages, errors, a huge and a slow page; with
counters kept on the server side (hits per path, requests in flight at once, per host)."""

from __future__ import annotations

import io
import json
import multiprocessing
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from PIL import Image, ImageDraw

ARTICLE = (
    "今天给大家分享一下我们店铺的售后服务流程。第一步，客户下单后客服会在十分钟内确认订单信息，"
    "核对收货地址和联系电话。第二步，仓库根据订单安排发货，并把物流单号同步给客户。第三步，"
    "客户收到商品后，客服会主动回访，询问使用感受，记录客户的意见和建议。如果商品有质量问题，"
    "我们承诺七天无理由退换，运费由店铺承担。最后，每个月我们会把客户的反馈整理成报告，"
    "用来改进产品和服务。希望这篇文章能帮助大家了解我们的服务，也欢迎大家在评论区留言交流。"
)
OTHER_ARTICLE = (
    "夏天到了，防晒成了很多人关心的话题。选择防晒霜时要看防晒指数和适合的肤质，"
    "油性皮肤适合清爽的乳液，干性皮肤适合滋润的霜状产品。出门前二十分钟涂抹，"
    "每隔两三个小时补涂一次，游泳或者出汗之后要及时补涂。除了防晒霜，遮阳伞、帽子和"
    "太阳镜也是很好的物理防晒方式。晚上回家要认真卸妆清洁，再用保湿产品帮助皮肤恢复。"
)


def article_page(text: str = ARTICLE, ad: str = "", when: str = "2026-11-03 10:00") -> bytes:
    """A WeChat-like article page: the text, a date, an ad, and scripts carrying every
    message the platform might show (the deleted one included)."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>售后服务流程分享</title>
<script>var msg = {{deleted: "该内容已被发布者删除", bad: "此内容因违规无法查看"}};</script>
<style>.x{{color:red}}</style></head><body>
<h1>售后服务流程分享</h1><p class="time">{when} 阅读 1234</p>
<div id="js_content"><p>{text}</p></div><div class="ad">{ad}</div>
</body></html>""".encode()


_CHARS = "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你"
_CHARS += "能而子那得于着下自之年过发后作里用道行所然家种事成方多经么去法学如都同现当没动面起看定天分还进好小部其些主样理心她本前开但因只从想实"


def unique_article(n: int) -> str:
    """An article text of its own for each `n` (the bench's 2,000 different pages)."""
    rng = random.Random(n)
    return "".join(rng.choice(_CHARS) for _ in range(400))


def message_page(title: str, message: str) -> bytes:
    return (
        f'<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body><div class="weui-msg"><h2 class="title">{message}</h2></div></body></html>'
    ).encode()


DELETED = {  # platform → (host, the page it shows)
    "wechat": ("mp.weixin.qq.com", message_page("微信公众平台", "该内容已被发布者删除")),
    "wechat_banned": ("mp.weixin.qq.com", message_page("微信公众平台", "此内容因违规无法查看")),
    "zhihu": ("www.zhihu.com", message_page("知乎", "你似乎来到了没有知识存在的荒原")),
    "toutiao": ("www.toutiao.com", message_page("今日头条", "抱歉，该内容已被删除")),
    "weibo": ("weibo.com", message_page("微博", "抱歉，此微博已被作者删除。")),
    "bilibili": ("www.bilibili.com", message_page("哔哩哔哩", "啊叻？视频不见了？")),
    "xiaohongshu": ("www.xiaohongshu.com", message_page("小红书", "当前笔记暂时无法浏览")),
    "douyin": ("www.douyin.com", message_page("抖音", "你要观看的视频不存在")),
}
VERIFY = message_page("验证", "当前环境异常，完成验证后即可继续访问")
TOO_OFTEN = message_page("提示", "访问过于频繁，请稍后再试")


def screenshot(seed: int) -> Image.Image:
    """A chat-app-like screenshot: one layout, the contents vary with `seed`."""
    rng = random.Random(seed)
    im = Image.new("RGB", (720, 1280), (237, 237, 237))
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, 720, 120], fill=(40, 40, 40))
    for i in range(12):
        y = 160 + i * 90
        d.rectangle([30, y, 100, y + 70], fill=tuple(rng.randrange(256) for _ in range(3)))
        d.rectangle([120, y + 10, 120 + rng.randrange(200, 560), y + 30], fill=(60, 60, 60))
        d.rectangle([120, y + 40, 120 + rng.randrange(100, 400), y + 55], fill=(150, 150, 150))
    return im


def screenshot_bytes(seed: int, fmt: str = "PNG", width: int = 720) -> bytes:
    im = screenshot(seed)
    if width != 720:
        im = im.resize((width, width * 16 // 9))
    out = io.BytesIO()
    im.save(out, format=fmt, **({"quality": 60} if fmt in ("JPEG", "WEBP") else {}))
    return out.getvalue()


class Site:
    """State shared with the handler threads; `gone` paths answer 404 from now on."""

    def __init__(self, delay: float = 0.0) -> None:
        self.hits: Counter[str] = Counter()
        self.gone: set[str] = set()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.host_flight: Counter[str] = Counter()
        self.max_host_flight: Counter[str] = Counter()
        self.headers: list[dict[str, str]] = []
        self.written = 0
        self.delay = delay
        self.base = ""
        self.port = 0

    def url(self, path: str, host: str | None = None) -> str:
        return f"http://{host}:{self.port}{path}" if host else f"{self.base}{path}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _leave(self) -> None:
            """The request stops counting as in flight: before its answer is written (once
            the client has read it, it may send the next one), or when it ends."""
            if getattr(self, "_counted", False):
                self._counted = False
                with site.lock:
                    site.in_flight -= 1
                    site.host_flight[self._host] -= 1

        def _send(self, body: bytes, status: int = 200, ctype: str = "text/html; charset=utf-8"):
            self._leave()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Set-Cookie", "sid=abc; Path=/")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
            with site.lock:
                site.hits[path] += 1
                site.headers.append(dict(self.headers.items()))
                site.in_flight += 1
                site.max_in_flight = max(site.max_in_flight, site.in_flight)
                site.host_flight[host] += 1
                site.max_host_flight[host] = max(site.max_host_flight[host], site.host_flight[host])
            self._counted, self._host = True, host
            try:
                if site.delay:
                    time.sleep(site.delay)
                self._route(path, query)
            except OSError:
                pass
            finally:
                self._leave()

        def _route(self, path: str, query: dict[str, list[str]]) -> None:
            if path in site.gone:
                self._send(b"<html><title>404</title><body>Not Found</body></html>", 404)
            elif path.startswith("/a/"):  # an article; ?ad= and ?when= vary the page
                ad = query.get("ad", ["广告：限时优惠"])[0]
                when = query.get("when", ["2026-11-03 10:00"])[0]
                self._send(article_page(ARTICLE, ad, when))
            elif path.startswith("/n/"):
                self._send(article_page(unique_article(int(path.removeprefix("/n/")))))
            elif path.startswith("/b/"):
                self._send(article_page(OTHER_ARTICLE))
            elif path == "/status":
                self._send(b"<html><body>error page</body></html>", int(query["code"][0]))
            elif path.startswith("/deleted/"):
                self._send(DELETED[path.removeprefix("/deleted/")][1])
            elif path == "/verify":
                self._send(VERIFY)
            elif path == "/often":
                self._send(TOO_OFTEN)
            elif path == "/empty":
                self._send(b"<html><head><script>render()</script></head><body></body></html>")
            elif path == "/to":
                self.send_response(int(query.get("status", ["302"])[0]))
                self.send_header("Location", query["url"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif path == "/secret":
                self._send(b"TOP-SECRET")
            elif path == "/huge":  # an article followed by 50 MB
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(50 * 1024 * 1024))
                self.end_headers()
                self.wfile.write(article_page())
                chunk = b"<p>" + "填充内容".encode() * 4000 + b"</p>"
                sent = 0
                while sent < 50 * 1024 * 1024:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    with site.lock:
                        site.written += len(chunk)
            elif path == "/slow":
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                for _ in range(100):
                    self.wfile.write(b"x" * 1000)
                    self.wfile.flush()
                    time.sleep(0.1)
            elif path == "/shot":
                fmt = query.get("fmt", ["PNG"])[0]
                width = int(query.get("w", ["720"])[0])
                body = screenshot_bytes(int(query["seed"][0]), fmt, width)
                self._send(body, ctype=f"image/{fmt.lower()}")
            elif path == "/__stats":  # the counters, for a site in another process
                with site.lock:
                    stats = {
                        "served": sum(site.hits.values()),
                        "max_in_flight": site.max_in_flight,
                        "max_per_host": max(site.max_host_flight.values(), default=0),
                    }
                self._send(json.dumps(stats).encode(), ctype="application/json")
            elif path == "/ok":  # the bench's page: a small live article
                self._send(article_page())
            else:
                self._send(b"<html><body>Not Found</body></html>", 404)

    return Handler


@contextmanager
def serve(delay: float = 0.0) -> Iterator[Site]:
    site = Site(delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(site))
    server.daemon_threads = True
    server.request_queue_size = 256
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site.port = server.server_address[1]
    site.base = f"http://127.0.0.1:{site.port}"
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()


def _serve_forever(gone: set[str], port_out) -> None:
    with serve() as site:
        site.gone |= gone
        port_out.send(site.port)
        threading.Event().wait()


@contextmanager
def serve_elsewhere(gone: set[str]) -> Iterator[int]:
    """The site in a process of its own (the bench: the server's work is not the bot's);
    yields its port. Its counters are at `/__stats`."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=_serve_forever, args=(gone, theirs), daemon=True)
    proc.start()
    try:
        yield ours.recv()
    finally:
        proc.terminate()
        proc.join(5)
