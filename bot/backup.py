"""Backups and restore (SPEC §5 Operations), as plain functions the CLI and the daily job
share. No NoneBot here.

A backup is one zip with a `manifest.json` (format, schema revision, row counts):

- SQLite: SQLite's online backup of the live file (consistent while the bot writes; WAL
  readers never block writers), as `kpi.db`, compressed.
- PostgreSQL: `pg_dump -Fc` in an exported snapshot when `pg_dump` is on PATH (the counts
  are read in the same snapshot), else the portable export (`bot.portable`).

It is written as `<name>.part`, then opened and checked (SQLite: `PRAGMA integrity_check`;
every format: the row counts equal to what was copied), and only then renamed: a crash
leaves no file that looks complete (SPEC §6).

Restore refuses while a bot runs on the database (`bot.botlock`), keeps the current
database aside, restores, and migrates it forward when the backup is older.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from . import botlock, portable
from .db import make_engine, migrate, sqlite_path
from .portable import MANIFEST, CopyError

SQLITE_FORMAT = "kpi-sqlite"
PGDUMP_FORMAT = "kpi-pgdump"
BACKUPS = "backups"
STATUS = "last.json"
AUTO = re.compile(r"^kpi-\d{8}-\d{6}\.zip$")


class BackupError(CopyError):
    pass


def _stamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _engine(url: str) -> AsyncEngine:
    if sqlite_path(url) is not None:
        return make_engine(url)
    return create_async_engine(url, poolclass=NullPool)


# ---- SQLite ------------------------------------------------------------------------------------


def _sqlite_counts(con: sqlite3.Connection) -> dict[str, int]:
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    return {
        t.name: con.execute(f'SELECT count(*) FROM "{t.name}"').fetchone()[0]
        for t in portable.tables()
        if t.name in have
    }


def _sqlite_revision(con: sqlite3.Connection) -> str | None:
    try:
        row = con.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    return row[0] if row else None


def _sqlite_copy(src: Path, dst: Path) -> dict[str, Any]:
    """The online backup of `src` into the new file `dst`, made a single self-contained file;
    its manifest (what was copied)."""
    source = sqlite3.connect(src, timeout=30)
    try:
        target = sqlite3.connect(dst)
        try:
            source.backup(target)  # all pages in one step: one consistent read
            target.execute("PRAGMA journal_mode=DELETE")
            return {
                "format": SQLITE_FORMAT,
                "engine": "sqlite",
                "revision": _sqlite_revision(target),
                "counts": _sqlite_counts(target),
            }
        finally:
            target.close()
    finally:
        source.close()


def check_sqlite_file(path: Path, manifest: dict[str, Any]) -> None:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise BackupError(f"完整性检查失败：{'; '.join(result[:3])}")
        if _sqlite_counts(con) != manifest["counts"]:
            raise BackupError("备份里的行数与复制时不一致")
        if _sqlite_revision(con) != manifest["revision"]:
            raise BackupError("备份里的数据库版本与清单不一致")
    finally:
        con.close()


def _write_sqlite(src: Path, part: Path, work: Path) -> dict[str, Any]:
    copy = work / "kpi.db.part"  # never a complete-looking file, even left by a crash
    manifest = _sqlite_copy(src, copy)
    manifest["created_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        zf.write(copy, "kpi.db")
        zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def _extract(archive: Path, member: str, work: Path) -> Path:
    with zipfile.ZipFile(archive) as zf:
        if zf.testzip() is not None:
            raise BackupError(f"{archive.name} 已损坏")
        return Path(zf.extract(member, work))


# ---- PostgreSQL: pg_dump -----------------------------------------------------------------------


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI for pg_dump / pg_restore, the password passed in the environment."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    uri = u.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _run(argv: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, env=env, capture_output=True, **kw)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(f"{Path(argv[0]).name} 失败：{err[-1] if err else done.returncode}")
    return done


async def _write_pgdump(url: str, part: Path, work: Path) -> dict[str, Any]:
    from sqlalchemy import text

    eng = create_async_engine(url, poolclass=NullPool)
    uri, env = _libpq(url)
    dump = work / "pg.dump.part"
    try:
        async with eng.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            snapshot = (await conn.execute(text("SELECT pg_export_snapshot()"))).scalar()
            manifest = {
                "format": PGDUMP_FORMAT,
                "engine": "postgresql",
                "revision": await portable.revision(conn),
                "counts": await portable.counts(conn),
            }
            argv = ["pg_dump", "-Fc", f"--snapshot={snapshot}", "-f", str(dump), "-d", uri]
            await asyncio.to_thread(_run, argv, env)
    finally:
        await eng.dispose()
    manifest["created_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
    with zipfile.ZipFile(part, "w", zipfile.ZIP_STORED) as zf:
        zf.write(dump, "pg.dump")
        zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


_COPY = re.compile(r"^COPY public\.\"?(\w+)\"? \(.*\) FROM stdin;$")


def check_pgdump_file(path: Path, manifest: dict[str, Any]) -> None:
    """pg_restore reads the whole dump; the rows of each table's COPY are counted."""
    proc = subprocess.Popen(
        ["pg_restore", "-a", "-f", "-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    got: dict[str, int] = {}
    table = None
    for raw in proc.stdout:
        line = raw.rstrip(b"\n")
        if table is None:
            m = _COPY.match(line.decode(errors="replace"))
            if m:
                table = m.group(1)
                got[table] = 0
        elif line == b"\\.":
            table = None
        else:
            got[table] += 1
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore 读不了这个备份：{err.decode(errors='replace')[-200:]}")
    expected = manifest["counts"]
    if {t: got.get(t, 0) for t in expected} != expected:
        raise BackupError("备份里的行数与复制时不一致")


# ---- one backup --------------------------------------------------------------------------------


@dataclass
class Done:
    file: Path
    manifest: dict[str, Any]
    seconds: float
    size: int


def check_archive(path: Path) -> dict[str, Any]:
    """Open a backup and check it whole; its manifest (raises `CopyError`)."""
    manifest = portable.read_manifest(path)
    kind = manifest.get("format")
    if kind == portable.FORMAT:
        return portable.check_dump(path)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        if kind == SQLITE_FORMAT:
            check_sqlite_file(_extract(path, "kpi.db", Path(tmp)), manifest)
        elif kind == PGDUMP_FORMAT:
            check_pgdump_file(_extract(path, "pg.dump", Path(tmp)), manifest)
        else:
            raise BackupError(f"{path.name} 不是本机器人的备份（format={kind!r}）")
    return manifest


async def backup(url: str, out: Path, *, use_pg_dump: bool | None = None) -> Done:
    """Back up the database at `url` to `out` (see the module docstring)."""
    started = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    path = sqlite_path(url)
    try:
        with tempfile.TemporaryDirectory(dir=out.parent, prefix=".kpi-backup-") as tmp:
            work = Path(tmp)
            if path is not None:
                if not path.exists():
                    raise BackupError(f"数据库文件 {path} 不存在")
                manifest = await asyncio.to_thread(_write_sqlite, path, part, work)
            elif use_pg_dump if use_pg_dump is not None else bool(shutil.which("pg_dump")):
                manifest = await _write_pgdump(url, part, work)
            else:
                eng = _engine(url)
                try:
                    manifest = await portable.dump(eng, part)
                finally:
                    await eng.dispose()
        await asyncio.to_thread(_fsync, part)
        checked = await asyncio.to_thread(check_archive, part)
        if checked["counts"] != manifest["counts"]:
            raise BackupError("备份里的行数与复制时不一致")
        os.replace(part, out)
        await asyncio.to_thread(_fsync, out.parent)
    finally:
        part.unlink(missing_ok=True)
    size = os.stat(out).st_size
    return Done(out, manifest, time.monotonic() - started, size)


# ---- the backups folder ------------------------------------------------------------------------


def backups_dir(data_dir: Path) -> Path:
    return Path(data_dir) / BACKUPS


def prune(folder: Path, keep: int) -> list[Path]:
    """Keep the `keep` newest automatic backups; remove parts left by a crash (an hour old)."""
    removed: list[Path] = []
    for d in folder.glob(".kpi-backup-*"):
        if time.time() - d.stat().st_mtime > 3600:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    autos = sorted(p for p in folder.glob("kpi-*.zip") if AUTO.match(p.name))
    for p in autos[: max(len(autos) - keep, 0)]:
        p.unlink(missing_ok=True)
        removed.append(p)
    for p in folder.glob("*.part"):
        if time.time() - p.stat().st_mtime > 3600:
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


def record(
    folder: Path, ok: bool, done: Done | None = None, error: str = "", at: datetime | None = None
) -> dict:
    """Remember the last backup and its result (for /状态 and healthz)."""
    folder.mkdir(parents=True, exist_ok=True)
    last = read_status(folder)
    at = at or datetime.now()
    now = (at if at.tzinfo else at.astimezone()).isoformat(timespec="seconds")
    status = {"at": now, "ok": ok, "error": error, "last_ok_at": last.get("last_ok_at")}
    if ok and done is not None:
        status.update(
            last_ok_at=now, file=done.file.name, size=done.size, seconds=round(done.seconds, 2)
        )
    tmp = folder / (STATUS + ".tmp")
    tmp.write_text(json.dumps(status, ensure_ascii=False))
    os.replace(tmp, folder / STATUS)
    return status


def read_status(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATUS).read_text())
    except (OSError, ValueError):
        return {}


async def daily(url: str, data_dir: Path, keep: int, now: datetime) -> Done:
    """The daily backup (of the moment `now`) into `KPI_DATA_DIR/backups`, then the old
    ones pruned; its result is recorded either way (raises on failure)."""
    folder = backups_dir(data_dir)
    try:
        done = await backup(url, folder / f"kpi-{now:%Y%m%d-%H%M%S}.zip")
    except Exception as e:
        record(folder, False, error=str(e) or type(e).__name__, at=now)
        raise
    prune(folder, keep)
    record(folder, True, done, at=now)
    return done


# ---- restore -----------------------------------------------------------------------------------


@dataclass
class Restored:
    revision: str
    migrated_to: str | None
    counts: dict[str, int]
    aside: Path

    def as_dict(self) -> dict:
        return asdict(self)


def _move_sqlite_aside(path: Path, stamp: str) -> Path:
    aside = path.with_name(f"{path.name}.before-restore-{stamp}")
    if path.exists():
        con = sqlite3.connect(path)  # fold the WAL in, so one file holds everything
        try:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()
    for suffix in ("", "-wal", "-shm", "-journal"):
        f = Path(f"{path}{suffix}")
        if f.exists():
            os.replace(f, Path(f"{aside}{suffix}"))
    return aside


def _put_back(path: Path, aside: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
        f = Path(f"{aside}{suffix}")
        if f.exists():
            os.replace(f, Path(f"{path}{suffix}"))


def known_revision(rev: str | None) -> bool:
    """A schema revision this code has a migration for (a newer backup is refused)."""
    from alembic.script import ScriptDirectory

    from .db import alembic_config

    script = ScriptDirectory.from_config(alembic_config(""))
    return rev is not None and rev in {s.revision for s in script.walk_revisions()}


async def _head_after(eng: AsyncEngine) -> str | None:
    await migrate("head", eng)
    async with eng.connect() as conn:
        return await portable.revision(conn)


async def restore(archive: Path, url: str, data_dir: Path) -> Restored:
    """Replace the database at `url` with the backup `archive` (see the module docstring)."""
    if archive.name.endswith(".part"):
        raise BackupError(f"{archive.name} 是没写完的备份（.part），不能用来恢复")
    manifest = await asyncio.to_thread(check_archive, archive)
    kind, rev = manifest["format"], manifest["revision"]
    if not known_revision(rev):
        raise BackupError(f"这个备份来自更新的版本（数据库版本 {rev}），请先升级机器人再恢复")
    stamp = _stamp()
    path = sqlite_path(url)
    async with botlock.maintenance(url):
        if path is not None and kind == PGDUMP_FORMAT:
            raise BackupError("这是 PostgreSQL 的 pg_dump 备份，只能恢复到 PostgreSQL")
        if path is not None:
            return await _restore_sqlite(archive, manifest, path, url, stamp)
        return await _restore_elsewhere(archive, manifest, url, data_dir, stamp, kind, rev)


async def _restore_sqlite(archive, manifest, path: Path, url: str, stamp: str) -> Restored:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".kpi-restore-") as tmp:
        work = Path(tmp)
        if manifest["format"] == SQLITE_FORMAT:
            new = _extract(archive, "kpi.db", work)
            check_sqlite_file(new, manifest)
        else:  # a portable export (or a copy from PostgreSQL) into a new file
            new = work / "kpi.db"
            eng = make_engine(f"sqlite+aiosqlite:///{new}")
            try:
                await portable.load(archive, eng)
            finally:
                await eng.dispose()
        os.chmod(new, 0o600)
        aside = _move_sqlite_aside(path, stamp)
        try:
            os.replace(new, path)
            eng = make_engine(url)
            try:
                head = await _head_after(eng)
                async with eng.connect() as conn:
                    got = await portable.counts(conn)
            finally:
                await eng.dispose()
        except BaseException:
            _put_back(path, aside)
            raise
    return Restored(manifest["revision"], head, got, aside)


async def _restore_elsewhere(archive, manifest, url, data_dir, stamp, kind, rev) -> Restored:
    folder = backups_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    aside = folder / f"before-restore-{stamp}.zip"
    eng = _engine(url)
    try:
        async with eng.connect() as conn:
            has_schema = await portable.revision(conn) is not None
        if has_schema:
            part = aside.with_name(aside.name + ".part")
            await portable.dump(eng, part)
            await asyncio.to_thread(portable.check_dump, part)
            os.replace(part, aside)
        await portable.drop_schema(eng)
        try:
            await _restore_into(archive, manifest, url, eng, folder, kind)
        except BaseException as e:
            if has_schema:  # put the database as it was back, and say where it is kept
                await portable.drop_schema(eng)
                await portable.load(aside, eng)
                raise BackupError(f"恢复失败（{e}），原数据库已放回；恢复前的副本：{aside}") from e
            raise
        head = await _head_after(eng)
        async with eng.connect() as conn:
            got = await portable.counts(conn)
    finally:
        await eng.dispose()
    return Restored(rev, head, got, aside)


async def _restore_into(archive, manifest, url, eng, folder, kind) -> None:
    """The backup into the emptied database `eng`, checked by its row counts."""
    if kind == PGDUMP_FORMAT:
        uri, env = _libpq(url)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            dump = _extract(archive, "pg.dump", Path(tmp))
            argv = ["pg_restore", "--no-owner", "--no-privileges", "-d", uri, str(dump)]
            await asyncio.to_thread(_run, argv, env)
    elif kind == SQLITE_FORMAT:
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            src = make_engine(f"sqlite+aiosqlite:///{_extract(archive, 'kpi.db', Path(tmp))}")
            try:
                await portable.move(src, eng)
            finally:
                await src.dispose()
    else:
        await portable.load(archive, eng)
    async with eng.connect() as conn:
        if await portable.counts(conn) != manifest["counts"]:
            raise BackupError("恢复后的行数与备份不一致")


# ---- move-db, dump, load -----------------------------------------------------------------------


async def move_db(source_url: str, target_url: str) -> dict[str, int]:
    """Everything from `source_url` (migrated to head first) to the empty `target_url`,
    refused while a bot runs on either; verified (`portable.verify`)."""
    a, b = sqlite_path(source_url), sqlite_path(target_url)
    same_file = a is not None and b is not None and a.resolve() == b.resolve()
    if same_file or make_url(source_url) == make_url(target_url):
        raise CopyError("目标就是现在用的数据库，请换一个空数据库")
    async with botlock.maintenance(source_url), botlock.maintenance(target_url):
        src, dst = _engine(source_url), _engine(target_url)
        try:
            await migrate("head", src)
            async with dst.connect() as conn:
                if not await portable.is_empty(conn):
                    raise CopyError("目标数据库不是空的，为免覆盖，请换一个空数据库")
            return await portable.move(src, dst)
        finally:
            await src.dispose()
            await dst.dispose()


async def dump_to(url: str, out: Path) -> dict[str, Any]:
    """The portable export of `url` to `out`, written as `.part` and checked, then renamed."""
    part = out.with_name(out.name + ".part")
    eng = _engine(url)
    try:
        manifest = await portable.dump(eng, part)
        await asyncio.to_thread(portable.check_dump, part)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
        await eng.dispose()
    return manifest


async def load_from(path: Path, url: str) -> dict[str, int]:
    """A portable export into the empty database at `url`, then migrated forward; refused
    while a bot runs on it or when it has rows."""
    async with botlock.maintenance(url):
        eng = _engine(url)
        try:
            await portable.load(path, eng)
            await migrate("head", eng)
            async with eng.connect() as conn:
                return await portable.counts(conn)
        finally:
            await eng.dispose()
