"""Scoring: a rubric and a member's tallies in, exact scores out (SPEC §1 scoring rules).

Scores are exact fractions (5/8 × 2 = 5/4). Only display rounds: half up to one decimal for
points, half up to the cent for money. Commission uses the exact total.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from .rubric import Item, Rubric


@dataclass(frozen=True)
class Tally:
    """What a member logged for one item in a month (revoked entries excluded)."""

    quantity: int = 0
    entries: int = 0


@dataclass(frozen=True)
class ItemScore:
    item: Item
    quantity: int
    entries: int
    points: Fraction  # signed contribution before clamping of the category

    @property
    def done(self) -> bool:
        return self.item.target is not None and self.quantity >= self.item.target


@dataclass(frozen=True)
class CategoryScore:
    key: str
    name: str
    max: Fraction
    earned: Fraction
    items: list[ItemScore]


@dataclass(frozen=True)
class MemberScore:
    categories: list[CategoryScore]
    total: Fraction
    grade: str
    fines: Fraction  # yuan
    commission: Fraction | None  # yuan, exact; None when no base is configured
    extra: dict = field(default_factory=dict)

    def category(self, key: str) -> CategoryScore:
        return next(c for c in self.categories if c.key == key)

    def item(self, key: str) -> ItemScore:
        return next(i for c in self.categories for i in c.items if i.item.key == key)


def clamp(x: Fraction, low: Fraction, high: Fraction) -> Fraction:
    return max(low, min(high, x))


def score_member(
    rubric: Rubric,
    tallies: Mapping[str, Tally],
    fines: Fraction | Decimal | int = 0,
    commission_base: Decimal | None = None,
) -> MemberScore:
    """Score one member for one month.

    - deduction category = max + Σ points × quantity (points < 0 deduct, > 0 are bonuses),
      clamped to [0, max];
    - attainment category = Σ weight × min(1, done / target), clamped to [0, max];
    - total = Σ categories; commission = base × total / 100 − fines, never below 0.
    Tallies of items the rubric does not know are ignored.
    """
    categories = []
    for cat in rubric.categories:
        items = []
        for item in rubric.items_of(cat.key):
            t = tallies.get(item.key, Tally())
            if cat.kind == "deduction":
                pts = Fraction(item.points) * t.quantity
            else:
                pts = Fraction(item.weight) * min(Fraction(1), Fraction(t.quantity, item.target))
            items.append(ItemScore(item, t.quantity, t.entries, pts))
        cmax = Fraction(cat.max)
        raw = (cmax if cat.kind == "deduction" else Fraction(0)) + sum(i.points for i in items)
        categories.append(CategoryScore(cat.key, cat.name, cmax, clamp(raw, 0, cmax), items))
    total = clamp(sum((c.earned for c in categories), Fraction(0)), Fraction(0), Fraction(100))
    fines = Fraction(fines)
    commission = None
    if commission_base is not None:
        commission = max(Fraction(0), Fraction(commission_base) * total / 100 - fines)
    return MemberScore(categories, total, rubric.grade(total), fines, commission)


def round_half_up(x: Fraction, places: int) -> Decimal:
    scale = 10**places
    n = math.floor(x * scale + Fraction(1, 2))
    return (Decimal(n) / scale).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def fmt_total(x: Fraction) -> str:
    """A total as users see it: half up, one decimal (87.25 → 87.3)."""
    return str(round_half_up(x, 1))


def fmt_points(x: Fraction) -> str:
    """Category points: one decimal, without a trailing .0 (44, 7.3)."""
    s = fmt_total(x)
    return s[:-2] if s.endswith(".0") else s


def fmt_signed(x: Fraction) -> str:
    return ("+" if x > 0 else "−" if x < 0 else "") + fmt_points(abs(x))


def fmt_money(x: Fraction | Decimal) -> str:
    return f"¥{round_half_up(Fraction(x), 2)}"


def money(x: Fraction | Decimal) -> Decimal:
    return round_half_up(Fraction(x), 2)
