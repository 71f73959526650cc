"""Evidence images: downloaded into the data folder in the background (SPEC §3).

At most 10 MB and 10 s; a failure is logged and never blocks or undoes the report.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

import httpx
from nonebot import logger

from models.tables import Entry

from . import db

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = 10.0
_tasks: set[asyncio.Task] = set()


async def _fetch(url: str) -> tuple[bytes, str]:
    async with (
        httpx.AsyncClient(follow_redirects=True) as client,
        client.stream("GET", url, timeout=TIMEOUT) as resp,
    ):
        resp.raise_for_status()
        declared = int(resp.headers.get("content-length") or 0)
        if declared > MAX_BYTES:
            raise ValueError(f"image too large: {declared} bytes")
        data = bytearray()
        async for chunk in resp.aiter_bytes():
            data += chunk
            if len(data) > MAX_BYTES:
                raise ValueError("image too large")
        return bytes(data), resp.headers.get("content-type", "")


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


async def download(url: str, folder: Path) -> Path:
    """Fetch `url` into `folder`; raises on HTTP errors, timeouts and files over MAX_BYTES."""
    data, ctype = await asyncio.wait_for(_fetch(url), TIMEOUT)
    kind = ctype.split("/")[-1].split(";")[0] or "img"
    suffix = kind if kind in ("png", "jpeg", "jpg", "gif", "webp", "bmp") else "img"
    path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.{suffix}"
    await asyncio.to_thread(_save, path, data)
    return path


async def fetch_into_entry(entry_id: int, url: str, data_dir: Path) -> Path | None:
    try:
        path = await download(url, data_dir / "evidence")
    except Exception as e:
        logger.warning(f"证据图片下载失败 #{entry_id}: {e!r}")
        return None
    async with db.writing() as s:
        entry = await s.get(Entry, entry_id)
        if entry is not None:
            entry.image_path = str(path)
    return path


def fetch_later(entry_id: int, url: str, data_dir: Path) -> asyncio.Task:
    task = asyncio.create_task(fetch_into_entry(entry_id, url, data_dir))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def wait_downloads() -> None:
    """Let pending downloads finish (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
