"""Link normalisation for the once-per-team duplicate check (SPEC §3 self-reports)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MAX_LINK = 2000  # characters, and UTF-8 bytes once normalised


def too_long(url: str, normalised: str) -> bool:
    """SPEC §3: a link longer than MAX_LINK is refused, on every engine alike (PostgreSQL's
    B-tree index on the link holds at most about 2,700 bytes a row; SQLite has no limit)."""
    return len(url) > MAX_LINK or len(normalised.encode("utf-8", "replace")) > MAX_LINK


TRACKING = {
    "fbclid",
    "gclid",
    "spm",
    "from",
    "share_source",
    "share_medium",
    "share_from",
    "share_token",
    "sharesource",
    "scene",
    "srcid",
    "vd_source",
    "is_from_webapp",
    "sender_device",
    "timestamp",
    "wfr",
    "ref",
    "ref_src",
}


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, default port, tracking parameters (utm_*, spm…), fragment
    and trailing slash removed; the rest kept as written."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:  # not a number or out of range: keep it as written, it is only a key
        host = parts.netloc.rpartition("@")[2].lower()
        port = None
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if not k.lower().startswith("utm_") and k.lower() not in TRACKING
    ]
    return urlunsplit((scheme, host, path, urlencode(query), ""))
