"""Scoring: a rubric and a member's tallies in, exact scores out (SPEC §1 scoring rules).

Scores are exact fractions (5/8 × 2 = 5/4). Only display rounds: half up to one decimal for
points, half up to the cent for money. Commission uses the exact total.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from .rubric import Item, Rubric


@dataclass(frozen=True)
class Tally:
    """What a member logged for one item in a month (revoked entries excluded)."""

    quantity: int = 0
    entries: int = 0


@dataclass(slots=True)
class ItemScore:
    item: Item
    quantity: int
    entries: int
    scaled: int  # signed contribution × the category's scale, before clamping
    scale: int

    @property
    def points(self) -> Fraction:
        """Signed contribution before clamping of the category (exact)."""
        return Fraction(self.scaled, self.scale)

    @property
    def done(self) -> bool:
        return self.item.target is not None and self.quantity >= self.item.target


@dataclass(slots=True)
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


ZERO = Fraction(0)
HUNDRED = Fraction(100)


@dataclass(frozen=True)
class _ItemPlan:
    item: Item
    unit: int  # scaled points per unit: points × scale, or weight × scale / target
    cap: int | None  # attainment: weight × scale (reached at the target)


@dataclass(frozen=True)
class _CategoryPlan:
    key: str
    name: str
    max: Fraction
    deduction: bool
    scale: int  # every item's numbers are whole multiples of 1/scale
    items: list[_ItemPlan]


_plans: dict[str, list[_CategoryPlan]] = {}


def _plan(rubric: Rubric) -> list[_CategoryPlan]:
    """The rubric in exact integer units, computed once per rubric version.

    Each category gets a scale (the least common denominator of its points, weights / targets
    and max), so that scoring adds integers and divides once: exact, and fast enough to
    settle 10,000 agents.
    """
    plan = _plans.get(rubric.version)
    if plan is not None:
        return plan
    plan = []
    for cat in rubric.categories:
        deduction = cat.kind == "deduction"
        items = rubric.items_of(cat.key)
        raw = [Fraction(i.points) if deduction else Fraction(i.weight) / i.target for i in items]
        fracs = [*raw, Fraction(cat.max), *(Fraction(i.weight or 0) for i in items)]
        scale = math.lcm(*(f.denominator for f in fracs))
        plan.append(
            _CategoryPlan(
                cat.key,
                cat.name,
                Fraction(cat.max),
                deduction,
                scale,
                [
                    _ItemPlan(
                        i,
                        int(r * scale),
                        None if deduction else int(Fraction(i.weight) * scale),
                    )
                    for i, r in zip(items, raw, strict=True)
                ],
            )
        )
    _plans[rubric.version] = plan
    return plan


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
    for cat in _plan(rubric):
        items = []
        top = int(cat.max * cat.scale)
        raw = top if cat.deduction else 0
        for ip in cat.items:
            t = tallies.get(ip.item.key)
            quantity, entries = (t.quantity, t.entries) if t else (0, 0)
            pts = quantity * ip.unit
            if ip.cap is not None and pts > ip.cap:
                pts = ip.cap
            raw += pts
            items.append(ItemScore(ip.item, quantity, entries, pts, cat.scale))
        earned = Fraction(max(0, min(top, raw)), cat.scale)
        categories.append(CategoryScore(cat.key, cat.name, cat.max, earned, items))
    total = clamp(sum((c.earned for c in categories), ZERO), ZERO, HUNDRED)
    fines = Fraction(fines)
    commission = None
    if commission_base is not None:
        commission = max(ZERO, Fraction(commission_base) * total / 100 - fines)
    return MemberScore(categories, total, rubric.grade(total), fines, commission)


def round_half_up(x: Fraction, places: int) -> Decimal:
    """`x` rounded half up to `places` decimals, exactly: floor(x·10^places + 1/2), in
    integers (a display of 1,000 agents formats tens of thousands of these)."""
    if not isinstance(x, Fraction):
        x = Fraction(x)
    num, den = x.numerator * 10**places, x.denominator
    return Decimal((2 * num + den) // (2 * den)).scaleb(-places)


def round_signed(x: Fraction, places: int) -> Decimal:
    """A signed amount as chat shows it (`fmt_signed`): half up on its size, the sign kept
    (a half-day's −0.25 is −0.3, not −0.2)."""
    size = round_half_up(abs(Fraction(x)), places)
    return -size if x < 0 else size


def shown_total(x: Fraction) -> Decimal:
    """A total as ranked (SPEC §4 "equal shown totals share a rank"): what users see."""
    return round_half_up(x, 1)


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
