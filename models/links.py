"""Link normalisation for the once-per-team duplicate check (SPEC §3 self-reports, "What
people type": one article, one spelling)."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

MAX_LINK = 2000  # characters, and UTF-8 bytes once normalised


def too_long(url: str, normalised: str) -> bool:
    """SPEC §3: a link longer than MAX_LINK is refused, on every engine alike (PostgreSQL's
    B-tree index on the link holds at most about 2,700 bytes a row; SQLite has no limit)."""
    return len(url) > MAX_LINK or len(normalised.encode("utf-8", "replace")) > MAX_LINK


TRACKING = {
    *("fbclid", "gclid", "igshid", "si", "spm", "spm_id_from", "from", "ref", "ref_src"),
    *("share_source", "share_medium", "share_from", "share_token", "share_id", "sharesource"),
    *("share_app_id", "scene", "srcid", "vd_source", "unique_k", "bbid", "is_from_webapp"),
    *("sender_device", "timestamp", "wfr", "xhsshare", "xsec_source", "appuid", "apptime"),
    # WeChat's share and client parameters (`/s/<id>` or __biz, mid, idx, sn name the article)
    *("chksm", "mpshare", "sharer_sharetime", "sharer_shareid", "clicktime", "enterid"),
    *("subscene", "ascene", "devicetype", "nettype", "exportkey", "pass_ticket", "wx_header"),
}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _path_key(path: str) -> str:
    """The path with one spelling (RFC 3986 §6.2.2): percent-escapes of unreserved characters
    decoded and other escapes upper-cased, other non-ASCII characters percent-encoded as
    UTF-8, dot segments resolved, empty segments (doubled and trailing slashes) dropped."""

    def unescape(m: re.Match[str]) -> str:
        char = chr(int(m.group(1), 16))
        return char if char in _UNRESERVED else "%" + m.group(1).upper()

    path = _ESCAPE.sub(unescape, path)
    path = "".join(c if c.isascii() else quote(c, safe="") for c in path)
    out: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if out:
                out.pop()
        elif segment not in ("", "."):
            out.append(segment)
    return "/" + "/".join(out) if out else ""


def normalize_url(url: str) -> str:
    """One spelling for one article (SPEC §3 "What people type"): the scheme is not part of
    it (stored as https), the host lower-cased without a trailing dot, the written scheme's
    default port dropped, the path as `_path_key` spells it, tracking parameters (utm_*,
    spm, WeChat's chksm…) and the fragment removed; other parameters kept in order."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number or out of range: keep it as written, it is only a key
        host = parts.netloc.rpartition("@")[2].lower()
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING
    ]
    return urlunsplit(("https", host, _path_key(parts.path), urlencode(query), ""))
