"""Link normalisation for the duplicate check (SPEC §3) and months and days in the team's
time zone (SPEC §3 months, §4 monthly cycle). Pure domain tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from models.links import normalize_url
from models.periods import (
    current_period,
    day_bounds_utc,
    local_now,
    looks_like_period,
    month_start_utc,
    parse_day,
    parse_period,
    period_bounds,
    period_of,
    set_clock,
    shift_period,
    utcnow,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def clock():
    """Freeze the clock with `clock(datetime)`; it is unfrozen after the test."""
    yield set_clock
    set_clock(None)


# ---- links ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("HTTPS://Example.COM/a", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "https://example.com/a"),  # http and https are one link
        ("https://example.com/a/", "https://example.com/a"),
        ("https://example.com/", "https://example.com"),
        ("https://example.com/a#comments", "https://example.com/a"),
        (
            "https://example.com/a?utm_source=wx&utm_medium=x&UTM_Campaign=y",
            "https://example.com/a",
        ),
        ("https://example.com/a?id=7&utm_source=wx&page=2", "https://example.com/a?id=7&page=2"),
        ("https://example.com/a?spm=1.2&from=timeline&id=7", "https://example.com/a?id=7"),
        ("  https://example.com/a  ", "https://example.com/a"),
    ],
)
def test_link_variants_normalise_to_one_key(written, key):
    """Case of scheme and host, default port, trailing slash, fragment and tracking
    parameters do not make a link new; every other parameter is kept in order."""
    assert normalize_url(written) == key


def test_link_path_case_and_non_default_port_are_kept():
    assert normalize_url("https://Example.com:8443/Post/A") == "https://example.com:8443/Post/A"


def test_links_differing_in_a_real_parameter_stay_different():
    assert normalize_url("https://e.com/p?id=1") != normalize_url("https://e.com/p?id=2")


def test_same_article_shared_twice_with_different_tracking_is_one_key():
    first = "https://mp.weixin.qq.com/s/abc?utm_source=moments#wechat_redirect"
    second = "HTTPS://MP.WEIXIN.QQ.COM:443/s/abc/?utm_source=group&utm_medium=share"
    assert normalize_url(first) == normalize_url(second) == "https://mp.weixin.qq.com/s/abc"


@pytest.mark.parametrize(
    "written", ["https://example.com:abc/a", "https://example.com:99999/a"]
)  # fmt: skip
def test_link_with_a_malformed_port_still_gets_a_key_instead_of_raising(written):
    """The report command passes any http(s) text it finds; a bad port must not crash it."""
    assert normalize_url(written) == written


def test_ipv6_host_keeps_its_brackets():
    assert normalize_url("http://[::1]:8080/a/") == "https://[::1]:8080/a"


# ---- months ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "period"),
    [
        ("2026-11", "2026-11"),
        ("202611", "2026-11"),
        ("2026-1", "2026-01"),
        ("2026/11", "2026-11"),
        ("2026.11", "2026-11"),
        ("2026年11月", "2026-11"),
        ("２０２６－１１", "2026-11"),
        (" 2026-11 ", "2026-11"),
    ],
)
def test_written_month_parses_to_yyyy_mm(word, period):
    assert parse_period(word, SHANGHAI) == period


@pytest.mark.parametrize(
    "word",
    [
        "2026-13",
        "2026-00",
        "202613",
        "1999-05",
        "2101-01",
        "2026-111",
        "26-11",
        "十三月",  # `十一月` is a month (SPEC §3 "What people type")
        "",
        "abc",
    ],
)
def test_invalid_month_is_none(word):
    assert parse_period(word, SHANGHAI) is None


def test_this_month_and_last_month_follow_the_frozen_clock(clock):
    clock(datetime(2026, 11, 15, 4, 0))
    assert parse_period("本月", SHANGHAI) == "2026-11"
    assert parse_period("上月", SHANGHAI) == "2026-10"
    assert parse_period("上个月", SHANGHAI) == "2026-10"


def test_last_month_in_january_is_december_of_the_year_before(clock):
    clock(datetime(2027, 1, 10, 4, 0))
    assert parse_period("本月", SHANGHAI) == "2027-01"
    assert parse_period("上月", SHANGHAI) == "2026-12"


def test_this_month_is_the_local_month_not_the_utc_month(clock):
    """2026-11-30 16:30 UTC is already 2026-12-01 00:30 in Shanghai."""
    clock(datetime(2026, 11, 30, 16, 30))
    assert parse_period("本月", SHANGHAI) == "2026-12"
    assert parse_period("上月", SHANGHAI) == "2026-11"
    assert current_period(ZoneInfo("UTC")) == "2026-11"


def test_clock_frozen_with_an_aware_time_is_stored_as_naive_utc(clock):
    clock(datetime(2026, 12, 1, 0, 30, tzinfo=SHANGHAI))
    assert utcnow() == datetime(2026, 11, 30, 16, 30)
    assert local_now(SHANGHAI).date() == date(2026, 12, 1)


def test_month_without_a_year_is_the_latest_such_month_not_in_the_future(clock):
    clock(datetime(2026, 11, 15, 4, 0))
    assert parse_period("11月", SHANGHAI) == "2026-11"
    assert parse_period("3月", SHANGHAI) == "2026-03"
    assert parse_period("12月", SHANGHAI) == "2025-12"
    assert parse_period("13月", SHANGHAI) is None


@pytest.mark.parametrize(
    ("word", "expected"),
    [("2026-11", True), ("202611", True), ("本月", True), ("3月", True), ("备注", False)],
)
def test_month_words_are_recognised(word, expected):
    assert looks_like_period(word) is expected


@pytest.mark.parametrize(
    ("period", "months", "shifted"),
    [
        ("2026-11", -1, "2026-10"),
        ("2026-01", -1, "2025-12"),
        ("2026-12", 1, "2027-01"),
        ("2026-11", -23, "2024-12"),
        ("2026-11", 0, "2026-11"),
    ],
)
def test_shifting_a_month_crosses_year_boundaries(period, months, shifted):
    assert shift_period(period, months) == shifted


@pytest.mark.parametrize(
    ("period", "first", "last"),
    [
        ("2026-11", date(2026, 11, 1), date(2026, 11, 30)),
        ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
        ("2026-02", date(2026, 2, 1), date(2026, 2, 28)),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_period_bounds_are_the_first_and_last_day_of_the_month(period, first, last):
    assert period_bounds(period) == (first, last)


# ---- days and time zones --------------------------------------------------------------


def test_local_day_in_shanghai_starts_at_16_utc_the_day_before():
    assert day_bounds_utc(date(2026, 11, 30), SHANGHAI) == (
        datetime(2026, 11, 29, 16, 0),
        datetime(2026, 11, 30, 16, 0),
    )


def test_local_day_with_a_daylight_saving_change_is_23_hours_long():
    """New York springs forward on 2026-03-08: 05:00 UTC to 04:00 UTC the next day."""
    start, end = day_bounds_utc(date(2026, 3, 8), ZoneInfo("America/New_York"))
    assert start == datetime(2026, 3, 8, 5, 0)
    assert end == datetime(2026, 3, 9, 4, 0)
    assert end - start == timedelta(hours=23)


def test_month_starts_at_local_midnight_of_its_first_day():
    assert month_start_utc("2026-12", SHANGHAI) == datetime(2026, 11, 30, 16, 0)


def test_last_second_of_november_in_shanghai_belongs_to_november():
    """2026-11-30 23:59:59 Shanghai = 2026-11-30 15:59:59 UTC → 2026-11."""
    at = datetime(2026, 11, 30, 23, 59, 59, tzinfo=SHANGHAI)
    at_utc = at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
    assert at_utc == datetime(2026, 11, 30, 15, 59, 59)
    assert period_of(at_utc, SHANGHAI) == "2026-11"


def test_first_second_of_december_in_shanghai_is_december_though_utc_is_november():
    """2026-11-30 16:00:00 UTC = 2026-12-01 00:00 Shanghai → 2026-12."""
    assert period_of(datetime(2026, 11, 30, 16, 0), SHANGHAI) == "2026-12"
    assert period_of(datetime(2026, 11, 30, 16, 0), ZoneInfo("UTC")) == "2026-11"


@pytest.mark.parametrize(
    ("word", "day"),
    [
        ("今天", date(2026, 11, 30)),
        ("昨天", date(2026, 11, 29)),
        ("2026-11-03", date(2026, 11, 3)),
        ("20261103", date(2026, 11, 3)),
        ("11-3", date(2026, 11, 3)),
        ("11月3日", date(2026, 11, 3)),
        ("2026-02-30", None),
        ("13-01", None),
        ("hello", None),
    ],
)
def test_day_words_parse_in_the_local_calendar(clock, word, day):
    clock(datetime(2026, 11, 30, 1, 0))  # 09:00 in Shanghai
    assert parse_day(word, SHANGHAI) == day
