"""Issue 20 (7): what the bot writes is readable by its user only — the database (and its
-wal/-shm), exports, evidence and `.env` made by `make run` — and `python -m bot
rotate-web-key` replaces the cookie-signing key, ending every web session."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot import db
from models.weblogin import (
    consume_link,
    issue_link,
    rotate_signing_key,
    session_cookie,
    session_login,
    signing_key,
)
from tools.onebot_sim import BotProcess, OneBotV11Sim

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "files-token"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _env(**extra: str) -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **extra}


def _tree_modes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): mode(p) for p in [folder, *folder.rglob("*")]}


@pytest.fixture
def loose_umask():
    """The test process runs with a umask that would make files 0644, as a shell does."""
    old = os.umask(0o022)
    yield
    os.umask(old)


async def _bind_and_export(bot: BotProcess) -> str:
    async with OneBotV11Sim(bot.ws_url("v11"), token=TOKEN) as qq:
        bound = await qq.say(42001, 10001, "/绑定 文件组", role="owner")
        assert bound[0].startswith("✅"), bound
        assert (await qq.say(42001, 30001, "/加好友 5", card="张三"))[0].startswith("✅")
        [reply] = await qq.say(42001, 10000, "/导出", timeout=30)
        return reply


async def test_a_fresh_bot_writes_its_database_and_exports_readable_by_its_user_only(
    tmp_path, fresh_db, loose_umask
):
    """The default a user gets (SQLite at data/kpi.db), whatever engine the suite runs on."""
    folder = tmp_path / "bot"
    data = folder / "data"
    url = f"sqlite+aiosqlite:///{data / 'kpi.db'}"
    bot = BotProcess(folder, token=TOKEN, superusers=("qq:10000",), database_url=url)
    async with bot:
        reply = await _bind_and_export(bot)
        assert reply.startswith("✅ 已导出"), reply
        running = _tree_modes(data)
    exports = [p for p in running if p.startswith("exports/")]
    assert exports, running
    assert running["."] == 0o700
    assert {m for p, m in running.items() if (data / p).is_dir()} == {0o700}, running
    assert {m for p, m in running.items() if not (data / p).is_dir()} == {0o600}, running
    assert {"kpi.db", "kpi.db-wal", "kpi.db-shm"} <= set(running), running

    out = tmp_path / "out.xlsx"
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "export", "--team", "文件组", "-o", str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert mode(out) == 0o600


async def test_a_sqlite_database_made_0644_by_an_older_version_is_tightened_at_start(
    tmp_path, loose_umask
):
    folder = tmp_path / "bot"
    old = folder / "data" / "kpi.db"
    url = f"sqlite+aiosqlite:///{old}"
    engine = db.make_engine(url)
    try:
        await db.migrate("0005", engine)
    finally:
        await engine.dispose()
    old.chmod(0o644)
    async with BotProcess(folder, token=TOKEN, superusers=("qq:10000",), database_url=url):
        assert mode(old) == 0o600


def test_make_run_creates_env_readable_by_its_owner_only_with_a_random_token(tmp_path, loose_umask):
    for name in ("Makefile", ".env.example"):
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "-s", ".env"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    env = tmp_path / ".env"
    assert mode(env) == 0o600
    lines = env.read_text(encoding="utf-8").splitlines()
    [token] = [ln.split("=", 1)[1] for ln in lines if ln.startswith("ONEBOT_ACCESS_TOKEN=")]
    assert len(token) >= 24
    example = (tmp_path / ".env.example").read_text(encoding="utf-8").splitlines()
    assert [ln for ln in lines if not ln.startswith("ONEBOT_ACCESS_TOKEN=")] == [
        ln for ln in example if not ln.startswith("ONEBOT_ACCESS_TOKEN=")
    ]


async def _session() -> tuple[str, str]:
    """A logged-in dashboard session: (signing key, cookie)."""
    async with db.writing() as s:
        token, _ = await issue_link(
            s, platform="qq", adapter="OneBotV11", user_id="10000", name="超管"
        )
    async with db.writing() as s:
        login = await consume_link(s, token)
        assert login is not None
        key = await signing_key(s)
    return key, session_cookie(key, login)


async def test_rotating_the_signing_key_ends_every_session(fresh_db):
    key, cookie = await _session()
    async with db.writing() as s:
        unused, _ = await issue_link(
            s, platform="qq", adapter="OneBotV11", user_id="30001", name="张三"
        )
        assert await rotate_signing_key(s) == 2  # the session and the unused link
    async with db.writing() as s:
        new = await signing_key(s)
        assert new != key
        assert await session_login(s, key, cookie) is None
        assert await session_login(s, new, cookie) is None
        assert await consume_link(s, unused) is None  # a link sent before opens nothing


async def test_python_m_bot_rotate_web_key_refuses_every_cookie_signed_before(tmp_path, fresh_db):
    key, cookie = await _session()
    async with db.reading() as s:
        assert await session_login(s, key, cookie) is not None
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "rotate-web-key"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(KPI_DATABASE_URL=fresh_db),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✅ 已更换网页后台密钥，结束了 1 个登录" in done.stdout, done.stdout
    async with db.reading() as s:
        new = await signing_key(s)
        assert new != key
        assert await session_login(s, key, cookie) is None
        assert await session_login(s, new, cookie) is None
