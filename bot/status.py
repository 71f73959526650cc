"""What `/状态` and `GET /kpi/healthz` report (SPEC §5 Operations): plain facts read from
the database, the connected bots and the backups folder, and their Chinese lines.
Nothing here names a team's data beyond a held post's team and month."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from zoneinfo import ZoneInfo

from nonebot.adapters import Bot
from sqlalchemy import text

from . import backup, db
from .identity import QQ
from .platforms import of_bot

STARTED = time.monotonic()
HELD = {"unknown": "待确认", "failed": "发送失败"}


def bot_version() -> str:
    try:
        return version("kpi-bot")
    except PackageNotFoundError:
        return "未知"


def platform_of(bot: Bot) -> str:
    platform = of_bot(bot)
    return platform.bot_identity(bot) if platform is not None else bot.adapter.get_name()


def accounts(bots: dict[str, Bot]) -> dict[str, int]:
    """Connected accounts per platform."""
    out: dict[str, int] = {}
    for b in bots.values():
        out[platform_of(b)] = out.get(platform_of(b), 0) + 1
    return dict(sorted(out.items()))


async def file_size(path) -> int:
    """A SQLite database's size on disk (the file and its WAL); PostgreSQL's is read by
    the `/状态` use case (`models.usecases.reads.status`)."""
    files = [Path(f"{path}{suffix}") for suffix in ("", "-wal")]
    return sum(await asyncio.to_thread(lambda: [f.stat().st_size for f in files if f.exists()]))


def next_daily(now: datetime, hhmm: tuple[int, int], days: set[int]) -> datetime | None:
    """The next moment at `hhmm` on one of `days` (weekday numbers) after `now`."""
    start = now.replace(hour=hhmm[0], minute=hhmm[1], second=0, microsecond=0)
    for ahead in range(8):
        at = start + timedelta(days=ahead)
        if at > now and at.weekday() in days:
            return at
    return None


async def database_ok(timeout: float = 5.0) -> bool:
    async def ping() -> None:
        async with db.reading() as s:
            await s.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(ping(), timeout)
    except Exception:
        return False
    return True


def last_backup(data_dir: Path) -> dict:
    return backup.read_status(backup.backups_dir(data_dir))


def backup_age_s(data_dir: Path, now: datetime) -> int | None:
    at = last_backup(data_dir).get("last_ok_at")
    if not at:
        return None
    return max(int((now - datetime.fromisoformat(at)).total_seconds()), 0)


# ---- the reply ---------------------------------------------------------------------------------


@dataclass
class Status:
    engine: str
    size: int | None
    accounts: dict[str, int]
    backup: dict
    held: list[tuple[str, str, str, bool]]
    settlement: datetime | None
    reminder: datetime | None
    backup_next: datetime | None
    tz: ZoneInfo | None = None
    uptime_s: float = field(default_factory=lambda: time.monotonic() - STARTED)
    version: str = field(default_factory=bot_version)


def _size(n: int | None) -> str:
    if n is None:
        return "大小未知"
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{max(n // 1024, 1)} KB"


def _duration(seconds: float) -> str:
    m = int(seconds // 60)
    d, h, m = m // 1440, m // 60 % 24, m % 60
    return f"{d} 天 {h} 小时" if d else f"{h} 小时 {m} 分" if h else f"{m} 分钟"


def _when(at: datetime | None, off: str = "未开启") -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at is not None else off


def _backup_line(last: dict, tz: ZoneInfo | None) -> str:
    if not last:
        return "还没有备份过"

    def local(iso: str) -> datetime:
        return datetime.fromisoformat(iso).astimezone(tz)

    at = _when(local(last["at"]))
    if last.get("ok"):
        return f"{at} 成功（{last.get('file', '')}，{_size(last.get('size'))}）"
    ok = last.get("last_ok_at")
    before = f"；上次成功 {_when(local(ok))}" if ok else "；还没有成功过"
    return f"{at} 失败：{last.get('error') or '原因未知'}{before}"


def lines(st: Status) -> str:
    engine = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(st.engine, st.engine)
    acc = "、".join(f"{'QQ' if p == QQ else p} {n} 个" for p, n in st.accounts.items())
    if st.held:
        shown = "；".join(
            f"「{t}」{p} {'私信' if dm else '月报'}{HELD[s]}" for t, p, s, dm in st.held[:5]
        )
        more = f" 等 {len(st.held)} 条" if len(st.held) > 5 else ""
        held = f"{shown}{more}（确认后在该团队群里 /重发 月份）"
    else:
        held = "没有"
    return "\n".join(
        [
            "✅ 机器人状态",
            f"版本：{st.version}，已运行 {_duration(st.uptime_s)}",
            f"数据库：{engine}，{_size(st.size)}",
            f"在线账号：{acc or '没有账号连着'}",
            f"上次备份：{_backup_line(st.backup, st.tz)}",
            f"待处理的月报：{held}",
            f"下次结算：{_when(st.settlement)}",
            f"下次提醒：{_when(st.reminder)}",
            f"下次备份：{_when(st.backup_next)}",
        ]
    )


def healthz(ok: bool, bots: dict[str, Bot], age: int | None) -> dict:
    return {
        "database": "ok" if ok else "unreachable",
        "accounts": len(bots),
        "last_backup_age_s": age,
    }
