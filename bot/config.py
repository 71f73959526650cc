"""The `KPI_*` settings (SPEC §5), read once from `.env` and validated at start."""

from __future__ import annotations

import ipaddress
import re
from decimal import Decimal
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, field_validator

DAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class Config(BaseModel):
    kpi_database_url: str = "sqlite+aiosqlite:///data/kpi.db"
    kpi_data_dir: Path = Path("data")
    kpi_timezone: str = "Asia/Shanghai"
    kpi_rubric: str = ""
    kpi_monthly_cron: str = "0 10 1 * *"
    kpi_monthly_dm: bool = False
    kpi_undo_minutes: int = 10
    kpi_admins_are_supervisors: bool = True
    kpi_commission_base: Decimal | None = None
    kpi_pay_public: bool = False  # SPEC §4: pay is private unless this says otherwise
    kpi_daily_reminder: str | None = None
    kpi_reminder_days: str = "mon-fri"
    kpi_font: str = ""
    kpi_web_enabled: bool = True
    kpi_web_base_url: str = ""  # empty: http://HOST:PORT
    kpi_fetch_allow_hosts: str = ""
    kpi_fetch_concurrency: int = 4
    kpi_evidence_quota_mb: int = 2048
    kpi_backup_time: str | None = "03:30"  # None: no daily backup
    kpi_backup_keep: int = 14
    kpi_linkcheck: bool = True  # SPEC §4 evidence checks; false: no snapshots, no re-checks
    kpi_linkcheck_days: int = 3  # re-check daily over the month's last N days
    kpi_linkcheck_time: str = "06:00"  # when the daily re-check runs (KPI_TIMEZONE)
    kpi_linkcheck_markers: str = ""  # a TOML of extra deleted/verification markers
    kpi_linkcheck_concurrency: int = 8  # link-check fetches in flight at once (process)
    kpi_linkcheck_per_host: int = 2  # and at most this many to one host

    @field_validator("kpi_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(f"未知时区 {v!r}（例如 Asia/Shanghai）") from e
        return v

    @field_validator("kpi_monthly_cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        try:
            CronTrigger.from_crontab(v)
        except ValueError as e:
            raise ValueError(f"不是有效的 cron 表达式 {v!r}：{e}") from e
        return v

    @field_validator("kpi_undo_minutes")
    @classmethod
    def _undo(cls, v: int) -> int:
        if v < 0:
            raise ValueError("不能是负数")
        return v

    @field_validator("kpi_commission_base", mode="before")
    @classmethod
    def _base(cls, v: object) -> object:
        return None if v in ("", None) else v

    @field_validator("kpi_commission_base")
    @classmethod
    def _base_positive(cls, v: Decimal | None) -> Decimal | None:
        if v is not None and v < 0:
            raise ValueError("不能是负数")
        return v

    @field_validator("kpi_daily_reminder", mode="before")
    @classmethod
    def _reminder(cls, v: object) -> object:
        if v in (None, "", "off", "false", "关闭"):
            return None
        if parse_hhmm(str(v)) is None:
            raise ValueError(f"应为 HH:MM（例如 17:30）或 off，而不是 {v!r}")
        return str(v)

    @field_validator("kpi_reminder_days")
    @classmethod
    def _days(cls, v: str) -> str:
        parse_days(v)
        return v

    @field_validator("kpi_web_base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", v):
            raise ValueError(
                f"应为 http(s):// 开头的网址（例如 https://kpi.example.com），而不是 {v!r}"
            )
        return v

    @field_validator("kpi_fetch_allow_hosts", mode="before")
    @classmethod
    def _allow_hosts(cls, v: object) -> str:
        """Host names only (no scheme, port or path), compared case-insensitively (SPEC §3)."""
        if isinstance(v, (list, tuple, set)):
            v = ",".join(str(h) for h in v)
        hosts = []
        for raw in str(v or "").split(","):
            host = raw.strip().lower().rstrip(".")
            if host.startswith("[") and host.endswith("]"):
                host = host[1:-1]
            if not host:
                continue
            if not (_ipv6(host) if ":" in host else re.fullmatch(r"[\w.\-]+", host)):
                raise ValueError(
                    f"应为逗号分隔的主机名（例如 intranet.example.com,127.0.0.1），"
                    f"不带 http:// 、端口或路径，而不是 {raw.strip()!r}"
                )
            hosts.append(host)
        return ",".join(hosts)

    @field_validator("kpi_fetch_concurrency")
    @classmethod
    def _concurrency(cls, v: int) -> int:
        if not 1 <= v <= 64:
            raise ValueError("应为 1–64")
        return v

    @field_validator("kpi_evidence_quota_mb")
    @classmethod
    def _quota(cls, v: int) -> int:
        if v < 0:
            raise ValueError("不能是负数（0 表示不保存证据图片）")
        return v

    @field_validator("kpi_backup_time", mode="before")
    @classmethod
    def _backup_time(cls, v: object) -> object:
        """SPEC §5 Operations: the daily backup's time, or off."""
        if v in (None, "", "off", "false", "关闭"):
            return None
        hhmm = parse_hhmm(str(v))
        if hhmm is None:
            raise ValueError(f"应为 HH:MM（例如 03:30）或 off，而不是 {v!r}")
        return f"{hhmm[0]:02d}:{hhmm[1]:02d}"

    @field_validator("kpi_backup_keep")
    @classmethod
    def _keep(cls, v: int) -> int:
        if v < 1:
            raise ValueError("至少保留 1 份")
        return v

    @field_validator("kpi_linkcheck_days")
    @classmethod
    def _linkcheck_days(cls, v: int) -> int:
        if not 1 <= v <= 28:
            raise ValueError("应为 1–28（月底最后几天每天核查）")
        return v

    @field_validator("kpi_linkcheck_time")
    @classmethod
    def _linkcheck_time(cls, v: str) -> str:
        hhmm = parse_hhmm(str(v))
        if hhmm is None:
            raise ValueError(f"应为 HH:MM（例如 06:00），而不是 {v!r}")
        return f"{hhmm[0]:02d}:{hhmm[1]:02d}"

    @field_validator("kpi_linkcheck_markers")
    @classmethod
    def _linkcheck_markers(cls, v: str) -> str:
        """SPEC §4: a company's own marker file is checked at start, naming the row."""
        from models.linkpage import load_markers

        load_markers(v.strip() or None)
        return v.strip()

    @field_validator("kpi_linkcheck_concurrency", "kpi_linkcheck_per_host")
    @classmethod
    def _linkcheck_limits(cls, v: int) -> int:
        if not 1 <= v <= 64:
            raise ValueError("应为 1–64")
        return v

    @property
    def fetch_allow_hosts(self) -> frozenset[str]:
        return frozenset(h for h in self.kpi_fetch_allow_hosts.split(",") if h)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.kpi_timezone)

    @property
    def reminder_days(self) -> set[int]:
        return parse_days(self.kpi_reminder_days)


def _ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def parse_hhmm(v: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(\d{1,2})[:：](\d{2})", v.strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        return None
    return int(m.group(1)), int(m.group(2))


def parse_days(v: str) -> set[int]:
    """`mon-fri`, `mon,wed,fri`, `1-5` (1 = Monday) or `all` → weekday numbers 0..6."""
    v = v.strip().lower()
    if v in ("all", "*", "every", "每天"):
        return set(range(7))
    out: set[int] = set()
    for part in v.split(","):
        bounds = [_day(p) for p in part.split("-")]
        if len(bounds) == 1:
            out.add(bounds[0])
        elif len(bounds) == 2:
            a, b = bounds
            out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        else:
            raise ValueError(f"无法理解的星期 {part!r}")
    return out


def _day(word: str) -> int:
    w = word.strip()
    if w in DAY_NAMES:
        return DAY_NAMES.index(w)
    if w.isdigit() and 1 <= int(w) <= 7:
        return int(w) - 1
    raise ValueError(f"无法理解的星期 {word!r}（用 mon-fri、1-5 或 all）")


@cache
def get_config() -> Config:
    from nonebot import get_plugin_config

    return get_plugin_config(Config)
