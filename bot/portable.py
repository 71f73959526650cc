"""The portable copy of a whole database (SPEC §5 Operations): `dump` / `load` (JSON lines
per table in a zip, with a manifest of the schema revision and the row counts) and
`move-db` (straight from one engine to another) are one reader and one writer.

Every table of `SQLModel.metadata` is copied in foreign-key order with its ids; on
PostgreSQL the id sequences are moved past the highest id. A copy is verified: the row
counts of every table, and every settled month's stored scores, equal on both sides.
"""

from __future__ import annotations

import asyncio
import json
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from sqlalchemy import Date, DateTime, MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (every table in SQLModel.metadata)

FORMAT = "kpi-portable"
MANIFEST = "manifest.json"
CHUNK = 2000


class CopyError(Exception):
    """The copy cannot be made or does not match its source (the message says how)."""


def tables() -> list[Table]:
    return list(SQLModel.metadata.sorted_tables)


def _encode(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Fraction):  # a half quantity (models.quantity): "1.5", read back exactly
        return str(value) if value.denominator != 1 else int(value)
    return value


def _decoder(table: Table):
    kinds = {}
    for col in table.columns:
        if isinstance(col.type, DateTime):
            kinds[col.name] = datetime.fromisoformat
        elif isinstance(col.type, Date):
            kinds[col.name] = date.fromisoformat

    def decode(row: dict[str, Any]) -> dict[str, Any]:
        for name, parse in kinds.items():
            if row.get(name) is not None:
                row[name] = parse(row[name])
        return row

    return decode


async def revision(conn: AsyncConnection) -> str | None:
    """The Alembic revision of the database (None: no schema yet)."""
    has = await conn.run_sync(lambda c: c.dialect.has_table(c, "alembic_version"))
    if not has:
        return None
    return (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()


async def counts(conn: AsyncConnection) -> dict[str, int]:
    """Rows of every table the database has."""
    have = await present(conn)
    return {
        t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
        for t in tables()
        if t.name in have
    }


async def present(conn: AsyncConnection) -> dict[str, set[str]]:
    """{table: its columns} as the database has them (an older revision may lack some)."""

    def read(sync_conn) -> dict[str, set[str]]:
        from sqlalchemy import inspect

        insp = inspect(sync_conn)
        return {n: {c["name"] for c in insp.get_columns(n)} for n in insp.get_table_names()}

    return await conn.run_sync(read)


async def _rows(
    conn: AsyncConnection, table: Table, columns: set[str]
) -> AsyncIterator[list[dict[str, Any]]]:
    order = list(table.primary_key.columns)
    cols = [c for c in table.columns if c.name in columns]
    result = await conn.stream(select(*cols).order_by(*order))
    async for part in result.mappings().partitions(CHUNK):
        yield [dict(r) for r in part]


@asynccontextmanager
async def _snapshot(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One read transaction over every table: what is copied is one moment of the database."""
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


# ---- settled scores (the check that matters most) --------------------------------------------


async def settled_scores(conn: AsyncConnection) -> list[tuple]:
    """Every settled month's stored scores, in one comparable list."""
    from models.tables import SettledScore, Settlement

    q = (
        select(
            Settlement.team_id,
            Settlement.period,
            Settlement.revision,
            Settlement.status,
            SettledScore.member_id,
            SettledScore.rank,
            SettledScore.total,
            SettledScore.categories,
            SettledScore.grade,
            SettledScore.fine_cents,
            SettledScore.commission_cents,
        )
        .join(SettledScore, SettledScore.settlement_id == Settlement.id)
        .order_by(Settlement.team_id, Settlement.period, SettledScore.member_id)
    )
    return [tuple(r) for r in (await conn.execute(q)).all()]


# ---- the writer -------------------------------------------------------------------------------


async def is_empty(conn: AsyncConnection) -> bool:
    have = await present(conn)
    for t in tables():
        if (
            t.name in have
            and (await conn.execute(select(func.count()).select_from(t))).scalar_one()
        ):
            return False
    return True


async def drop_schema(engine: AsyncEngine) -> None:
    """Remove every table (and the Alembic revision) of an empty or replaced database."""
    async with engine.begin() as conn:

        def drop(sync_conn) -> None:
            meta = MetaData()
            meta.reflect(sync_conn)
            meta.drop_all(sync_conn)

        await conn.run_sync(drop)


async def prepare_target(engine: AsyncEngine, rev: str) -> None:
    """An empty database at revision `rev` (made empty beforehand: refused otherwise)."""
    from .db import migrate

    async with engine.connect() as conn:
        current = await revision(conn)
        if not await is_empty(conn):
            raise CopyError("目标数据库不是空的")
    if current is not None and current != rev:
        await drop_schema(engine)
    await migrate(rev, engine)


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Each id sequence after the highest id copied, for the tables the database has (one
    loaded at an older revision lacks the newer tables: they come with the migration)."""
    if conn.dialect.name != "postgresql":
        return
    have = await present(conn)
    for t in tables():
        if t.name not in have or "id" not in t.c or not t.c.id.autoincrement:
            continue
        top = (await conn.execute(select(func.max(t.c.id)))).scalar()
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n, :called)"),
            {"t": t.name, "n": top or 1, "called": top is not None},
        )


class _Writer:
    """Inserts chunks into `conn` (one transaction for the whole copy: all or nothing)."""

    def __init__(self, conn: AsyncConnection):
        self.conn = conn
        self.written: dict[str, int] = {}

    async def put(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.conn.execute(table.insert(), rows)
        self.written[table.name] = self.written.get(table.name, 0) + len(rows)


async def verify(source: AsyncEngine, target: AsyncEngine) -> dict[str, int]:
    """Row counts of every table and the settled scores equal on both sides."""
    async with source.connect() as a, target.connect() as b:
        ca, cb = await counts(a), await counts(b)
        if ca != cb:
            diff = {t: (ca[t], cb[t]) for t in ca if ca[t] != cb.get(t)}
            raise CopyError(f"行数不一致：{diff}")
        if await settled_scores(a) != await settled_scores(b):
            raise CopyError("已结算月份的分数不一致")
    return ca


async def move(source: AsyncEngine, target: AsyncEngine) -> dict[str, int]:
    """Copy everything from `source` (at head) to the empty `target`, then verify."""
    async with source.connect() as conn:
        rev = await revision(conn)
    if rev is None:
        raise CopyError("源数据库还没有表")
    await prepare_target(target, rev)
    async with _snapshot(source) as src, target.begin() as dst:
        writer = _Writer(dst)
        have = await present(src)
        for t in tables():
            if t.name not in have:
                continue
            async for chunk in _rows(src, t, have[t.name]):
                await writer.put(t, chunk)
        await _reset_sequences(dst)
    return await verify(source, target)


# ---- the zip ---------------------------------------------------------------------------------


async def dump(engine: AsyncEngine, out: Path) -> dict[str, Any]:
    """Write the portable export of `engine` to `out` (the caller renames it once checked);
    returns its manifest."""
    manifest: dict[str, Any] = {"format": FORMAT, "version": 1}
    async with _snapshot(engine) as conn:
        manifest["revision"] = await revision(conn)
        manifest["engine"] = engine.dialect.name
        manifest["created_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
        written: dict[str, int] = {}
        have = await present(conn)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            for t in tables():
                if t.name not in have:
                    continue
                n = 0
                with zf.open(f"tables/{t.name}.jsonl", "w", force_zip64=True) as f:
                    async for chunk in _rows(conn, t, have[t.name]):
                        data = "".join(
                            json.dumps({k: _encode(v) for k, v in r.items()}, ensure_ascii=False)
                            + "\n"
                            for r in chunk
                        )
                        await asyncio.to_thread(f.write, data.encode())
                        n += len(chunk)
                written[t.name] = n
            manifest["counts"] = written
            zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1))
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as zf:
            return json.loads(zf.read(MANIFEST))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise CopyError(f"{path.name} 不是完整的备份文件（{type(e).__name__}）") from None


def check_dump(path: Path) -> dict[str, Any]:
    """Open a portable export and read it whole: every member's CRC, every line JSON, the
    row count of every table equal to the manifest's. Returns the manifest."""
    manifest = read_manifest(path)
    if manifest.get("format") != FORMAT:
        raise CopyError(f"{path.name} 不是可移植导出（format={manifest.get('format')!r}）")
    with zipfile.ZipFile(path) as zf:
        bad = zf.testzip()
        if bad is not None:
            raise CopyError(f"{path.name} 里的 {bad} 已损坏")
        for name, expected in manifest["counts"].items():
            n = 0
            with zf.open(f"tables/{name}.jsonl") as f:
                for line in f:
                    json.loads(line)
                    n += 1
            if n != expected:
                raise CopyError(f"{path.name} 里表 {name} 有 {n} 行，应为 {expected} 行")
    return manifest


async def load(path: Path, target: AsyncEngine) -> dict[str, Any]:
    """Put a checked portable export into the empty `target`, at the export's revision
    (the caller migrates it forward). Row counts are compared with the manifest."""
    manifest = check_dump(path)
    await prepare_target(target, manifest["revision"])
    known = {t.name: t for t in tables()}
    async with target.begin() as dst:
        writer = _Writer(dst)
        with zipfile.ZipFile(path) as zf:
            have = await present(dst)
            for t in tables():
                name = f"tables/{t.name}.jsonl"
                if name not in zf.namelist():
                    continue
                if t.name not in have:
                    raise CopyError(f"表 {t.name} 在版本 {manifest['revision']} 里不存在")
                decode = _decoder(known[t.name])
                chunk: list[dict[str, Any]] = []
                with zf.open(name) as f:
                    for line in f:
                        chunk.append(decode(json.loads(line)))
                        if len(chunk) >= CHUNK:
                            await writer.put(t, chunk)
                            chunk = []
                await writer.put(t, chunk)
        await _reset_sequences(dst)
        got = await counts(dst)
    for name, expected in manifest["counts"].items():
        if got.get(name) != expected:
            raise CopyError(f"表 {name} 载入 {got.get(name)} 行，应为 {expected} 行")
    return manifest
