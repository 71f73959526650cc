"""Issue 26 end to end, with the bot as `make run` starts it and the CLI as a person types
it: reports stream in while `python -m bot backup` runs, then `restore` brings back every
acknowledged report (and the rest are logged once when redelivered); `restore`, `load`
and `move-db` refuse while the bot runs, naming it; `kill -9` during a backup leaves no
file that looks complete (SPEC §5 Operations, §6)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.settlement import build
from bot import backup
from bot.portable import CopyError
from tools import testdb
from tools.onebot_sim import BotProcess, OneBotV11Sim

ROOT = Path(__file__).resolve().parent.parent
GROUP = 26001
OWNER = 10001
LINK = "https://example.com/backup/{}"


@pytest.fixture(autouse=True)
def fresh_db() -> None:
    """Not the in-process database of conftest: these tests talk to a bot process."""


def _env() -> dict[str, str]:
    return {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}


async def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m bot …` in the bot's folder (its `.env`)."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
    )


def last_line(done: subprocess.CompletedProcess) -> str:
    """What the command said (NoneBot's start-up log comes first)."""
    return done.stdout.strip().splitlines()[-1]


async def links(bot: BotProcess) -> list[str]:
    """The links of the reports the test sent (not those of the month built beforehand)."""
    like = LINK.format("%")
    return [r[0] for r in await bot.rows("SELECT link FROM entry WHERE link LIKE :p", p=like)]


async def test_reports_streaming_in_during_a_backup_are_there_after_restore(tmp_path):
    folder = tmp_path / "bot"
    folder.mkdir()
    url = await testdb.create_database(folder, "kpi")
    await build(url, 300, 50000)  # a month already there: the copy takes a while
    bot = BotProcess(folder, database_url=url)
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    users = [37000 + i for i in range(1000)]
    events = {
        u: qq.group_event(GROUP, u, f"/软文 {LINK.format(u)}", card=f"客服{u}") for u in users
    }

    def acked() -> dict[int, str]:
        return {
            int(m.user_id): m.text
            for m in qq.sent
            if m.group_id == str(GROUP) and m.user_id and int(m.user_id) in events
        }

    out = tmp_path / "during.zip"
    try:
        await qq.connect()
        assert (await qq.say(GROUP, OWNER, "/绑定 备份组", role="owner"))[0].startswith("✅")
        await asyncio.gather(*(qq.send_event(events[u]) for u in users[:40]))
        await qq.wait_for(lambda _c: len(acked()) >= 40, timeout=60)
        before = {LINK.format(u) for u in acked()}

        running = asyncio.create_task(cli(folder, "backup", "-o", str(out)))
        sent = 40
        while not running.done() and sent < len(users):  # the stream goes on meanwhile
            await qq.send_event(events[users[sent]])
            sent += 1
            await asyncio.sleep(0.01)
        made = await running
        assert made.returncode == 0, made.stdout + made.stderr
        assert last_line(made).startswith("✅ 已备份到"), made.stdout
        assert sent < len(users), "the backup outlasted the stream"
        await asyncio.gather(*(qq.send_event(events[u]) for u in users[sent:]))
        await qq.wait_for(lambda _c: len(acked()) == len(users), timeout=60)
        assert all(t.startswith("✅") for t in acked().values()), acked()
    finally:
        await qq.disconnect()
        await bot.stop()

    done = await cli(folder, "restore", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert last_line(done).startswith(f"✅ 已从 {out.name} 恢复"), done.stdout
    restored = await links(bot)
    assert len(restored) == len(set(restored))  # nothing twice
    assert before <= set(restored) <= {LINK.format(u) for u in users}
    assert await bot.rows("SELECT count(*) FROM entry WHERE team_id = 1") == [(50000,)]

    # The client delivers everything again: what the backup holds is not logged twice,
    # what came after it is logged now; every report is there once.
    missing = [u for u in users if LINK.format(u) not in restored]
    await bot.start()
    qq = OneBotV11Sim(bot.ws_url())
    try:
        await qq.connect()
        await asyncio.gather(*(qq.send_event(events[u]) for u in users))
        if missing:
            await qq.wait_for(lambda _c: len(acked()) >= len(missing), timeout=60)
        await asyncio.sleep(1.0)
        assert set(acked()) == set(missing)
        assert all(t.startswith("✅") for t in acked().values()), acked()
    finally:
        await qq.disconnect()
        await bot.stop()
    final = await links(bot)
    assert sorted(final) == sorted(LINK.format(u) for u in users)


async def test_restore_load_and_move_db_refuse_while_the_bot_runs_and_name_it(tmp_path):
    bot = BotProcess(tmp_path / "bot")
    await bot.start()
    assert bot.folder is not None
    assert bot.proc is not None
    try:
        async with OneBotV11Sim(bot.ws_url()) as qq:
            assert (await qq.say(GROUP, OWNER, "/绑定 运行组", role="owner"))[0].startswith("✅")
            assert (await qq.say(GROUP, 30001, "/加好友 5", card="张三"))[0].startswith("✅")
        made = await cli(bot.folder, "backup", "-o", "b.zip")  # allowed while running
        assert made.returncode == 0, made.stderr
        dumped = await cli(bot.folder, "dump", "-o", "d.zip")
        assert dumped.returncode == 0, dumped.stderr
        who = f"机器人进程 {bot.proc.pid}（主机 {socket.gethostname()}）"
        other = await testdb.create_database(tmp_path / "other", "other")
        for args in (("restore", "b.zip"), ("load", "d.zip"), ("move-db", "--to", other)):
            refused = await cli(bot.folder, *args)
            assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
            assert who in refused.stderr, refused.stderr
            assert refused.stderr.strip().splitlines()[-1].startswith("❌"), refused.stderr
        assert await bot.rows("SELECT count(*) FROM entry") == [(1,)]
    finally:
        await bot.stop()
    done = await cli(bot.folder, "restore", "b.zip")
    assert done.returncode == 0, done.stderr
    await bot.start()  # and the bot runs on the restored database
    try:
        async with OneBotV11Sim(bot.ws_url()) as qq:
            [more] = await qq.say(GROUP, 30001, "/加好友 3", card="张三")
            assert more.startswith("✅"), more
            assert "本月 8/60" in more, more
    finally:
        await bot.stop()


async def test_kill_9_during_a_backup_leaves_no_complete_looking_file(tmp_path):
    folder = tmp_path / "ops"
    folder.mkdir()
    url = await testdb.create_database(folder, "big")
    await build(url, 300, 30000)
    (folder / ".env").write_text(f"KPI_DATABASE_URL={url}\nKPI_DATA_DIR={folder / 'data'}\n")
    out = folder / "nightly.zip"
    part = out.with_name(out.name + ".part")
    killed = 0
    for delay in (None, 0.0, 0.03, 0.1):
        proc = subprocess.Popen(  # noqa: ASYNC220  (polled below, never awaited blocking)
            [sys.executable, "-m", "bot", "backup", "-o", str(out)],
            cwd=folder,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            copying = any(folder.glob(".kpi-backup-*"))
            if (delay is None and copying) or (delay is not None and part.exists()):
                await asyncio.sleep(delay or 0)
                break
            await asyncio.sleep(0.002)
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no cleanup of any kind
            killed += 1
        await asyncio.to_thread(proc.wait, 30)
        if proc.returncode == 0:  # it finished first: then the file is whole
            assert backup.check_archive(out)["counts"]["entry"] == 30000
            out.unlink()
            continue
        assert not out.exists()
        left = [p for p in folder.rglob("*") if p.is_file() and p.suffix == ".part"]
        names = {p.name for p in folder.rglob("*") if p.is_file()}
        names -= {".env", "big.db", "big.db-wal", "big.db-shm", "big.db.lock", "last.json"}
        assert all(n.endswith((".part", ".part-journal")) for n in names), names
        for p in left:
            if p.name.endswith(".zip.part"):
                with contextlib.suppress(CopyError):
                    backup.check_archive(p)  # may even be whole: its name still says not
                refused = await cli(folder, "restore", str(p))
                assert refused.returncode == 1
                assert "没写完" in refused.stderr, refused.stderr
    assert killed >= 2
    again = await cli(folder, "backup", "-o", str(out))  # the next backup is not disturbed
    assert again.returncode == 0, again.stderr
    assert not part.exists()
    assert backup.check_archive(out)["counts"]["entry"] == 30000
    assert os.stat(out).st_mode & 0o777 == 0o600
