"""Issue 20 on the web (SPEC §5a): rights re-checked at every request (a demotion, a leaving,
a group admin the platform no longer lists), the signing key as the database has it now,
same-origin POSTs, a `Secure` cookie behind https, and the security headers everywhere."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import nonebot
import pytest
from nonebot.adapters.onebot import v11
from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App
from sqlalchemy import update

from bot import db, grouprole
from bot.config import get_config
from models.periods import set_clock
from models.tables import WebLogin, WebSecret
from tests.test_dashboard import (
    BOSS,
    LINK,
    NOW,
    ORIGIN,
    ZHANG,
    client,
    dashboard_in_group,
    ids,
    link_in_private,
    login,
    team_a,
)
from tests.utils import ADMIN, GROUP, OWNER, at, connected, plain, private_event, said, say

MANAGER_PAGES = ("audit", "export", "entries", "appeals")


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path):
    set_clock(NOW)
    grouprole.forget_roles()
    yield
    grouprole.forget_roles()


class Platform(v11.Adapter):
    """A OneBot v11 implementation that says who is owner/admin of which group (`roles`)
    and records what it was asked."""

    roles: dict[tuple[int, int], str]
    calls: list[dict]

    async def _call_api(self, bot, api: str, **data):
        if api != "get_group_member_info":
            return {}
        self.calls.append(data)
        await asyncio.sleep(0.01)  # a round trip to the implementation
        role = self.roles.get((data["group_id"], data["user_id"]))
        if role is None:
            raise ActionFailed(status="failed", retcode=100, message="不是群成员")
        return {"user_id": data["user_id"], "role": role}


@contextlib.asynccontextmanager
async def platform(roles: dict[tuple[int, int], str]) -> AsyncIterator[Platform]:
    """The bot account of the group connected (between chat turns) with these roles."""
    adapter = Platform(nonebot.get_driver())
    adapter.roles, adapter.calls = roles, []
    with connected(adapter):
        yield adapter


async def group_login(app: App, user_id: int, role: str = "member") -> httpx.AsyncClient:
    """`/后台` asked in the group; the link from the private message opened."""
    replies, sent = await dashboard_in_group(app, user_id, [{"message_id": 1}], role=role)
    assert replies[0].startswith("✅"), replies
    path = LINK.search(str(sent[0]["message"])).group(1).removeprefix(ORIGIN)
    c = client()
    assert (await c.post(path)).status_code == 303
    return c


async def statuses(c: httpx.AsyncClient, team_id: int) -> dict[str, int]:
    pages = {name: f"/kpi/team/{team_id}/{name}" for name in MANAGER_PAGES}
    return {name: (await c.get(path)).status_code for name, path in pages.items()} | {
        "team": (await c.get(f"/kpi/team/{team_id}")).status_code
    }


# ---- rights at every request -------------------------------------------------------------------


async def test_after_demotion_the_next_page_shows_no_manager_pages(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    c = await group_login(app, BOSS)  # asked in the group, as the explicit supervisor
    assert await statuses(c, a) == dict.fromkeys((*MANAGER_PAGES, "team"), 200)
    reply = plain(await said(app, ["/取消主管 ", at(BOSS)], OWNER, role="owner"))
    assert reply.startswith("✅"), reply
    assert await statuses(c, a) == dict.fromkeys(MANAGER_PAGES, 403) | {"team": 200}


async def test_after_leaving_the_next_page_is_forbidden(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss, agent = await group_login(app, BOSS), await login(app, ZHANG)
    assert (await boss.get(f"/kpi/team/{a}/audit")).status_code == 200
    assert (await agent.get(f"/kpi/team/{a}")).status_code == 200
    for who in (BOSS, ZHANG):
        assert plain(await said(app, ["/离职 ", at(who)], OWNER, role="owner")).startswith("✅")
    assert await statuses(boss, a) == dict.fromkeys((*MANAGER_PAGES, "team"), 403)
    assert (await agent.get(f"/kpi/team/{a}")).status_code == 403  # no current ranking
    assert (await agent.get(f"/kpi/team/{a}/member/{(await ids())['张三']}")).status_code == 403


async def test_a_group_admin_keeps_manager_pages_only_while_the_platform_says_so(
    app: App, monkeypatch
):
    await team_a(app)
    a = (await ids())["客服一组"]
    c = await group_login(app, ADMIN, role="admin")
    clock = [1000.0]
    monkeypatch.setattr(grouprole, "_clock", lambda: clock[0])
    async with platform({(GROUP, ADMIN): "admin"}) as qq:
        assert await statuses(c, a) == dict.fromkeys((*MANAGER_PAGES, "team"), 200)
        assert qq.calls == [{"group_id": GROUP, "user_id": ADMIN, "no_cache": True}]  # cached
        clock[0] += grouprole.ROLE_TTL + 0.1
        together = [c.get(f"/kpi/team/{a}/audit") for _ in range(5)]  # a page and its pictures
        assert [r.status_code for r in await asyncio.gather(*together)] == [200] * 5
        assert len(qq.calls) == 2  # asked once for all five
        qq.roles[GROUP, ADMIN] = "member"
        clock[0] += grouprole.ROLE_TTL + 0.1
        assert await statuses(c, a) == dict.fromkeys((*MANAGER_PAGES, "team"), 403)
        assert len(qq.calls) == 3
        qq.roles[GROUP, ADMIN] = "owner"
        clock[0] += grouprole.ROLE_TTL + 0.1
        assert (await c.get(f"/kpi/team/{a}/audit")).status_code == 200
    clock[0] += grouprole.ROLE_TTL + 0.1
    assert (await c.get(f"/kpi/team/{a}/audit")).status_code == 403  # no bot: fail closed


async def test_with_admins_not_supervisors_a_group_admin_link_gives_no_manager_pages(
    app: App, monkeypatch
):
    await team_a(app)
    a = (await ids())["客服一组"]
    c = await group_login(app, ADMIN, role="admin")
    monkeypatch.setattr(get_config(), "kpi_admins_are_supervisors", False)
    async with platform({(GROUP, ADMIN): "admin"}) as qq:
        assert (await c.get(f"/kpi/team/{a}/audit")).status_code == 403
    assert qq.calls == []


# ---- the signing key ----------------------------------------------------------------------------


async def test_a_new_signing_key_in_the_database_refuses_older_cookies_at_once(app: App):
    await team_a(app)
    c = await login(app, ZHANG)
    assert (await c.get("/kpi/", follow_redirects=True)).status_code == 200
    async with db.writing() as s:
        await s.execute(update(WebSecret).where(WebSecret.name == "session").values(value="0" * 64))
    r = await c.get("/kpi/")
    assert r.status_code == 401
    assert "/后台" in r.text
    fresh = await login(app, ZHANG)  # a new login is signed with the new key
    assert (await fresh.get("/kpi/", follow_redirects=True)).status_code == 200


# ---- same-origin POSTs ----------------------------------------------------------------------------


def test_origins_compare_scheme_host_and_port():
    from plugins.web.routes import origin_of

    assert origin_of("http://127.0.0.1:8080/kpi/") == origin_of("HTTP://127.0.0.1:8080")
    assert origin_of("https://kpi.example.com") == origin_of("https://kpi.example.com:443/x")
    assert origin_of("http://kpi.example.com") != origin_of("https://kpi.example.com")
    assert origin_of("http://127.0.0.1:8081") != origin_of("http://127.0.0.1:8080")
    assert origin_of("http://[::1]:8080/kpi/") == origin_of("http://[::1]:8080")
    for bad in ("null", "", "file:///etc", "http://", "http://h:99999", "javascript:x"):
        assert origin_of(bad) is None, bad


async def test_a_login_from_another_origin_or_none_is_refused_and_keeps_the_link(app: App):
    await team_a(app)
    path = (await link_in_private(app, ZHANG)).removeprefix(ORIGIN)
    plain_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app()), base_url="http://testserver"
    )
    for headers in (
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "null", "Referer": f"{ORIGIN}/kpi/"},  # an Origin present decides
        {"Referer": "https://evil.example/kpi/login/x"},
        {"Origin": "http://127.0.0.1:8081"},
        {"Origin": "https://127.0.0.1:8080"},
    ):
        r = await plain_client.post(path, headers=headers)
        assert r.status_code == 403, headers
        assert "请求来源不对" in r.text
        assert "set-cookie" not in r.headers
    async with db.reading() as s:
        assert (await s.get(WebLogin, 1)).used_at is None
    r = await plain_client.post(path, headers={"Referer": f"{ORIGIN}{path}"})
    assert r.status_code == 303  # no Origin (an old browser): its Referer is the page's


async def test_the_origin_is_the_one_of_kpi_web_base_url(app: App, monkeypatch):
    monkeypatch.setattr(get_config(), "kpi_web_base_url", "https://kpi.example.com")
    await team_a(app)
    reply = plain((await say(app, private_event("/后台", ZHANG)))[0])
    path = reply.split("https://kpi.example.com", 1)[1].strip()
    assert path.startswith("/kpi/login/"), reply
    c = client()  # Origin http://127.0.0.1:8080: no longer the dashboard's
    assert (await c.post(path)).status_code == 403
    r = await c.post(path, headers={"Origin": "https://kpi.example.com"})
    assert r.status_code == 303
    assert "secure" in r.headers["set-cookie"].lower()


def test_the_default_address_of_an_ipv6_host_is_bracketed(monkeypatch):
    from plugins.web import base_url

    monkeypatch.setattr(nonebot.get_driver().config, "host", "::1")
    assert base_url() == "http://[::1]:8080"


def test_listening_on_every_address_without_a_base_url_is_warned_about(monkeypatch):
    from plugins.web import base_url_warning

    monkeypatch.setattr(nonebot.get_driver().config, "host", "0.0.0.0")
    warning = base_url_warning()
    assert warning is not None
    assert "KPI_WEB_BASE_URL" in warning
    assert "http://0.0.0.0:8080" in warning
    monkeypatch.setattr(get_config(), "kpi_web_base_url", "http://192.168.1.5:8080")
    assert base_url_warning() is None
    monkeypatch.setattr(get_config(), "kpi_web_base_url", "")
    monkeypatch.setattr(nonebot.get_driver().config, "host", "127.0.0.1")
    assert base_url_warning() is None


async def test_an_own_origin_that_cannot_be_read_accepts_no_post(app: App, monkeypatch):
    monkeypatch.setattr(get_config(), "kpi_web_base_url", "not a url")
    await team_a(app)
    reply = plain((await say(app, private_event("/后台", ZHANG)))[0])
    path = "/kpi/login/" + reply.rsplit("/kpi/login/", 1)[1].strip()
    for origin in ("null", "not a url", ORIGIN):
        assert (await client().post(path, headers={"Origin": origin})).status_code == 403


async def test_logout_is_a_same_origin_post(app: App):
    await team_a(app)
    c = await login(app, ZHANG)
    page = await c.get("/kpi/", follow_redirects=True)
    assert 'method="post" action="/kpi/logout"' in page.text
    assert (await c.get("/kpi/logout")).status_code == 200  # a GET only offers the button
    assert (await c.get("/kpi/", follow_redirects=True)).status_code == 200
    r = await c.post("/kpi/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403
    assert (await c.get("/kpi/", follow_redirects=True)).status_code == 200
    assert (await c.post("/kpi/logout")).status_code == 403  # without the session's token
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text).group(1)
    assert "已退出" in (await c.post("/kpi/logout", data={"csrf": token})).text
    assert (await c.get("/kpi/")).status_code == 401


# ---- the cookie ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "headers", "secure"),
    [
        ("http://testserver", {}, False),
        ("http://testserver", {"X-Forwarded-Proto": "https"}, True),
        ("http://testserver", {"X-Forwarded-Proto": "https, http"}, True),
        ("https://testserver", {}, True),
    ],
)
async def test_the_cookie_is_secure_whenever_the_browser_came_over_https(
    app: App, base: str, headers: dict, secure: bool
):
    await team_a(app)
    path = (await link_in_private(app, ZHANG)).removeprefix(ORIGIN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app()),
        base_url=base,
        headers={"Origin": ORIGIN, **headers},
    ) as c:
        r = await c.post(path)
    assert r.status_code == 303
    cookie = r.headers["set-cookie"].lower()
    assert ("; secure" in cookie) is secure, cookie
    assert "httponly" in cookie
    assert "samesite=strict" in cookie


# ---- the headers -------------------------------------------------------------------------------------


def assert_secured(r: httpx.Response) -> None:
    from plugins.web.routes import SECURITY_HEADERS

    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (r.request.url, r.status_code, name)


async def test_every_response_carries_the_security_headers(app: App):
    await team_a(app)
    c = await login(app, ZHANG)
    a = (await ids())["客服一组"]
    seen = {}
    for name, method, path in (
        ("page", "GET", f"/kpi/team/{a}"),
        ("redirect", "GET", "/kpi/"),
        ("static", "GET", "/kpi/static/kpi.css"),
        ("404", "GET", "/kpi/nothing-here"),
        ("404 outside", "GET", "/nothing-here"),
        ("405", "DELETE", f"/kpi/team/{a}"),
        ("422", "GET", "/kpi/team/not-a-number"),
        ("403 origin", "POST", "/kpi/logout"),
    ):
        headers = {"Origin": "https://evil.example"} if name == "403 origin" else {}
        r = await c.request(method, path, headers=headers)
        seen[name] = r.status_code
        assert_secured(r)
    for path in ("/onebot/v11/http", "/onebot/v12/http", "/kpi/static/missing.css"):
        assert_secured(await client().get(path))
    anonymous = await client().get("/kpi/")
    assert anonymous.status_code == 401
    assert_secured(anonymous)
    assert seen == {
        "page": 200,
        "redirect": 303,
        "static": 200,
        "404": 404,
        "404 outside": 404,
        "405": 405,
        "422": 422,
        "403 origin": 403,
    }


async def test_an_unhandled_error_is_a_500_with_the_headers(app: App, monkeypatch):
    await team_a(app)
    cookie = (await login(app, ZHANG)).cookies["kpi_session"]
    from models.usecases import pages

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pages, "visible_teams", broken)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app(), raise_app_exceptions=False),
        base_url="http://testserver",
        cookies={"kpi_session": cookie},
    ) as c:
        r = await c.get("/kpi/")
    assert r.status_code == 500
    assert "出错了" in r.text
    assert "boom" not in r.text
    assert_secured(r)
