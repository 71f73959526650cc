"""Months and days in the team's time zone (SPEC §3: `YYYY-MM`, `YYYYMM`, `本月`, `上月`,
`十一月`, `上个月`)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

UTC = timezone.utc
_clock_override: datetime | None = None


def utcnow() -> datetime:
    """Now, in UTC, naive (how times are stored). Tests may freeze it with `set_clock`."""
    if _clock_override is not None:
        return _clock_override
    return datetime.now(UTC).replace(tzinfo=None)


def set_clock(at: datetime | None) -> None:
    """Freeze the clock at an aware or naive-UTC datetime (None unfreezes)."""
    global _clock_override
    if at is not None and at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    _clock_override = at


def local_now(tz: ZoneInfo) -> datetime:
    return utcnow().replace(tzinfo=UTC).astimezone(tz)


def to_local(at: datetime, tz: ZoneInfo) -> datetime:
    return at.replace(tzinfo=UTC).astimezone(tz)


def period_of(at_utc: datetime, tz: ZoneInfo) -> str:
    return to_local(at_utc, tz).strftime("%Y-%m")


def current_period(tz: ZoneInfo) -> str:
    return period_of(utcnow(), tz)


def shift_period(period: str, months: int) -> str:
    y, m = map(int, period.split("-"))
    n = y * 12 + (m - 1) + months
    return f"{n // 12:04d}-{n % 12 + 1:02d}"


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a month."""
    y, m = map(int, period.split("-"))
    first = date(y, m, 1)
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def day_bounds_utc(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local day, as naive UTC datetimes."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    end = start + timedelta(days=1)
    end = datetime(end.year, end.month, end.day, tzinfo=tz)
    return (
        start.astimezone(UTC).replace(tzinfo=None),
        end.astimezone(UTC).replace(tzinfo=None),
    )


def month_start_utc(period: str, tz: ZoneInfo) -> datetime:
    first, _ = period_bounds(period)
    return day_bounds_utc(first, tz)[0]


_MONTH_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})$"),
    re.compile(r"^(\d{4})[./](\d{1,2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月?$"),
)


_CN_MONTHS = {
    n: i + 1
    for i, n in enumerate(
        ("一", "二", "三", "四", "五", "六", "七", "八", "九", "十", "十一", "十二")
    )
}
_CN_MONTH = re.compile(r"^(十[一二]?|[一二三四五六七八九])月份?$")


def _words_month(w: str) -> str:
    """`十一月` / `11月` / `11月份` as `11月`, the form `parse_period` reads."""
    if m := _CN_MONTH.match(w):
        return f"{_CN_MONTHS[m.group(1)]}月"
    return w.removesuffix("份") if w.endswith("月份") else w


def parse_period(word: str, tz: ZoneInfo) -> str | None:
    """A month word → `YYYY-MM`, or None if the word is not a month.

    SPEC §3 "What people type": also `十一月` (the latest November that is not in the
    future), `上个月`, `这个月`."""
    w = _words_month(unicodedata.normalize("NFKC", word).strip())
    if w in ("本月", "这个月", "当月", "这月"):
        return current_period(tz)
    if w in ("上月", "上个月", "上一个月"):
        return shift_period(current_period(tz), -1)
    if w in _NEXT_MONTH:  # a future month: the commands that take one refuse it as such
        return shift_period(current_period(tz), 1)
    for pat in _MONTH_PATTERNS:
        if m := pat.match(w):
            y, mo = int(m.group(1)), int(m.group(2))
            if 2000 <= y <= 2100 and 1 <= mo <= 12:
                return f"{y:04d}-{mo:02d}"
            return None
    if m := re.match(r"^(\d{1,2})月$", w):
        mo = int(m.group(1))
        if 1 <= mo <= 12:
            y = local_now(tz).year
            p = f"{y:04d}-{mo:02d}"
            return p if p <= current_period(tz) else f"{y - 1:04d}-{mo:02d}"
    return None


_NEXT_MONTH = ("下月", "下个月", "下一个月")


def looks_like_period(word: str) -> bool:
    w = _words_month(unicodedata.normalize("NFKC", word).strip())
    return bool(
        w in ("本月", "这个月", "当月", "这月", "上月", "上个月", "上一个月", *_NEXT_MONTH)
        or any(p.match(w) for p in _MONTH_PATTERNS)
        or re.match(r"^\d{1,2}月$", w)
    )


def parse_day(word: str, tz: ZoneInfo) -> date | None:
    w = unicodedata.normalize("NFKC", word).strip()
    today = local_now(tz).date()
    if w in ("今天", "今日"):
        return today
    if w == "昨天":
        return today - timedelta(days=1)
    for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
        try:
            return datetime.strptime(w, fmt).date()
        except ValueError:
            pass
    if m := re.match(r"^(\d{1,2})[-/.月](\d{1,2})日?$", w):
        try:
            return date(today.year, int(m.group(1)), int(m.group(2)))
        except ValueError:
            return None
    return None
