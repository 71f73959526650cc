"""Issue 26, in process: backups check what they copied, restore migrates an older backup
forward, move-db keeps every row and every settled score across engines, the running bot's
lock, `/状态`, `GET /kpi/healthz` and the daily backup under a fake clock (SPEC §5
Operations, §6)."""

from __future__ import annotations

import os
import socket
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import nonebot
import pytest
from alembic.script import ScriptDirectory
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bench.settlement import PERIOD, build
from bot import backup, botlock, db, portable
from bot.config import get_config
from models.periods import set_clock
from models.rubric import load_rubric
from models.settlement import settle
from models.tables import GroupBinding, Member, Post, Team
from tests.utils import BOT_ID, GROUP, SUPER, Capture, bind, private_event, said, say
from tools import testdb

SH = ZoneInfo("Asia/Shanghai")
PG_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
HEAD = ScriptDirectory.from_config(db.alembic_config("")).get_current_head()


async def scratch(engine: str, folder: Path, hint: str) -> str:
    """An empty database on `engine` (SQLite file, or a scratch database on the server)."""
    if engine == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'{hint}.db'}"  # make_engine makes the folder
    return await testdb._new_database(PG_SERVER, hint, "")


async def settled_team(url: str, agents: int = 40, entries: int = 1500) -> None:
    """bench/settlement's month, settled (its scores stored)."""
    await build(url, agents, entries)
    eng = db.make_engine(url)
    try:
        async with AsyncSession(eng, expire_on_commit=False) as s, s.begin():
            await s.run_sync(settle, load_rubric(), 1, PERIOD, "qq:1", None)
    finally:
        await eng.dispose()


async def scores(url: str) -> list[tuple]:
    eng = db.make_engine(url)
    try:
        async with eng.connect() as conn:
            return await portable.settled_scores(conn)
    finally:
        await eng.dispose()


# ---- backup and restore ------------------------------------------------------------------------


async def test_a_backup_is_checked_and_a_damaged_or_partial_one_is_refused(tmp_path):
    url = await testdb.create_database(tmp_path / "src", "src")
    await settled_team(url)
    out = tmp_path / "b.zip"
    done = await backup.backup(url, out)
    assert done.manifest["counts"]["entry"] == 1500
    assert done.manifest["counts"]["settledscore"] == 40
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    assert not list(tmp_path.glob("*.part"))
    assert not list(tmp_path.glob(".kpi-backup-*"))
    assert backup.check_archive(out)["counts"] == done.manifest["counts"]

    cut = tmp_path / "cut.zip"
    cut.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    with pytest.raises(portable.CopyError):
        backup.check_archive(cut)
    newer = tmp_path / "newer.zip"  # made by a later version of the bot
    await testdb.rows(url, "UPDATE alembic_version SET version_num = '9999'")
    await backup.backup(url, newer)
    with pytest.raises(portable.CopyError, match="更新的版本"):
        await backup.restore(newer, url, tmp_path / "data")
    assert await testdb.rows(url, "SELECT count(*) FROM entry") == [(1500,)]
    part = tmp_path / "x.zip.part"
    part.write_bytes(out.read_bytes())
    target = await testdb.create_database(tmp_path / "dst", "dst")
    with pytest.raises(portable.CopyError, match="没写完"):
        await backup.restore(part, target, tmp_path / "data")


async def test_a_portable_dump_counts_every_table_and_a_wrong_count_is_refused(tmp_path):
    url = await testdb.create_database(tmp_path / "src", "src")
    await settled_team(url)
    out = tmp_path / "d.zip"
    manifest = await backup.dump_to(url, out)
    assert manifest["revision"] == HEAD
    assert manifest["counts"]["entry"] == 1500
    lying = tmp_path / "lying.zip"
    with zipfile.ZipFile(out) as src, zipfile.ZipFile(lying, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "tables/entry.jsonl":
                data = b"\n".join(data.split(b"\n")[1:])  # one row lost
            dst.writestr(item, data)
    with pytest.raises(portable.CopyError, match="entry"):
        backup.check_archive(lying)


@pytest.mark.parametrize("how", ["backup", "dump"])
async def test_a_backup_made_before_the_newest_migration_restores_and_migrates(tmp_path, how):
    """At 0005 a v12 platform was stored bare (`wechat`); 0006 renames it: the restored
    database is at head and its rows went through the migration."""
    src = await testdb.create_database(tmp_path / "src", "old")
    eng = db.make_engine(src)
    try:
        await db.migrate("0005", eng)
        async with eng.begin() as conn:
            await conn.execute(
                insert(Team), [{"name": "老团队", "created_at": datetime(2026, 9, 1)}]
            )
            await conn.execute(
                insert(GroupBinding),
                [{"platform": "wechat", "group_id": "g1", "team_id": 1, "adapter": "OneBot V12",
                  "bound_at": datetime(2026, 9, 1), "bound_by": "wechat:u1"}],
            )  # fmt: skip
            await conn.execute(
                insert(Member),
                [{"team_id": 1, "platform": "wechat", "user_id": "u1", "name": "老王",
                  "joined_on": datetime(2026, 9, 1).date()}],
            )  # fmt: skip
    finally:
        await eng.dispose()
    archive = tmp_path / "old.zip"
    if how == "backup":
        manifest = (await backup.backup(src, archive)).manifest
    else:
        manifest = await backup.dump_to(src, archive)
    assert manifest["revision"] == "0005"

    target = await testdb.create_database(tmp_path / "dst", "new")
    restored = await backup.restore(archive, target, tmp_path / "data")
    assert (restored.revision, restored.migrated_to) == ("0005", HEAD)
    assert await testdb.rows(target, "SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert await testdb.rows(target, "SELECT platform, bound_by FROM groupbinding") == [
        ("v12.wechat", "v12.wechat:u1")
    ]
    assert await testdb.rows(target, "SELECT platform, name FROM member") == [
        ("v12.wechat", "老王")
    ]


async def test_restore_keeps_the_current_database_aside_and_refuses_while_a_bot_holds_it(
    tmp_path,
):
    url = await testdb.create_database(tmp_path / "live", "live")
    await settled_team(url, agents=10, entries=100)
    archive = tmp_path / "b.zip"
    await backup.backup(url, archive)
    await testdb.rows(url, "DELETE FROM entry WHERE id > 50")  # an accident after the backup

    held = await botlock.hold_for_bot(url)
    try:
        with pytest.raises(botlock.BotRunning) as refused:
            await backup.restore(archive, url, tmp_path / "data")
        assert str(os.getpid()) in refused.value.who
        assert socket.gethostname() in refused.value.who
        assert await testdb.rows(url, "SELECT count(*) FROM entry") == [(50,)]  # untouched
    finally:
        await held.release()

    restored = await backup.restore(archive, url, tmp_path / "data")
    assert restored.counts["entry"] == 100
    assert await testdb.rows(url, "SELECT count(*) FROM entry") == [(100,)]
    if testdb.on_postgres():
        kept = portable.read_manifest(restored.aside)
    else:
        kept = {"counts": {"entry": (await testdb.rows(
            f"sqlite+aiosqlite:///{restored.aside}", "SELECT count(*) FROM entry"))[0][0]}}  # fmt: skip
    assert kept["counts"]["entry"] == 50


async def test_maintenance_and_a_starting_bot_exclude_each_other(tmp_path):
    url = await testdb.create_database(tmp_path / "lock", "lock")
    await db.migrate("head", eng := db.make_engine(url))
    await eng.dispose()
    first, second = await botlock.hold_for_bot(url), await botlock.hold_for_bot(url)
    await first.release()
    with pytest.raises(botlock.BotRunning):  # one bot still runs
        async with botlock.maintenance(url):
            pass
    await second.release()
    async with botlock.maintenance(url):
        with pytest.raises(botlock.BotRunning) as refused:
            await botlock.hold_for_bot(url)
        assert "维护" in refused.value.who
    await (await botlock.hold_for_bot(url)).release()  # free again


# ---- move-db -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgresql"), ("postgresql", "sqlite")])
async def test_move_db_copies_every_row_with_its_id_and_every_settled_score(
    tmp_path, source, target
):
    src = await scratch(source, tmp_path / "src", "src")
    dst = await scratch(target, tmp_path / "dst", "dst")
    await settled_team(src, agents=60, entries=3000)
    await testdb.rows(src, "DELETE FROM entry WHERE id % 7 = 0")  # ids with holes
    counts = await backup.move_db(src, dst)
    assert counts["entry"] == 3000 - 3000 // 7
    assert await scores(dst) == await scores(src) != []
    assert await testdb.rows(dst, "SELECT id FROM entry ORDER BY id") == await testdb.rows(
        src, "SELECT id FROM entry ORDER BY id"
    )
    # the ids go on after the highest one (PostgreSQL sequences reset)
    top = (await testdb.rows(dst, "SELECT max(id) FROM team"))[0][0]
    eng = db.make_engine(dst)
    try:
        async with eng.begin() as conn:
            new = await conn.execute(
                insert(Team).returning(Team.id), [{"name": "新团队", "created_at": datetime.now()}]
            )
            assert new.scalar_one() == top + 1
    finally:
        await eng.dispose()

    with pytest.raises(portable.CopyError, match="不是空的"):
        await backup.move_db(src, dst)
    with pytest.raises(portable.CopyError, match="就是现在用的数据库"):
        await backup.move_db(src, src)
    if db.sqlite_path(src) is not None:  # the same file, written another way
        path = db.sqlite_path(src)
        with pytest.raises(portable.CopyError, match="就是现在用的数据库"):
            await backup.move_db(src, f"sqlite+aiosqlite:///{path.parent}/./{path.name}")
    held = await botlock.hold_for_bot(src)
    try:
        other = await scratch(target, tmp_path / "dst2", "dst2")
        with pytest.raises(botlock.BotRunning):
            await backup.move_db(src, other)
    finally:
        await held.release()


# ---- /状态, healthz, the daily backup ------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    cfg = get_config()
    monkeypatch.setattr(cfg, "kpi_data_dir", tmp_path / "data")
    return tmp_path / "data"


async def test_status_for_a_superuser_in_private_and_in_a_group_and_refused_to_others(
    app: App, data_dir
):
    assert (await bind(app)).startswith("✅")
    async with db.writing() as s:
        s.add(Post(team_id=1, period="2026-10", revision=1, platform="qq",
                   group_id=str(GROUP), status="unknown"))  # fmt: skip
    set_clock(datetime(2026, 11, 20, 2, 0, tzinfo=SH))  # 2026-11-19 in UTC
    [reply] = await say(app, private_event("/状态", SUPER))
    lines = reply.split("\n")
    assert lines[0] == "✅ 机器人状态", reply
    assert lines[1].startswith("版本：0.1.0，已运行 "), reply
    engine = "PostgreSQL" if testdb.on_postgres() else "SQLite"
    assert lines[2].startswith(f"数据库：{engine}，"), reply
    assert lines[2].endswith("B"), reply
    assert lines[3] == "在线账号：QQ 1 个", reply
    assert lines[4] == "上次备份：还没有备份过", reply
    assert lines[5].startswith("待处理的月报：「客服一组」2026-10 月报待确认"), reply
    assert lines[6] == "下次结算：2026-12-01 10:00", reply
    assert lines[7] == "下次提醒：未开启", reply
    assert lines[8] == "下次备份：2026-11-20 03:30", reply

    from plugins.ops import backup_job

    assert await backup_job() is not None
    in_group = await said(app, "/状态", SUPER)
    assert "上次备份：2026-11-20 " in in_group
    assert "成功（kpi-20261120-020000.zip" in in_group

    assert (await said(app, "/状态", 30001)).startswith("❌ 仅超级管理员可用")
    [private] = await say(app, private_event("/status", 30001))
    assert private.startswith("❌ 仅超级管理员可用"), private


def _client() -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app()), base_url="http://testserver"
    )


async def test_healthz_answers_without_a_login_and_503_when_the_database_is_down(
    app: App, data_dir
):
    async with _client() as c:
        r = await c.get("/kpi/healthz")
    assert r.status_code == 200
    assert r.json() == {"database": "ok", "accounts": 0, "last_backup_age_s": None}
    assert r.headers["x-content-type-options"] == "nosniff"

    from plugins.ops import backup_job

    set_clock(datetime(2026, 11, 20, 3, 30, tzinfo=SH))
    await backup_job()
    set_clock(datetime(2026, 11, 20, 4, 0, tzinfo=SH))
    async with app.test_api() as ctx:
        ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        async with _client() as c:
            r = await c.get("/kpi/healthz")
    assert r.status_code == 200
    assert r.json() == {"database": "ok", "accounts": 1, "last_backup_age_s": 1800}

    await db.dispose()
    db.init_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    async with _client() as c:
        r = await c.get("/kpi/healthz")
    assert r.status_code == 503
    assert r.json()["database"] == "unreachable"


async def test_the_daily_backup_runs_once_a_day_keeps_the_newest_and_tells_superusers_on_failure(
    app: App, data_dir, monkeypatch
):
    from nonebot_plugin_apscheduler import scheduler

    from plugins.ops import BACKUP_JOB, backup_job

    monkeypatch.setattr(get_config(), "kpi_backup_keep", 2)
    job = scheduler.get_job(BACKUP_JOB)
    after = datetime(2026, 12, 1, 4, 0, tzinfo=SH)
    assert job.trigger.get_next_fire_time(None, after) == datetime(2026, 12, 2, 3, 30, tzinfo=SH)
    assert (await bind(app)).startswith("✅")

    for day in (1, 2, 3):
        set_clock(datetime(2026, 12, day, 3, 30, tzinfo=SH))
        done = await backup_job()
        assert done is not None
        assert done.file.name == f"kpi-202612{day:02d}-033000.zip"
        assert await backup_job() is None  # the day is claimed: another process does nothing
    kept = sorted(p.name for p in (data_dir / "backups").glob("kpi-*.zip"))
    assert kept == ["kpi-20261202-033000.zip", "kpi-20261203-033000.zip"]
    assert backup.check_archive(data_dir / "backups" / kept[-1])["counts"]["team"] == 1

    async def full(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(backup, "backup", full)
    set_clock(datetime(2026, 12, 4, 3, 30, tzinfo=SH))
    told: list[str] = []
    async with app.test_api() as ctx:
        ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        ctx.should_call_api(
            "send_private_msg", {"user_id": SUPER, "message": Capture(told)}, {"message_id": 1}
        )
        assert await backup_job() is None
    assert told[0].startswith("❌ 12-04 03:30 的自动备份失败：")
    assert "No space left" in told[0]
    last = backup.read_status(data_dir / "backups")
    assert last["ok"] is False
    assert datetime.fromisoformat(last["last_ok_at"]) == datetime(2026, 12, 3, 3, 30, tzinfo=SH)
    [status] = await say(app, private_event("/状态", SUPER))
    assert "上次备份：2026-12-04 03:30 失败：" in status
    assert "No space left on device；上次成功 2026-12-03 03:30" in status
    assert "下次备份：2026-12-05 03:30" in status
    assert sorted(p.name for p in (data_dir / "backups").glob("kpi-*.zip")) == kept


async def test_the_copy_covers_every_table_the_migrations_make(tmp_path):
    """Every table at head is one `portable` copies (a table added by a migration but not
    declared in models.tables would be left behind)."""
    url = await testdb.create_database(tmp_path, "count")
    eng = db.make_engine(url)
    try:
        await db.migrate("head", eng)
        async with eng.connect() as conn:
            got = await portable.counts(conn)
            present = await portable.present(conn)
            assert (await conn.execute(select(Team))).all() == []
    finally:
        await eng.dispose()
    assert set(got) == {t.name for t in portable.tables()} == set(present) - {"alembic_version"}


def test_backup_settings_are_validated_at_start():
    from pydantic import ValidationError

    from bot.config import Config

    assert Config().kpi_backup_time == "03:30"
    assert Config().kpi_backup_keep == 14
    assert Config(kpi_backup_time="3:05").kpi_backup_time == "03:05"
    assert Config(kpi_backup_time="off").kpi_backup_time is None
    with pytest.raises(ValidationError, match="HH:MM"):
        Config(kpi_backup_time="25:00")
    with pytest.raises(ValidationError, match="至少保留 1 份"):
        Config(kpi_backup_keep=0)


async def test_a_half_day_goes_through_dump_and_load_exactly(tmp_path):
    """A half quantity (`/请假 @某人 半天`, models.quantity) is written to the portable
    export as "0.5" and read back as exactly one half, on either engine."""
    from fractions import Fraction

    from models.tables import Entry

    url = await testdb.create_database(tmp_path / "src", "half")
    await settled_team(url, agents=3, entries=10)
    eng = db.make_engine(url)
    try:
        async with AsyncSession(eng) as s, s.begin():
            e = (await s.execute(select(Entry).order_by(Entry.id).limit(1))).scalar_one()
            e.item_key, e.quantity = "leave", Fraction(1, 2)
            half_id = e.id
    finally:
        await eng.dispose()
    out = tmp_path / "half.zip"
    await backup.dump_to(url, out)
    target = await testdb.create_database(tmp_path / "dst", "half2")
    eng = db.make_engine(target)
    try:
        await portable.load(out, eng)
        async with AsyncSession(eng) as s:
            assert (await s.get(Entry, half_id)).quantity == Fraction(1, 2)
    finally:
        await eng.dispose()


async def test_a_postgresql_restore_that_fails_puts_the_database_back(tmp_path, monkeypatch):
    """The live PostgreSQL database is emptied before a backup goes in: when that fails
    (a pg_restore error, counts that disagree), the database is put back as it was and
    the refusal names the copy kept aside."""
    url = await scratch("postgresql", tmp_path / "live", "live")
    await settled_team(url, agents=5, entries=40)
    archive = tmp_path / "b.zip"
    await backup.dump_to(url, archive)
    await testdb.rows(url, "DELETE FROM entry WHERE id > 30")  # the state to keep

    async def broken(*args, **kwargs):
        raise backup.BackupError("pg_restore 出错")

    monkeypatch.setattr(backup, "_restore_into", broken)
    with pytest.raises(backup.BackupError, match="原数据库已放回") as refused:
        await backup.restore(archive, url, tmp_path / "data")
    assert "before-restore-" in str(refused.value)
    assert await testdb.rows(url, "SELECT count(*) FROM entry") == [(30,)]
    assert await scores(url) != []
