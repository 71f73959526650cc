"""End to end, issue 20 finding 5: the bot started as `make run` starts it, with
`KPI_FETCH_ALLOW_HOSTS=localhost` in its `.env`, keeps a screenshot from the allowed host and
never fetches a loopback address named otherwise (directly or through a redirect), while every
report gets its ✅."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import quote

import pytest

from tests.sec_c_files import Files, picture, serve
from tools.onebot_sim import BotProcess, OneBotV11Sim, image

TOKEN = "sec-c-secret"
OWNER = 10001
GROUP = 27001
ZHANG = 37001


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """These tests talk to a bot process; the in-process database of conftest is not used."""


@pytest.fixture(scope="module")
def files() -> Iterator[Files]:
    with serve() as f:
        yield f


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[BotProcess]:
    proc = BotProcess(
        tmp_path_factory.mktemp("sec-c-bot"),
        token=TOKEN,
        env={"KPI_FETCH_ALLOW_HOSTS": "localhost"},
    )
    await proc.start()
    yield proc
    await proc.stop()


@pytest.fixture(scope="module")
async def qq(bot: BotProcess) -> AsyncIterator[OneBotV11Sim]:
    sim = OneBotV11Sim(bot.ws_url("v11"), token=TOKEN)
    await sim.connect()
    yield sim
    await sim.disconnect()


async def test_only_the_allowed_host_is_fetched_and_every_report_is_acknowledged(
    bot: BotProcess, qq: OneBotV11Sim, files: Files
):
    port = files.base.rsplit(":", 1)[1]
    secret = f"http://127.0.0.1:{port}/secret"
    urls = [
        f"http://localhost:{port}/image?seed=3",
        secret,
        f"http://localhost:{port}/to?url={quote(secret)}",
        f"http://2130706433:{port}/secret",
    ]
    (bound,) = await qq.say(GROUP, OWNER, "/绑定 安全组", nickname="老板", role="owner")
    assert bound.startswith("✅"), bound
    for url in urls:
        (reply,) = await qq.say(GROUP, ZHANG, "/朋友圈 截图 ", image(url), card="张三")
        assert reply.startswith("✅ #"), reply

    sql = "SELECT image_url, image_path FROM entry ORDER BY id"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = await bot.rows(sql)
        if rows[0][1] and bot.log().count("证据图片未保存") >= 3:
            break
        await asyncio.sleep(0.1)
    assert [url for url, _ in rows] == urls
    kept = rows[0][1]
    assert kept
    assert [path for _, path in rows[1:]] == [None, None, None]
    assert files.hits["/secret"] == 0
    assert files.hits["/to"] == 1

    assert bot.folder is not None
    (stored,) = (bot.folder / "data" / "evidence").iterdir()
    assert stored.name == kept.rsplit("/", 1)[-1]
    assert stored.read_bytes() == picture("PNG", 3)
    assert stored.stat().st_mode & 0o777 == 0o600
    assert "不是公网地址" in bot.log()
