"""Issue 25, SPEC §4 "Evidence checks": the link checker's verdicts against a local web site
— alive, 404, 410, each platform's deleted page, verification pages, errors, a redirect to a
private address, a name that resolves to 127.0.0.1, a huge and a slow page — its politeness
(limits in flight, no cookies, its User-Agent), the markers as data, the article fingerprint
and the screenshot print."""

from __future__ import annotations

import asyncio
import io
import weakref
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from PIL import Image

import bot.fetch
import bot.linkcheck
from bot.config import Config, get_config
from bot.evidence import image_print
from bot.linkcheck import check, due
from models.linkcheck import same_image
from models.linkpage import (
    ALIVE,
    REMOVED,
    UNKNOWN,
    MarkerFileError,
    distance,
    fingerprint,
    judge,
    load_markers,
    read_page,
    same_article,
)
from tests.linkcheck_site import ARTICLE, DELETED, Site, article_page, screenshot, serve

PLATFORM_HOSTS = sorted({host for host, _ in DELETED.values()})


@pytest.fixture
def site() -> Iterator[Site]:
    with serve() as s:
        yield s


def resolve_as(monkeypatch: pytest.MonkeyPatch, names: list[str]) -> None:
    """These names resolve to 127.0.0.1 (fake DNS); others for real."""
    real = bot.fetch._resolve

    async def fake(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host in names else await real(host, port)

    monkeypatch.setattr(bot.fetch, "_resolve", fake)


def allow(monkeypatch: pytest.MonkeyPatch, *hosts: str) -> None:
    value = Config(kpi_fetch_allow_hosts=",".join(hosts)).kpi_fetch_allow_hosts
    monkeypatch.setattr(get_config(), "kpi_fetch_allow_hosts", value)


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bot.fetch, "_slots", weakref.WeakKeyDictionary())
    monkeypatch.setattr(bot.linkcheck, "_hosts", weakref.WeakKeyDictionary())


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> None:
    resolve_as(monkeypatch, PLATFORM_HOSTS)
    allow(monkeypatch, "127.0.0.1", *PLATFORM_HOSTS)


# ---- verdicts ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("local")
async def test_a_live_article_is_alive_with_title_final_url_and_fingerprint(site: Site):
    r = await check(1, site.url("/a/1"))
    assert (r.verdict, r.status, r.title) == (ALIVE, 200, "售后服务流程分享")
    assert r.final_url == site.url("/a/1")
    assert r.fingerprint is not None
    assert len(r.fingerprint) == 16


@pytest.mark.usefixtures("local")
async def test_a_redirected_link_records_where_it_ended(site: Site):
    r = await check(1, site.url("/to?url=" + quote("/a/moved")))
    assert (r.verdict, r.final_url) == (ALIVE, site.url("/a/moved"))


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("code", [404, 410])
async def test_404_and_410_are_removed(site: Site, code: int):
    r = await check(1, site.url(f"/status?code={code}"))
    assert (r.verdict, r.reason) == (REMOVED, f"HTTP {code}")


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("code", [500, 502, 503, 403, 429, 401, 400])
async def test_server_errors_and_refusals_are_unknown_never_removed(site: Site, code: int):
    r = await check(1, site.url(f"/status?code={code}"))
    assert r.verdict == UNKNOWN
    assert str(code) in r.reason


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("platform", sorted(DELETED))
async def test_each_platforms_own_deleted_page_is_removed(site: Site, platform: str):
    host, _ = DELETED[platform]
    r = await check(1, site.url(f"/deleted/{platform}", host))
    assert r.status == 200
    assert r.verdict == REMOVED, r.reason
    assert "显示「" in r.reason
    assert r.fingerprint is None


@pytest.mark.usefixtures("local")
async def test_a_marker_that_names_a_host_applies_to_that_host_only(site: Site):
    """Bilibili's 「啊叻？视频不见了？」 names its hosts; WeChat's deleted text names none."""
    assert (await check(1, site.url("/deleted/bilibili", "www.bilibili.com"))).verdict == REMOVED
    assert (await check(1, site.url("/deleted/bilibili"))).verdict == ALIVE
    assert (await check(1, site.url("/deleted/wechat"))).verdict == REMOVED


@pytest.mark.usefixtures("local")
async def test_a_deleted_message_inside_the_pages_scripts_does_not_count(site: Site):
    assert "该内容已被发布者删除" in article_page().decode()
    assert (await check(1, site.url("/a/1", "mp.weixin.qq.com"))).verdict == ALIVE


@pytest.mark.usefixtures("local")
@pytest.mark.parametrize("path", ["/verify", "/often", "/empty"])
async def test_verification_and_empty_pages_are_unknown(site: Site, path: str):
    r = await check(1, site.url(path, "mp.weixin.qq.com"))
    assert r.verdict == UNKNOWN


async def test_a_redirect_to_a_private_address_is_unknown_and_never_followed(
    site: Site, monkeypatch: pytest.MonkeyPatch
):
    resolve_as(monkeypatch, ["public.test"])
    allow(monkeypatch, "public.test")
    r = await check(1, site.url("/to?url=" + quote(site.url("/secret")), "public.test"))
    assert (r.verdict, r.reason) == (UNKNOWN, "跳转到不允许访问的地址")
    assert site.hits["/to"] == 1
    assert site.hits["/secret"] == 0


async def test_a_name_that_resolves_to_loopback_is_refused_unless_allowed_by_name(
    site: Site, monkeypatch: pytest.MonkeyPatch
):
    resolve_as(monkeypatch, ["sneaky.test"])
    allow(monkeypatch, "")
    r = await check(1, site.url("/a/1", "sneaky.test"))
    assert (r.verdict, r.reason) == (UNKNOWN, "不允许访问的地址")
    assert site.hits["/a/1"] == 0
    allow(monkeypatch, "sneaky.test")
    assert (await check(1, site.url("/a/1", "sneaky.test"))).verdict == ALIVE
    assert site.hits["/a/1"] == 1


async def test_a_loopback_link_is_refused_without_the_allow_list(site: Site):
    r = await check(1, site.url("/a/1"))
    assert r.verdict == UNKNOWN
    assert site.hits["/a/1"] == 0


@pytest.mark.usefixtures("local")
async def test_a_huge_page_is_read_to_2_mb_only_and_still_judged(site: Site):
    r = await check(1, site.url("/huge"))
    assert r.verdict == ALIVE
    await asyncio.sleep(0.2)
    # The client stops at 2 MB and hangs up; what the server got written by then is that
    # plus what the loopback's socket buffers took (up to ~10 MB under load, autotuned):
    # far less than the 50 MB it offers.
    assert site.written < 20 * 1024 * 1024


@pytest.mark.usefixtures("local")
async def test_a_slow_page_times_out_as_unknown(site: Site, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(bot.linkcheck, "TIMEOUT", 0.5)
    loop = asyncio.get_running_loop()
    start = loop.time()
    r = await check(1, site.url("/slow"))
    assert (r.verdict, r.reason) == (UNKNOWN, "超时")
    assert loop.time() - start < 3


async def test_an_unknown_name_is_unknown(monkeypatch: pytest.MonkeyPatch):
    r = await check(1, "http://no-such-host.invalid/x")
    assert (r.verdict, r.reason) == (UNKNOWN, "域名无法解析")


@pytest.mark.usefixtures("local")
async def test_no_cookies_are_sent_and_the_user_agent_says_who_asks(site: Site):
    await check(1, site.url("/a/1"))
    await check(1, site.url("/a/2"))
    assert all("Cookie" not in h for h in site.headers)
    assert all(h["User-Agent"].startswith("KPI-Bot/") for h in site.headers)
    assert all("link check" in h["User-Agent"] for h in site.headers)


async def test_never_more_in_flight_than_configured_overall_and_per_host(
    monkeypatch: pytest.MonkeyPatch,
):
    hosts = [f"h{i}.test" for i in range(6)]
    resolve_as(monkeypatch, hosts)
    allow(monkeypatch, *hosts)
    monkeypatch.setattr(get_config(), "kpi_linkcheck_concurrency", 4)
    monkeypatch.setattr(get_config(), "kpi_linkcheck_per_host", 2)
    with serve(delay=0.05) as site:
        urls = [site.url(f"/a/{n}", hosts[n % len(hosts)]) for n in range(60)]
        results = await asyncio.gather(*(check(n, u) for n, u in enumerate(urls)))
        assert {r.verdict for r in results} == {ALIVE}
        assert site.max_in_flight == 4
        assert max(site.max_host_flight.values()) <= 2
        one = [site.url(f"/a/{n}", "h0.test") for n in range(10)]
        site.max_in_flight = 0
        await asyncio.gather(*(check(n, u) for n, u in enumerate(one)))
        assert site.max_in_flight == 2


# ---- the markers are data --------------------------------------------------------------------


def test_the_shipped_markers_cover_every_platform_and_the_verification_words():
    markers = load_markers()
    removed = {m.platform for m in markers if m.kind == "removed"}
    assert {"微信公众号", "知乎", "今日头条", "微博", "哔哩哔哩", "小红书", "抖音"} <= removed
    verify = {m.text for m in markers if m.kind == "verify"}
    assert {"环境异常", "完成验证", "访问过于频繁"} <= verify


@pytest.mark.usefixtures("local")
async def test_a_companys_own_marker_file_extends_the_table(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    extra = tmp_path / "markers.toml"
    extra.write_text('[[removed]]\nplatform = "自建站"\ntext = "本文已下线"\n', encoding="utf-8")
    cfg = Config(kpi_linkcheck_markers=str(extra))
    monkeypatch.setattr(get_config(), "kpi_linkcheck_markers", cfg.kpi_linkcheck_markers)
    bot.linkcheck.markers.cache_clear()
    try:
        title, text = read_page("<html><body><p>抱歉，本文已下线</p></body></html>".encode())
        v = judge(200, title, text, "blog.example.com", bot.linkcheck.markers())
        assert (v.verdict, v.reason) == (REMOVED, "自建站显示「本文已下线」")
    finally:
        bot.linkcheck.markers.cache_clear()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("[[removed]]\nplatform = 'x'\n", "缺少 text"),
        ("[[removed]]\ntext = '删了'\nhost = 'http://x.com/'\n", "host/hosts"),
        ("[[gone]]\ntext = '删了'\n", "未知的表"),
        ("[[removed]\n", "不是有效的 TOML"),
        ("[[verify]]\ntext = 'a'\ncolour = 'red'\n", "未知的键"),
    ],
)
def test_a_bad_marker_file_stops_the_bot_at_start_naming_the_file(
    tmp_path: Path, content: str, says: str
):
    bad = tmp_path / "bad.toml"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(MarkerFileError, match=says) as e:
        load_markers(bad)
    assert str(bad) in str(e.value)
    with pytest.raises(ValueError, match=says):
        Config(kpi_linkcheck_markers=str(bad))


def test_a_missing_marker_file_is_refused_at_start(tmp_path: Path):
    with pytest.raises(ValueError, match="无法读取"):
        Config(kpi_linkcheck_markers=str(tmp_path / "nope.toml"))


def test_verification_wins_over_a_deleted_marker():
    text = "该内容已被发布者删除\n当前环境异常，完成验证后即可继续访问"
    assert judge(200, "", text, "mp.weixin.qq.com", load_markers()).verdict == UNKNOWN


# ---- the same article under two URLs ------------------------------------------------------------


def test_the_same_article_with_another_ad_and_date_has_nearly_the_same_fingerprint():
    pages = [
        article_page(ARTICLE, "广告：双十一限时优惠", "2026-11-03 10:00"),
        article_page(ARTICLE, "推广：关注公众号领红包，更多好礼等你拿", "2026-11-20 23:59"),
    ]
    a, b = (fingerprint(read_page(p)[1]) for p in pages)
    assert a is not None
    assert b is not None
    assert same_article(a, b)
    other = fingerprint(read_page(article_page(ARTICLE[::-1]))[1])
    assert other is not None
    assert distance(a, other) > 10
    assert not same_article(a, other)


def test_a_short_page_gets_no_fingerprint():
    assert fingerprint("登录") is None


# ---- the same screenshot ----------------------------------------------------------------------


def saved(tmp_path: Path, im: Image.Image, name: str, fmt: str, **kw) -> Path:
    path = tmp_path / name
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    path.write_bytes(buf.getvalue())
    return path


def test_the_same_screenshot_re_encoded_or_resized_has_the_same_print(tmp_path: Path):
    shot = screenshot(1)
    png = saved(tmp_path, shot, "a.png", "PNG")
    jpeg = saved(tmp_path, shot, "a.jpg", "JPEG", quality=55)
    small = saved(tmp_path, shot.resize((360, 640)), "small.webp", "WEBP", quality=70)
    assert len({p.read_bytes() for p in (png, jpeg, small)}) == 3
    prints = [image_print(p) for p in (png, jpeg, small)]
    assert all(p is not None and len(p) == 32 for p in prints)
    assert same_image(prints[0], prints[1])
    assert same_image(prints[0], prints[2])


def test_two_screenshots_of_one_app_are_not_the_same(tmp_path: Path):
    a = image_print(saved(tmp_path, screenshot(1), "a.png", "PNG"))
    b = image_print(saved(tmp_path, screenshot(2), "b.png", "PNG"))
    assert a is not None
    assert b is not None
    assert not same_image(a, b)


def test_a_file_that_is_not_an_image_has_no_print(tmp_path: Path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"not an image")
    assert image_print(bad) is None


# ---- when the daily re-check runs ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "expected"),
    [("2026-11-27", False), ("2026-11-28", True), ("2026-11-30", True), ("2026-12-01", False)],
)
def test_the_daily_recheck_runs_on_the_months_last_days(day: str, expected: bool):
    from datetime import datetime

    assert get_config().kpi_linkcheck_days == 3
    assert due(datetime.fromisoformat(day + " 06:00")) is expected
