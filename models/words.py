"""Reading the words people type: numbers, counts with halves, money, entry ids, links and
notes (SPEC §3 "What people type"). Pure text, no chat: the chat layer (`bot.parse`) and the
use cases (`models.usecases`) read words the same way. Numbers are read after NFKC
normalisation, so full-width digits (`３`) count as digits.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from fractions import Fraction

from .ledger import Refused
from .quantity import as_quantity

URL_RE = re.compile(r"https?://[^\s<>\"'，。！？、；）」』】]+", re.IGNORECASE)
ID_RE = re.compile(r"^[#＃]?(\d{1,18})$")  # SPEC §3: the `#` is optional


def first_url(text: str) -> str | None:
    m = URL_RE.search(text)
    return m.group(0) if m else None


MAX_DIGITS = 18  # more significant digits than any count, id or amount the bot accepts
_LONG_RUN = re.compile(r"[^\s、，：；。“”（）]{41,}")


def parse_int(word: str) -> int | None:
    """A whole number, in digits or Chinese numerals (`chinese_int`); one longer than MAX_DIGITS reads as ±10**MAX_DIGITS, outside every
    range (SPEC §3: any number a person can type gets the normal refusal, and Python will not
    convert a string of more than 4300 digits)."""
    w = unicodedata.normalize("NFKC", word).strip()
    w = w.removesuffix("次").removesuffix("天").removesuffix("个").removesuffix("人")
    if not re.fullmatch(r"[+-]?\d+", w):
        return chinese_int(w)
    if len(w.lstrip("+-").lstrip("0")) > MAX_DIGITS:
        return -(10**MAX_DIGITS) if w.startswith("-") else 10**MAX_DIGITS
    return int(w)


_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+")


def chinese_int(word: str) -> int | None:
    """A whole number written in Chinese numerals, as people type counts (`两`, `三`,
    `十`, `二十五`, `一百零五`); None for anything else (`两三`, a name)."""
    if not _CN_NUMBER.fullmatch(word):
        return None
    if word in ("零", "〇"):
        return 0
    total, digit, last_unit = 0, None, 10_000
    for c in word:
        if c in ("零", "〇"):
            continue
        if c in _CN_DIGITS:
            if digit is not None:
                return None  # two digits in a row: a range (`两三`), not a number
            digit = _CN_DIGITS[c]
        else:
            unit = _CN_UNITS[c]
            if unit >= last_unit:
                return None
            total += (1 if digit is None else digit) * unit
            digit, last_unit = None, unit
    return total + (digit or 0)


def clip_echo(text: str) -> str:
    """A reply that quotes what someone typed, with every over-long run of it cut to 20
    characters (a 5,000-digit number is echoed as `11111…`)."""
    return _LONG_RUN.sub(lambda m: m.group(0)[:20] + "…", text)


FINE_WORDS = ("罚款", "罚金", "罚")
_AMOUNT = r"[+-]?\d+(?:\.\d+)?"
_MONEY = re.compile(rf"(罚款|罚金|罚)?([¥￥])?({_AMOUNT})(元|块)?")


def is_number(word: str) -> bool:
    """A plain number as digits, maybe with decimals (`200`, `202611`, `2026.11`): read as
    a fine where an item takes one, never as a month (SPEC §3, decided)."""
    return bool(re.fullmatch(_AMOUNT, unicodedata.normalize("NFKC", word).strip()))


def find_fines(words: list[str], bare_at: int | None = 0) -> list[tuple[int, int, Decimal]]:
    """Every fine among a supervisor's words, as (start, end, yuan), with as many decimals
    as were typed (the caller checks the range and the cents).

    People write it first (`200`, `¥200`, `200元`: a bare number counts at `bare_at` only)
    or after the reason, marked as money: `罚款200`, `罚款 200`, `罚200元`, `¥200`, `200元`.
    A bare number elsewhere is not a fine (it may be part of the note)."""
    found: list[tuple[int, int, Decimal]] = []
    i = 0
    while i < len(words):
        w = unicodedata.normalize("NFKC", words[i]).strip()
        if w in FINE_WORDS and i + 1 < len(words):
            nxt = unicodedata.normalize("NFKC", words[i + 1]).strip()
            if m := _MONEY.fullmatch(nxt):
                if not m.group(1):
                    found.append((i, i + 2, Decimal(m.group(3))))
                    i += 2
                    continue
        m = _MONEY.fullmatch(w)
        if m and (i == bare_at or m.group(1) or m.group(2) or m.group(4)):
            found.append((i, i + 1, Decimal(m.group(3))))
        i += 1
    return found


def parse_entry_id(word: str) -> int | None:
    w = unicodedata.normalize("NFKC", word).strip()
    if m := ID_RE.match(w):
        return int(m.group(1))
    return None


def looks_numeric(word: str) -> bool:
    return bool(re.fullmatch(r"[+-]?[\d.]+", unicodedata.normalize("NFKC", word).strip()))


MAX_NOTE = 500  # characters of a note (SPEC §3)


def note_of(text: str, *, limit: int = MAX_NOTE, what: str = "备注") -> str | None:
    """A note, a reason as stored (None when blank). SPEC §3 "What people type": one
    longer than its limit is refused with the limit, never cut."""
    text = text.strip()
    if len(text) > limit:
        raise Refused(f"{what}最多 {limit} 个字，收到 {len(text)} 个字，请写短一些")
    return text or None


_HALF = re.compile(r"(\d{1,6})?(?:\.(\d{1,6}))?(?:天|日|次|个)?(半(?:天|日|个)?)?")


def parse_days(word: str) -> int | Fraction | None:
    """A count that may hold a half (an item with `step = 0.5`, SPEC §3 "What people
    type"): `半天`, `半`, `0.5`, `1.5天`, `1天半`, `一天半`, or a whole number as `parse_int`
    reads it (`两天`, `三`)."""
    w = unicodedata.normalize("NFKC", word).strip()
    if (n := parse_int(w)) is not None:
        return n
    if (lead := _CN_NUMBER.match(w)) and (whole := chinese_int(lead.group(0))) is not None:
        w = f"{whole}{w[lead.end() :]}"  # `一天半` reads as `1天半`
    m = _HALF.fullmatch(w)
    if m is None or not any(m.groups()) or (m.group(2) and m.group(3)):
        return None
    whole = Fraction(m.group(1) or 0) + (Fraction(f"0.{m.group(2)}") if m.group(2) else 0)
    return as_quantity(whole + (Fraction(1, 2) if m.group(3) else 0))
