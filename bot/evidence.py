"""Evidence images: downloaded into the data folder in the background (SPEC §3, §6).

- Through the one safe fetcher (`bot.fetch`): public addresses only unless the host is in
  `KPI_FETCH_ALLOW_HOSTS`, at most `MAX_BYTES` and `TIMEOUT`, a few downloads at a time.
- The body is streamed to a temporary file (mode 0600) in the evidence folder, kept only if
  Pillow identifies it as a PNG, JPEG, GIF, WEBP or BMP image, and then renamed to its
  content hash with the suffix of the format found; anything else is deleted.
- The folder is kept under `KPI_EVIDENCE_QUOTA_MB`: it is measured once per process, then
  every download reserves its byte cap while it runs; one that would not fit is skipped.
- An address only a platform can fetch (Feishu's message resource API, with its token) is
  fetched by that platform (`bot.platforms.platform_picture`) and its bytes kept as given
  bytes are (`store`).
- A skipped, refused or failed download is logged and never blocks or undoes the report:
  the entry keeps its image URL and file id, only `image_path` stays empty.
- A kept picture gets its print (`image_print`: perceptual and difference hashes, which
  survive re-encoding and resizing); with KPI_LINKCHECK on, the same screenshot behind an
  earlier entry of the team, in any month, flags this one (SPEC §4, `models.linkcheck`).
  The path and the print are written in one short unit through `bot.door`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
from nonebot import logger
from PIL import Image

from models.linkcheck import entry_team, record_image

from . import door
from .config import get_config
from .fetch import FetchError, FetchFailed, fetch
from .platforms import platform_picture

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = 10.0
FORMATS = {"PNG": "png", "JPEG": "jpg", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}
MEDIA_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
}
PART_PREFIX = ".part-"
STALE_PART_SECONDS = 3600
_tasks: set[asyncio.Task] = set()


class EvidenceSkipped(Exception):
    """A download that was not kept for a reason of ours: the quota, or not an image."""


@dataclass
class _Usage:
    """Bytes of the evidence folder: measured once, then tracked."""

    used: int
    reserved: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


_usage: dict[Path, _Usage] = {}


def _scan(folder: Path) -> int:
    """Create the folder (0700) and add up its files; temporary files left by a crash over an
    hour ago are removed, newer ones may be another process's download in progress."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    total = 0
    now = time.time()
    with os.scandir(folder) as it:
        for item in it:
            if not item.is_file(follow_symlinks=False):
                continue
            st = item.stat(follow_symlinks=False)
            if item.name.startswith(PART_PREFIX):
                if now - st.st_mtime > STALE_PART_SECONDS:
                    Path(item.path).unlink(missing_ok=True)
                continue
            total += st.st_size
    return total


async def _usage_of(folder: Path) -> _Usage:
    key = folder
    usage = _usage.get(key)
    if usage is None:
        used = await asyncio.to_thread(_scan, key)
        usage = _usage.setdefault(key, _Usage(used))
    return usage


def image_kind(path: Path) -> str | None:
    """The file's suffix if Pillow identifies it as one of FORMATS, else None."""
    try:
        with Image.open(path, formats=list(FORMATS)) as im:
            kind = FORMATS.get(im.format or "")
            im.verify()
    except Exception:
        return None
    return kind


def image_print(path: Path) -> str | None:
    """32 hex digits: the 64-bit perceptual hash then the 64-bit difference hash of the
    picture (first frame, in RGB), or None when it cannot be read."""
    try:
        with Image.open(path) as im:
            im.seek(0)
            rgb = im.convert("RGB")
        return f"{imagehash.phash(rgb)}{imagehash.dhash(rgb)}"
    except Exception:
        return None


def _place(part: Path, path: Path) -> int:
    """Rename the verified file to its hash name; the bytes it adds to the folder."""
    if path.exists():
        part.unlink()
        return 0
    size = part.stat().st_size
    os.replace(part, path)
    return size


async def download(url: str, folder: Path, *, quota_bytes: int | None = None) -> Path:
    """Fetch the image at `url` into `folder`; raises `FetchError` (refused, failed, too big)
    or `EvidenceSkipped` (quota, not an image), and leaves nothing behind when it does."""
    if quota_bytes is None:
        quota_bytes = get_config().kpi_evidence_quota_mb * 1024 * 1024
    usage = await _usage_of(folder)
    room = min(MAX_BYTES, quota_bytes - usage.used - usage.reserved)
    if room <= 0:
        raise EvidenceSkipped(f"证据文件夹已满（上限 {quota_bytes // (1024 * 1024)} MB）")
    usage.reserved += room
    part: Path | None = None
    try:
        fd, name = await asyncio.to_thread(_mkstemp, folder)
        part = Path(name)
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:

            def write(chunk: bytes) -> None:
                digest.update(chunk)
                out.write(chunk)

            try:
                fetched = await fetch(
                    url, max_bytes=room, timeout=TIMEOUT, sink=write, accept="image/*"
                )
            except FetchFailed as e:
                if e.reason == "too_big" and room < MAX_BYTES:
                    raise EvidenceSkipped(
                        f"证据文件夹将超过上限 {quota_bytes // (1024 * 1024)} MB"
                    ) from e
                raise
            fetched.raise_for_status()
        kind = await asyncio.to_thread(image_kind, part)
        if kind is None:
            raise EvidenceSkipped(f"不是图片（PNG/JPEG/GIF/WEBP/BMP）：{fetched.size} 字节")
        path = folder / f"{digest.hexdigest()[:24]}.{kind}"
        async with usage.lock:
            usage.used += await asyncio.to_thread(_place, part, path)
        part = None
        return path
    finally:
        usage.reserved -= room
        if part is not None:
            part.unlink(missing_ok=True)


def _mkstemp(folder: Path) -> tuple[int, str]:
    """A new temporary file in `folder`, mode 0600."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return tempfile.mkstemp(prefix=PART_PREFIX, dir=folder)


async def store(data: bytes, folder: Path, *, quota_bytes: int | None = None) -> Path:
    """Keep picture bytes the platform handed over (WeCom: decrypted by its adapter; Feishu:
    from its message resource API) as `download` keeps a fetched one: within the quota and MAX_BYTES,
    only a picture Pillow identifies, named by its hash."""
    if quota_bytes is None:
        quota_bytes = get_config().kpi_evidence_quota_mb * 1024 * 1024
    usage = await _usage_of(folder)
    room = min(MAX_BYTES, quota_bytes - usage.used - usage.reserved)
    if len(data) > room:
        raise EvidenceSkipped(
            f"证据图片放不下（{len(data)} 字节，上限 {quota_bytes // (1024 * 1024)} MB）"
        )
    usage.reserved += len(data)
    part: Path | None = None
    try:
        fd, name = await asyncio.to_thread(_mkstemp, folder)
        part = Path(name)
        with os.fdopen(fd, "wb") as out:
            await asyncio.to_thread(out.write, data)
        kind = await asyncio.to_thread(image_kind, part)
        if kind is None:
            raise EvidenceSkipped(f"不是图片（PNG/JPEG/GIF/WEBP/BMP）：{len(data)} 字节")
        path = folder / f"{hashlib.sha256(data).hexdigest()[:24]}.{kind}"
        async with usage.lock:
            usage.used += await asyncio.to_thread(_place, part, path)
        part = None
        return path
    finally:
        usage.reserved -= len(data)
        if part is not None:
            part.unlink(missing_ok=True)


async def fetch_into_entry(entry_id: int, picture: str | bytes, data_dir: Path) -> Path | None:
    """Keep the entry's evidence picture — at an address (`str`; a platform's own fetched by
    the platform) or given as bytes — then record its path and print, and flag a screenshot
    the team used before (SPEC §4)."""
    try:
        if isinstance(picture, str):
            picture = await platform_picture(picture) or picture
        if isinstance(picture, bytes):
            path = await store(picture, data_dir / "evidence")
        else:
            path = await download(picture, data_dir / "evidence")
    except (FetchError, EvidenceSkipped) as e:
        logger.warning(f"证据图片未保存 #{entry_id}：{e}")
        return None
    except Exception as e:
        logger.warning(f"证据图片下载失败 #{entry_id}: {e!r}")
        return None
    value = await asyncio.to_thread(image_print, path) if get_config().kpi_linkcheck else None
    team_id = await door.read(lambda s: entry_team(s, entry_id))
    if team_id is None:
        return path
    flags = await door.write(team_id, lambda s: record_image(s, entry_id, str(path), value))
    if flags:
        from .linkcheck import notify

        await notify(flags)
    return path


def fetch_later(entry_id: int, picture: str | bytes, data_dir: Path) -> asyncio.Task:
    task = asyncio.create_task(fetch_into_entry(entry_id, picture, data_dir))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


async def wait_downloads() -> None:
    """Let pending downloads finish (tests, shutdown)."""
    while _tasks:
        await asyncio.gather(*list(_tasks), return_exceptions=True)
