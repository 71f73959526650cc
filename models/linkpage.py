"""Reading a fetched page for the link checker (SPEC §4 "Evidence checks"): its title and
visible text, a fingerprint of that text, and the verdict 「正常」 alive, 「已删除」 removed or
「无法确认」 unknown. Plain functions of bytes and strings: no fetching, no database.

- 404 and 410 are removed; 5xx, 401, 403, 429 and every other non-2xx status are unknown.
- A 2xx page is judged by the markers (`models/linkmarkers.toml`, plus the company's own
  file): a verification or login marker makes it unknown (never removed), else a deleted
  marker makes it removed, else a page with no readable text is unknown, else alive.
  Markers are matched in the title and the visible text only (scripts and styles carry
  every message a platform might show, the deleted one included). A marker row that names
  hosts applies to those hosts and their subdomains; one that names none, to any host.
- The fingerprint is a 64-bit simhash of the page's main text: its blocks (paragraphs) of
  at least `MIN_BLOCK_CHARS` letters, with digits, spaces and punctuation taken out — so a
  date, a view count, a menu or a short ad does not move it, and a longer one moves it in
  proportion to its share of the text. Two pages whose fingerprints differ in at most `SAME_ARTICLE_BITS` of 64 bits are
  the same article (two different texts differ in about 32). A page with less than
  `MIN_FINGERPRINT_CHARS` letters of main text gets none.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ALIVE, REMOVED, UNKNOWN = "alive", "removed", "unknown"
VERDICT_NAMES = {ALIVE: "正常", REMOVED: "已删除", UNKNOWN: "无法确认"}
SHIPPED_MARKERS = Path(__file__).with_name("linkmarkers.toml")
MIN_READABLE_CHARS = 8
MIN_FINGERPRINT_CHARS = 80
MIN_BLOCK_CHARS = 30
SAME_ARTICLE_BITS = 6
SHINGLE = 4
_SKIPPED_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe"})
_VOID_TAGS = frozenset({"br", "img", "meta", "link", "input", "hr", "source", "area", "wbr"})


@dataclass(frozen=True)
class Marker:
    kind: str  # removed | verify
    text: str
    platform: str = ""
    hosts: tuple[str, ...] = ()

    def applies_to(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return not self.hosts or any(host == h or host.endswith("." + h) for h in self.hosts)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    reason: str

    @property
    def name(self) -> str:
        return VERDICT_NAMES[self.verdict]


class MarkerFileError(ValueError):
    """A marker file that cannot be used; the message names the file and the row."""


def load_markers(extra: str | Path | None = None) -> tuple[Marker, ...]:
    """The shipped markers, then those of `extra` (KPI_LINKCHECK_MARKERS), if given."""
    markers = list(_read_markers(SHIPPED_MARKERS))
    if extra:
        markers += _read_markers(Path(extra))
    return tuple(markers)


def _read_markers(path: Path) -> list[Marker]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise MarkerFileError(f"{path}：无法读取（{e.strerror or e}）") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise MarkerFileError(f"{path}：不是有效的 TOML（{e}）") from e
    if unknown := set(data) - {"removed", "verify"}:
        raise MarkerFileError(
            f"{path}：未知的表 {sorted(unknown)}，只能是 [[removed]] 或 [[verify]]"
        )
    out = []
    for kind in ("removed", "verify"):
        rows = data.get(kind, [])
        if not isinstance(rows, list):
            raise MarkerFileError(f"{path}：{kind} 应写成 [[{kind}]] 表")
        for n, row in enumerate(rows, 1):
            where = f"{path}：第 {n} 个 [[{kind}]]"
            if not isinstance(row, dict):
                raise MarkerFileError(f"{where} 不是表")
            if extra := set(row) - {"text", "platform", "host", "hosts"}:
                raise MarkerFileError(f"{where} 有未知的键 {sorted(extra)}")
            text = row.get("text")
            if not isinstance(text, str) or not text.strip():
                raise MarkerFileError(f"{where} 缺少 text（页面上的文字）")
            hosts = row.get("hosts", [])
            if "host" in row:
                hosts = [row["host"], *hosts]
            if not isinstance(hosts, list) or not all(
                isinstance(h, str) and re.fullmatch(r"[\w.\-]+", h.strip()) for h in hosts
            ):
                raise MarkerFileError(f"{where} 的 host/hosts 应是域名（例如 mp.weixin.qq.com）")
            out.append(
                Marker(
                    kind,
                    _norm(text).strip(),
                    str(row.get("platform", "")),
                    tuple(h.strip().lower().rstrip(".") for h in hosts),
                )
            )
    return out


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.text: list[str] = []
        self._skip: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIPPED_TAGS:
            self._skip.append(tag)
        elif tag in ("p", "div", "li", "h1", "h2", "h3", "section", "article", "tr"):
            self.text.append("\n")

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif self._skip and tag == self._skip[-1]:
            self._skip.pop()
        elif tag in _SKIPPED_TAGS and tag in self._skip:
            while self._skip and self._skip.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.text.append(data)


def decode(body: bytes, content_type: str = "") -> str:
    """The page as text: the charset the header or a `<meta>` names, else UTF-8 (GB18030
    when UTF-8 does not fit), never failing."""
    charset = _charset(content_type) or _charset(body[:4096].decode("ascii", "ignore"))
    for name in [c for c in (charset, "utf-8", "gb18030") if c]:
        try:
            return body.decode(name)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("utf-8", "replace")


def _charset(text: str) -> str | None:
    m = re.search(r"charset\s*=\s*[\"']?([\w\-]+)", text, re.I)
    return m.group(1).lower() if m else None


def read_page(body: bytes, content_type: str = "") -> tuple[str, str]:
    """(title, visible text) of an HTML page; a plain-text body is all text."""
    text = decode(body, content_type)
    if "html" not in content_type.lower() and "<" not in text[:1024]:
        return "", _norm(text)
    parser = _Text()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # html.parser is lenient; a pathological page still gets a verdict
        pass
    title = re.sub(r"\s+", " ", _norm("".join(parser.title))).strip()
    return title[:300], _norm("".join(parser.text))


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def judge(status: int, title: str, text: str, host: str, markers: tuple[Marker, ...]) -> Verdict:
    """The verdict on a fetched page (see the module docstring)."""
    if status in (404, 410):
        return Verdict(REMOVED, f"HTTP {status}")
    if status >= 500:
        return Verdict(UNKNOWN, f"HTTP {status}（对方服务器出错）")
    if status in (401, 403, 429):
        return Verdict(UNKNOWN, f"HTTP {status}（需要登录或被拒绝访问）")
    if not 200 <= status < 300:
        return Verdict(UNKNOWN, f"HTTP {status}")
    page = f"{title}\n{text}"
    flat = re.sub(r"\s+", "", page)
    for kind in ("verify", "removed"):
        for m in markers:
            if m.kind == kind and m.applies_to(host) and re.sub(r"\s+", "", m.text) in flat:
                if kind == "verify":
                    return Verdict(UNKNOWN, f"验证或登录页面「{m.text}」")
                return Verdict(REMOVED, f"{m.platform or '页面'}显示「{m.text}」")
    if len(flat) < MIN_READABLE_CHARS:
        return Verdict(UNKNOWN, "页面没有可读的内容")
    return Verdict(ALIVE, f"HTTP {status}")


def fingerprint(text: str) -> str | None:
    """A 64-bit simhash of the text's main letters (16 hex digits), or None for a short text."""
    blocks = (re.sub(r"[\W\d_]+", "", b) for b in text.lower().split("\n"))
    letters = "".join(b for b in blocks if len(b) >= MIN_BLOCK_CHARS)
    if len(letters) < MIN_FINGERPRINT_CHARS:
        return None
    codes = np.frombuffer(letters.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - SHINGLE + 1
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        h = np.zeros(n, dtype=np.uint64)
        for k, mult in enumerate(_MULTIPLIERS):
            h ^= codes[k : k + n] * mult
        h = _mix(h)
    bits = np.unpackbits(h.astype(">u8").view(np.uint8)).reshape(n, 64)
    ones = bits.sum(axis=0, dtype=np.int64)
    value = int("".join("1" if 2 * o > n else "0" for o in ones), 2)
    return f"{value:016x}"


_MULTIPLIERS = tuple(  # one per letter of a shingle (SHINGLE)
    np.uint64(m)
    for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)
)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every bit of a shingle's hash depends on every letter."""
    h ^= h >> np.uint64(30)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    h ^= h >> np.uint64(27)
    h *= np.uint64(0x94D049BB133111EB)
    h ^= h >> np.uint64(31)
    return h


def distance(a: str, b: str) -> int:
    """Differing bits of two hex fingerprints of one length (a large number otherwise)."""
    if len(a) != len(b):
        return 1 << 30
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return 1 << 30


def same_article(a: str, b: str) -> bool:
    return distance(a, b) <= SAME_ARTICLE_BITS
