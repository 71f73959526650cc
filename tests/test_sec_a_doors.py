"""Issue 20 (1, 2): every way into the bot is authenticated. The bot is started as `make run`
starts it and spoken to over real HTTP and WebSockets.

A forged OneBot HTTP event (the bot's account in X-Self-ID, a superuser's user_id) is
refused and changes nothing, whether a token is set or not; a request carrying the token
(v11, v12) or signed with ONEBOT_SECRET (v11) is handled. WebSockets without the token are
refused. A HOST beyond loopback without a token does not start.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from bot.doors import ExposureError, Keys, check_exposure, is_loopback
from tools.onebot_sim import BotProcess, OneBotV11Sim, OneBotV12Sim, at, mention

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "doors-token"
SECRET = "doors-secret"
SUPER, OWNER, AGENT = 10000, 10001, 30001
V11_PATHS = ["/onebot/v11/http", "/onebot/v11/", "/onebot/v11/http/"]
V12_PATHS = ["/onebot/v12/http", "/onebot/v12/", "/onebot/v12/http/"]


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to bot processes; the in-process database of conftest is not used."""


async def _bot(tmp: Path, **kw) -> BotProcess:
    kw.setdefault("superusers", ("qq:10000", "v12.wechat:10000"))
    proc = BotProcess(tmp, **kw)
    await proc.start()
    return proc


@pytest.fixture(scope="module")
async def token_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = await _bot(tmp_path_factory.mktemp("doors-token"), token=TOKEN)
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def open_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = await _bot(tmp_path_factory.mktemp("doors-open"), superusers=("10000",))
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def signed_bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = await _bot(
        tmp_path_factory.mktemp("doors-signed"), token=TOKEN, env={"ONEBOT_SECRET": SECRET}
    )
    yield proc
    await proc.stop()


def _http(bot: BotProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://{bot.host}:{bot.port}", timeout=10)


async def _team_with_agent(qq: OneBotV11Sim, group: int) -> None:
    bound = await qq.say(group, OWNER, f"/绑定 门{group}", role="owner")
    assert bound[0].startswith("✅"), bound
    reported = await qq.say(group, AGENT, "/加好友 5", card="张三")
    assert reported[0].startswith("✅"), reported


async def _state(bot: BotProcess, *, reads: int = 0) -> tuple:
    """Everything a forged command could have changed; `reads` subtracts the claims of that
    many real read commands answered meanwhile (every answered message is claimed)."""
    counts = []
    for table in ("entry", "auditlog", "groupbinding", "processedmessage", "member"):
        counts.append((await bot.rows(f"SELECT count(*) FROM {table}"))[0][0])
    counts[3] -= reads
    return tuple(counts)


async def _settle(qq: OneBotV11Sim, group: int) -> None:
    """A real message answered after the forged ones: any handler they started is done."""
    assert (await qq.say(group, AGENT, "/我的绩效", linger=0.3))[0].startswith("📋")


async def _forge_v11(bot: BotProcess, qq: OneBotV11Sim, group: int, headers: dict[str, str]):
    """Forged superuser events, posted to every v11 HTTP path: each status code."""
    codes = []
    async with _http(bot) as http:
        for path in V11_PATHS:
            for command in (["/严重投诉 ", at(AGENT), " 99999"], ["/解绑"]):
                event = qq.group_event(group, SUPER, *command, role="owner")
                r = await http.post(
                    path,
                    content=json.dumps(event, ensure_ascii=False).encode(),
                    headers={
                        "X-Self-ID": qq.self_id,
                        "Content-Type": "application/json",
                        **headers,
                    },
                )
                codes.append((r.status_code, r.text))
    return codes


async def test_a_forged_v11_http_event_is_refused_with_a_token_set_and_changes_nothing(
    token_bot: BotProcess,
):
    async with OneBotV11Sim(token_bot.ws_url("v11"), token=TOKEN) as qq:
        g = 41001
        await _team_with_agent(qq, g)
        before = await _state(token_bot)
        missing = await _forge_v11(token_bot, qq, g, {})
        wrong = await _forge_v11(token_bot, qq, g, {"Authorization": "Bearer not-it"})
        assert {c for c, _ in missing} == {401}, missing
        assert {c for c, _ in wrong} == {403}, wrong
        await _settle(qq, g)
        assert await _state(token_bot, reads=1) == before
        assert qq.replies(g, SUPER) == []


async def test_the_access_token_lets_a_v11_http_event_in(token_bot: BotProcess):
    async with OneBotV11Sim(token_bot.ws_url("v11"), self_id="99998", token=TOKEN) as qq:
        g = 41002
        await _team_with_agent(qq, g)
        event = qq.group_event(g, SUPER, "/严重投诉 ", at(AGENT), " 200")
        async with _http(token_bot) as http:
            r = await http.post(
                "/onebot/v11/http",
                json=event,
                headers={"X-Self-ID": qq.self_id, "Authorization": f"Bearer {TOKEN}"},
            )
        assert r.status_code == 204, r.text
        [reply] = await qq.wait_replies(g, SUPER, 1)
        assert reply.startswith("✅"), reply
        assert "张三" in reply, reply


async def test_without_a_token_the_http_webhooks_are_off_naming_the_key(open_bot: BotProcess):
    async with OneBotV11Sim(open_bot.ws_url("v11")) as qq:
        g = 41003
        await _team_with_agent(qq, g)
        before = await _state(open_bot)
        codes = await _forge_v11(open_bot, qq, g, {})
        assert {c for c, _ in codes} == {403}, codes
        assert all("ONEBOT_ACCESS_TOKEN" in text for _, text in codes), codes
        async with _http(open_bot) as http:
            for path in V12_PATHS:
                r = await http.post(path, json={}, headers={"X-Impl": "x"})
                assert r.status_code == 403, (path, r.text)
                assert "ONEBOT_ACCESS_TOKEN" in r.text
        await _settle(qq, g)
        assert await _state(open_bot, reads=1) == before
        assert qq.replies(g, SUPER) == []
    assert "没有设置 ONEBOT_ACCESS_TOKEN" in open_bot.log()


async def test_with_onebot_secret_only_a_correctly_signed_v11_event_is_handled(
    signed_bot: BotProcess,
):
    async with OneBotV11Sim(signed_bot.ws_url("v11"), token=TOKEN) as qq:
        g = 41004
        await _team_with_agent(qq, g)
        before = await _state(signed_bot)
        unsigned = await _forge_v11(signed_bot, qq, g, {"Authorization": f"Bearer {TOKEN}"})
        bad = await _forge_v11(signed_bot, qq, g, {"X-Signature": "sha1=" + "0" * 40})
        assert {c for c, _ in unsigned} == {401}, unsigned
        assert {c for c, _ in bad} == {403}, bad
        await _settle(qq, g)
        assert await _state(signed_bot, reads=1) == before

        body = json.dumps(qq.group_event(g, SUPER, "/严重投诉 ", at(AGENT), " 200")).encode()
        sig = "sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest()
        async with _http(signed_bot) as http:
            r = await http.post(
                "/onebot/v11/http/",
                content=body,
                headers={"X-Self-ID": qq.self_id, "X-Signature": sig},
            )
        assert r.status_code == 204, r.text
        [reply] = await qq.wait_replies(g, SUPER, 1)
        assert reply.startswith("✅"), reply
        assert "张三" in reply, reply


async def test_a_forged_v12_http_event_is_refused_and_the_token_lets_one_in(
    token_bot: BotProcess,
):
    async with OneBotV12Sim(token_bot.ws_url("v12"), self_id="wxid_doors", token=TOKEN) as wx:
        g, agent = "wx-doors", "wxid_agent_doors"
        assert (await wx.say(g, str(SUPER), "/绑定 微信门"))[0].startswith("✅")
        assert (await wx.say(g, agent, "/朋友圈", name="吴九"))[0].startswith("✅")
        before = await _state(token_bot)
        async with _http(token_bot) as http:
            for path in V12_PATHS:
                for headers in ({}, {"Authorization": "Bearer nope"}):
                    event = wx.group_event(g, str(SUPER), "/严重投诉 ", mention(agent), " 99999")
                    r = await http.post(path, json=event, headers={"X-Impl": wx.impl, **headers})
                    assert r.status_code == (403 if headers else 401), (path, headers, r.text)
            await wx.say(g, agent, "/我的绩效")
            assert await _state(token_bot, reads=1) == before
            event = wx.group_event(g, str(SUPER), "/严重投诉 ", mention(agent), " 200")
            r = await http.post(
                "/onebot/v12/http",
                json=event,
                headers={"X-Impl": wx.impl, "Authorization": f"Bearer {TOKEN}"},
            )
        assert r.status_code == 204, r.text
        replies = await wx.wait_replies(g, str(SUPER), 2)
        assert replies[-1].startswith("✅"), replies
        assert "吴九" in replies[-1], replies


@pytest.mark.parametrize("version", ["v11", "v12"])
@pytest.mark.parametrize("token", [None, "wrong"])
async def test_a_websocket_without_the_right_token_is_refused(
    token_bot: BotProcess, version: str, token: str | None
):
    sim_class = OneBotV11Sim if version == "v11" else OneBotV12Sim
    sim = sim_class(token_bot.ws_url(version), self_id="55555", token=token)
    with pytest.raises(InvalidStatus):
        await sim.connect(retries=0)
    assert "Bot 55555 connected" not in token_bot.log()


async def test_the_bot_warns_at_start_about_each_bare_superuser_id_saying_how_to_write_it(
    open_bot: BotProcess,
):
    assert "bare SUPERUSERS id 10000 will count only on the platform" in open_bot.log()
    assert 'write "qq:10000"' in open_bot.log()
    assert "bare SUPERUSERS id 10000" not in (
        await _started_again_log(open_bot, ("qq:10000", "v12.wechat:wxid_x"))
    )


async def _started_again_log(bot: BotProcess, superusers: tuple[str, ...]) -> str:
    """The log of a second bot on the same database with other SUPERUSERS."""
    other = BotProcess(bot.folder / "again", superusers=superusers, database_url=bot.database_url)
    await other.start()
    await other.stop()
    return other.log()


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "kpi.example.com"])
def test_a_host_beyond_loopback_without_a_token_is_refused(host):
    with pytest.raises(ExposureError) as err:
        check_exposure(host, Keys())
    assert err.value.key == "ONEBOT_ACCESS_TOKEN"
    with pytest.raises(ExposureError):
        check_exposure(host, Keys(v11_token="t"))  # v12 still open
    assert check_exposure(host, Keys(v11_token="t", v12_token="t")) == []


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]
)
def test_loopback_without_a_token_starts_with_a_warning(host):
    assert is_loopback(host)
    [warning] = check_exposure(host, Keys())
    assert "ONEBOT_ACCESS_TOKEN" in warning


def _run(tmp_path: Path, argv: list[str], env_lines: list[str]) -> subprocess.CompletedProcess:
    (tmp_path / ".env").write_text("\n".join(["PORT=18998", *env_lines]) + "\n", encoding="utf-8")
    return subprocess.run(
        argv,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_python_m_bot_on_0_0_0_0_without_a_token_exits_2_naming_the_key(tmp_path):
    done = _run(tmp_path, [sys.executable, "-m", "bot"], ["HOST=0.0.0.0"])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ONEBOT_ACCESS_TOKEN" in done.stderr
    assert "必须" in done.stderr
    assert "reachable from other machines" in done.stderr
    assert not (tmp_path / "data" / "kpi.db").exists()  # refused before anything opened


def test_nb_run_on_0_0_0_0_without_a_token_exits_2_naming_the_key(tmp_path):
    """`nb run` loads `[tool.nonebot]` itself, without create_app: the plugins' runtime stops it."""
    (tmp_path / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    script = (
        "import nonebot\n"
        "from nonebot.adapters.onebot.v11 import Adapter as V11\n"
        "from nonebot.adapters.onebot.v12 import Adapter as V12\n"
        "nonebot.init()\n"
        "nonebot.get_driver().register_adapter(V11)\n"
        "nonebot.get_driver().register_adapter(V12)\n"
        "nonebot.load_from_toml('pyproject.toml')\n"
        "nonebot.run()\n"
    )
    done = _run(
        tmp_path, [sys.executable, "-c", script], ["HOST=0.0.0.0", "DRIVER=~fastapi+~websockets"]
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "ONEBOT_ACCESS_TOKEN" in done.stdout + done.stderr


def _guarded(keys: Keys):
    """A stand-in app behind the guard that echoes the body it was given."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from bot.doors import WebhookGuard

    async def echo(request: Request) -> Response:
        return Response(await request.body(), status_code=200)

    app = Starlette(routes=[Route("/onebot/v11/http", echo, methods=["POST"])])
    app.add_middleware(WebhookGuard, keys=keys)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_guard_hands_the_signed_body_on_intact_and_takes_either_token_scheme():
    body = json.dumps({"post_type": "message", "text": "签名" * 5000}).encode()
    sig = "sha1=" + hmac.new(b"s", body, hashlib.sha1).hexdigest()
    async with _guarded(Keys(v11_secret="s", v11_token="t")) as http:
        r = await http.post("/onebot/v11/http", content=body, headers={"X-Signature": sig})
        assert r.status_code == 200
        assert r.content == body
    async with _guarded(Keys(v11_token="t")) as http:
        for scheme in ("Bearer", "Token", "bearer"):
            r = await http.post(
                "/onebot/v11/http", content=b"{}", headers={"Authorization": f"{scheme} t"}
            )
            assert r.status_code == 200, scheme
        r = await http.post("/onebot/v11/http", content=b"{}", headers={"Authorization": "Basic t"})
        assert r.status_code == 401
