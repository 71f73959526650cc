"""What the platform glue shares (`bot.platforms`): one kept-alive HTTP session per adapter,
closed at shutdown; the hint a person gets when the bot cannot write to them privately,
right for each platform; pictures only a platform can fetch."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from nonebot.drivers import HTTPClientMixin

from bot.platforms import FRIEND_HINT, of_adapter, platform_picture, private_hint


class FakeSession:
    def __init__(self) -> None:
        self.opened = self.closed = False

    async def setup(self) -> None:
        self.opened = True

    async def close(self) -> None:
        self.closed = True

    async def request(self, setup):
        return ("over the session", setup)


class FakeDriver:
    """A driver's hooks and sessions, nothing else."""

    def __init__(self) -> None:
        self.startup: list = []
        self.shutdown: list = []
        self.sessions: list[FakeSession] = []

    def on_startup(self, f):
        self.startup.append(f)
        return f

    def on_shutdown(self, f):
        self.shutdown.append(f)
        return f

    def get_session(self) -> FakeSession:
        self.sessions.append(FakeSession())
        return self.sessions[-1]


HTTPClientMixin.register(FakeDriver)


async def run(hooks: list) -> None:
    for hook in hooks:
        await hook()


@pytest.mark.parametrize("platform", ["Milky", "QQ"])
async def test_an_adapters_calls_go_over_one_session_closed_at_shutdown(platform, monkeypatch):
    import nonebot

    adapter_type = of_adapter(platform).adapter_type
    adapter = SimpleNamespace(request=None)
    monkeypatch.setattr(nonebot, "get_adapter", lambda t: adapter if t is adapter_type else None)
    driver = FakeDriver()
    of_adapter(platform).setup(driver)
    assert driver.sessions == []  # nothing opened before start-up

    await run(driver.startup)
    (session,) = driver.sessions
    assert session.opened
    assert await adapter.request("call") == ("over the session", "call")
    assert await adapter.request("again") == ("over the session", "again")
    assert len(driver.sessions) == 1  # one session for every call
    await run(driver.shutdown)
    assert session.closed
    await run(driver.shutdown)  # closed once


async def test_feishus_send_request_goes_over_the_session_with_the_adapters_rules(monkeypatch):
    import nonebot
    from nonebot.adapters.feishu import Adapter
    from nonebot.adapters.feishu.exception import NetworkError

    answers = {
        "json": SimpleNamespace(
            status_code=200, content=b'{"code": 0}', headers={"Content-Type": "application/json"}
        ),
        "bytes": SimpleNamespace(
            status_code=200, content=b"\x89PNG", headers={"Content-Type": "image/png"}
        ),
        "refused": SimpleNamespace(status_code=400, content=b'{"code": 230002}', headers={}),
    }

    class Answering(FakeSession):
        async def request(self, setup):
            return answers[setup.url]

    adapter = SimpleNamespace(send_request=None, config=SimpleNamespace(api_timeout=5.0))
    monkeypatch.setattr(nonebot, "get_adapter", lambda t: adapter if t is Adapter else None)
    driver = FakeDriver()
    driver.get_session = lambda: driver.sessions.append(Answering()) or driver.sessions[-1]
    of_adapter("Feishu").setup(driver)
    await run(driver.startup)
    assert await adapter.send_request(SimpleNamespace(url="json")) == {"code": 0}
    assert await adapter.send_request(SimpleNamespace(url="bytes")) == b"\x89PNG"
    with pytest.raises(NetworkError, match="status code: 400"):
        await adapter.send_request(SimpleNamespace(url="refused"))
    await run(driver.shutdown)
    assert driver.sessions[0].closed


def fake_bot(adapter: str):
    return SimpleNamespace(self_id="1", adapter=SimpleNamespace(get_name=lambda: adapter))


@pytest.mark.parametrize(
    ("adapter", "says"),
    [
        ("OneBot V11", "加机器人为好友"),
        ("Milky", "加机器人为好友"),
        ("QQ", "资料页点「发消息」"),
        ("WeCom", "企业微信里打开与机器人的单聊"),
        ("Feishu", "飞书里打开与机器人的单聊"),
    ],
)
def test_the_hint_for_a_refused_private_message_fits_the_platform(adapter, says):
    hint = private_hint(fake_bot(adapter))
    assert says in hint, hint
    assert "/后台" in hint, hint
    assert of_adapter(adapter).caps.private_hint == hint


def test_an_unknown_platform_gets_the_friend_hint():
    assert private_hint(fake_bot("Somewhere")) == FRIEND_HINT


async def test_a_platform_fetches_only_the_picture_addresses_it_noted():
    """Feishu fetches a resource with its token only for a picture of a message it saw: an
    address typed or sent from elsewhere is fetched as any other URL (here: not at all)."""
    forged = "https://open.feishu.cn/open-apis/im/v1/messages/om_x/resources/img_v3_x?type=image"
    assert await of_adapter("Feishu").picture(forged) is None
    assert await platform_picture(forged) is None
    assert await platform_picture("https://example.com/a.png") is None


async def test_official_qq_answers_the_dashboards_fresh_role_question_only_with_a_recent_role(
    monkeypatch,
):
    """The official QQ API tells a role only with a person's own message: the dashboard's
    re-check (`fresh`) trusts one seen within ROLE_SEEN, so a demoted admin who stays quiet
    loses the group's rights; a command (not fresh) still reads the last one seen."""
    from bot.platforms import qq

    platform = of_adapter("QQ")
    bot = fake_bot("QQ")
    now = [1000.0]
    monkeypatch.setattr(qq.time, "monotonic", lambda: now[0])
    platform._roles.put((str(bot.self_id), "G1", "m1"), (now[0], "admin"))
    assert (await platform.member(bot, "G1", "m1", fresh=True)).role == "admin"
    now[0] += qq.ROLE_SEEN + 1
    assert await platform.member(bot, "G1", "m1", fresh=True) is None
    assert (await platform.member(bot, "G1", "m1")).role == "admin"


async def test_feishu_asks_the_contact_api_once_per_name_ttl_even_when_it_answers_nothing():
    """An app without the contact scope: the failed lookup is remembered, so a command does
    not cost an HTTP round trip before every message; a name a mention gave still wins."""
    platform = of_adapter("Feishu")
    calls = []

    async def call_api(api, **data):
        calls.append(api)
        raise RuntimeError("99991672 no permission")

    bot = SimpleNamespace(
        self_id="cli_glue", adapter=SimpleNamespace(get_name=lambda: "Feishu"), call_api=call_api
    )
    assert await platform.name(bot, "ou_nobody") is None
    assert await platform.name(bot, "ou_nobody") is None
    assert calls == ["contact/v3/users/ou_nobody"]


async def test_official_qq_keeps_a_burst_of_learnt_links_in_one_write_off_the_loop(
    tmp_path, monkeypatch
):
    """Who writes privately (union_openid → member) is kept across restarts: a burst of new
    members after a start is one file write, on a worker thread, not one per message."""
    import asyncio
    import json
    import threading

    from bot.platforms import qq

    platform = qq.QQOfficial()
    monkeypatch.setattr(qq, "SAVE_AFTER", 0.05)
    monkeypatch.setattr(platform, "_links_file", lambda: tmp_path / qq.LINKS_FILE)
    writes: list[str] = []
    real = platform._write

    def write(text: str) -> None:
        writes.append(threading.current_thread().name)
        real(text)

    monkeypatch.setattr(platform, "_write", write)
    for n in range(100):
        platform._link("102", f"union{n}", f"member{n}")
    assert writes == []  # nothing on the event loop while messages come
    await asyncio.sleep(0.3)
    assert len(writes) == 1
    assert writes[0] != threading.main_thread().name
    saved = json.loads((tmp_path / qq.LINKS_FILE).read_text(encoding="utf-8"))
    assert len(saved["102"]) == 100
    platform._link("102", "late", "m-late")  # one learnt just before the bot stops
    await platform._save_now()
    saved = json.loads((tmp_path / qq.LINKS_FILE).read_text(encoding="utf-8"))
    assert saved["102"]["late"] == "m-late"
