"""Issue 20 finding 5, SPEC §3: evidence images go through the safe fetcher, are streamed to a
0600 temporary file, kept only when they are images, under a disk quota; a refused or failed
download never touches the report. Local servers on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from nonebug import App

import bot.evidence
from bot.config import get_config
from bot.evidence import EvidenceSkipped, download, fetch_into_entry
from bot.fetch import FetchFailed, FetchRefused
from tests.sec_c_files import MB, SECRET, Files, noise_png, picture, serve
from tests.test_dashboard import login
from tests.utils import SUPER, bind, entry, image, plain, said

ZHANG = 30001


@pytest.fixture
def files() -> Iterator[Files]:
    with serve() as f:
        yield f


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An evidence folder of this test alone, measured afresh."""
    monkeypatch.setattr(bot.evidence, "_usage", {})
    return tmp_path / "evidence"


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", "127.0.0.1")


def stored(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


# ---- what is kept ----------------------------------------------------------------------------


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize(
    ("fmt", "suffix"),
    [("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp")],
)
async def test_an_image_is_kept_0600_under_its_hash_with_the_suffix_of_its_real_format(
    files: Files, folder: Path, fmt: str, suffix: str
):
    path = await download(f"{files.base}/image?fmt={fmt}&ctype=application/octet-stream", folder)
    data = picture(fmt)
    assert path == folder / f"{hashlib.sha256(data).hexdigest()[:24]}.{suffix}"
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o600
    assert stored(folder) == [path]


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("path", ["/secret", "/ok", "/echo"])
async def test_a_body_that_is_not_an_image_is_not_stored(files: Files, folder: Path, path: str):
    with pytest.raises(EvidenceSkipped, match="不是图片"):
        await download(f"{files.base}{path}", folder)
    assert stored(folder) == []


@pytest.mark.usefixtures("local")
async def test_failed_downloads_leave_no_temporary_file(
    files: Files, folder: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bot.evidence, "TIMEOUT", 1.0)
    monkeypatch.setattr(bot.evidence, "MAX_BYTES", MB)
    for path, reason in [("/huge", "too_big"), ("/slow", "timeout"), ("/gone", "status")]:
        with pytest.raises(FetchFailed) as e:
            await download(f"{files.base}{path}", folder)
        assert e.value.reason == reason
    assert stored(folder) == []


async def test_a_refused_address_leaves_nothing_and_is_never_contacted(files: Files, folder: Path):
    with pytest.raises(FetchRefused):
        await download(f"{files.base}/image", folder)
    assert files.hits["/image"] == 0
    assert stored(folder) == []


# ---- concurrency and the quota ----------------------------------------------------------------


@pytest.mark.usefixtures("local")
async def test_forty_downloads_at_once_never_have_more_than_four_in_flight(
    files: Files, folder: Path
):
    paths = await asyncio.gather(
        *(download(f"{files.base}/busy?seed={n}", folder) for n in range(40))
    )
    assert files.hits["/busy"] == 40
    assert files.max_in_flight == 4
    assert len(set(paths)) == 40
    assert stored(folder) == sorted(paths)


@pytest.mark.usefixtures("local")
async def test_the_quota_skips_a_download_that_would_not_fit(files: Files, folder: Path):
    one, two, three = (len(noise_png(seed)) for seed in (1, 2, 3))
    quota = one + two + three // 2
    assert (await download(f"{files.base}/noise?seed=1", folder, quota_bytes=quota)).is_file()
    assert (await download(f"{files.base}/noise?seed=2", folder, quota_bytes=quota)).is_file()
    with pytest.raises(EvidenceSkipped, match="上限"):
        await download(f"{files.base}/noise?seed=3", folder, quota_bytes=quota)
    assert len(stored(folder)) == 2
    assert sum(p.stat().st_size for p in stored(folder)) == one + two


@pytest.mark.usefixtures("local")
async def test_the_same_image_twice_is_one_file_counted_once(files: Files, folder: Path):
    a = await download(f"{files.base}/noise?seed=4", folder)
    b = await download(f"{files.base}/noise?seed=4", folder)
    assert a == b
    assert stored(folder) == [a]
    assert bot.evidence._usage[folder].used == a.stat().st_size


@pytest.mark.usefixtures("local")
async def test_a_full_folder_is_measured_once_and_not_fetched_into(
    files: Files, folder: Path, monkeypatch: pytest.MonkeyPatch
):
    first = await download(f"{files.base}/noise?seed=1", folder)
    stale = folder / f"{bot.evidence.PART_PREFIX}old"
    fresh = folder / f"{bot.evidence.PART_PREFIX}new"
    stale.write_bytes(b"x" * 1000)
    fresh.write_bytes(b"x" * 1000)
    hour_ago = time.time() - 2 * bot.evidence.STALE_PART_SECONDS
    os.utime(stale, (hour_ago, hour_ago))
    monkeypatch.setattr(bot.evidence, "_usage", {})  # a new process
    with pytest.raises(EvidenceSkipped, match="已满"):
        await download(f"{files.base}/noise?seed=2", folder, quota_bytes=first.stat().st_size)
    assert files.hits["/noise"] == 1
    assert not stale.exists()
    assert fresh.exists()


@pytest.mark.usefixtures("local")
async def test_a_zero_quota_stores_nothing_and_the_entry_keeps_its_url(
    files: Files, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(get_config(), "kpi_evidence_quota_mb", 0)
    monkeypatch.setattr(bot.evidence, "_usage", {})
    assert await fetch_into_entry(1, f"{files.base}/image", tmp_path) is None
    assert files.hits["/image"] == 0
    assert stored(tmp_path / "evidence") == []


# ---- through the bot ---------------------------------------------------------------------------


async def evidence_of(app: App, entry_id: int) -> tuple[int, bytes, str]:
    c = await login(app, SUPER)
    r = await c.get(f"/kpi/evidence/{entry_id}")
    return r.status_code, r.content, r.headers.get("content-type", "")


def evidence_files() -> list[bytes]:
    folder = get_config().kpi_data_dir / "evidence"
    return [p.read_bytes() for p in stored(folder) if p.is_file()]


@pytest.mark.parametrize("via_redirect", [False, True])
async def test_a_report_with_a_loopback_image_gets_its_ok_and_the_secret_is_never_stored(
    app: App, files: Files, monkeypatch: pytest.MonkeyPatch, via_redirect: bool
):
    port = files.base.rsplit(":", 1)[1]
    url = f"{files.base}/secret"
    if via_redirect:
        monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", "localhost")
        url = f"http://localhost:{port}/to?url={quote(url)}"
    await bind(app)
    reply = plain(await said(app, ["/朋友圈 截图 ", image(url, "s.image")], ZHANG, card="张三"))
    assert reply.startswith("✅ #1 朋友圈/空间维护 已记录")
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert (e.image_url, e.image_file, e.image_path, e.revoked_at) == (url, "s.image", None, None)
    assert files.hits["/secret"] == 0
    assert SECRET not in evidence_files()
    status, body, _ = await evidence_of(app, 1)
    assert status == 404
    assert SECRET not in body


async def test_a_report_with_an_image_from_an_allowed_host_is_stored_and_served(
    app: App, files: Files, local: None
):
    await bind(app)
    url = f"{files.base}/image?seed=7&ctype=text/html"
    reply = plain(await said(app, ["/朋友圈 ", image(url, "ok.image")], ZHANG, card="张三"))
    assert reply.startswith("✅ #1 ")
    await bot.evidence.wait_downloads()
    e = await entry(1)
    assert e is not None
    assert e.image_path is not None
    assert Path(e.image_path).suffix == ".png"
    assert await evidence_of(app, 1) == (200, picture("PNG", 7), "image/png")
