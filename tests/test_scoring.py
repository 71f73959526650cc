"""The scoring engine (SPEC §1 scoring rules), with hand-computed months and properties.

Pure domain tests: no NoneBot, no database. The default rubric is hr 10 + business 50 +
orders 30 (deductions from full) + promotion 10 (five channels of weight 2 each).
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.rubric import Rubric, load_rubric, parse_rubric
from models.scoring import (
    Tally,
    fmt_money,
    fmt_points,
    fmt_signed,
    fmt_total,
    money,
    round_half_up,
    score_member,
)
from tests.utils import company_rubric_text

RUBRIC = load_rubric()

# Every promotion target met: 2 × 5 = 10.
FULL_PROMOTION = {
    "article": Tally(8, 8),
    "paid_article": Tally(2, 2),
    "media": Tally(8, 8),
    "friends": Tally(60, 3),
    "moments": Tally(20, 20),
}


def earned(score, key: str) -> Fraction:
    return score.category(key).earned


# ---- hand-computed months -------------------------------------------------------------


def test_clean_month_with_every_target_met_scores_100_and_full_commission():
    """hr 10 + business 50 + orders 30 + promotion 2+2+2+2+2 = 100 → A;
    commission 3000 × 100/100 = 3000.00."""
    score = score_member(RUBRIC, FULL_PROMOTION, commission_base=Decimal(3000))
    assert [c.earned for c in score.categories] == [10, 50, 30, 10]
    assert score.total == 100
    assert score.grade == "A"
    assert score.commission == 3000
    assert fmt_money(score.commission) == "¥3000.00"


def test_month_with_no_entries_keeps_deductions_full_and_earns_no_promotion():
    """hr 10 + business 50 + orders 30 + promotion 0 = 90 → A (the band starts at 90)."""
    score = score_member(RUBRIC, {})
    assert score.total == 90
    assert earned(score, "promotion") == 0
    assert score.grade == "A"
    assert score.commission is None


def test_promotion_is_weight_times_attainment_kept_exact():
    """article 5/8 × 2 = 1.25; paid 1/2 × 2 = 1; media 8/8 × 2 = 2; friends 30/60 × 2 = 1;
    moments 0/20 × 2 = 0 → promotion 5.25 (exact 21/4), shown 5.3."""
    tallies = {
        "article": Tally(5, 5),
        "paid_article": Tally(1, 1),
        "media": Tally(8, 8),
        "friends": Tally(30, 2),
    }
    score = score_member(RUBRIC, tallies)
    assert score.item("article").points == Fraction(5, 4)
    assert score.item("paid_article").points == 1
    assert score.item("media").points == 2
    assert score.item("friends").points == 1
    assert score.item("moments").points == 0
    assert earned(score, "promotion") == Fraction(21, 4)
    assert fmt_points(earned(score, "promotion")) == "5.3"
    assert score.total == Fraction(9525, 100)


def test_promotion_item_over_target_counts_only_its_weight():
    """article 20/8 → min(1, 2.5) × 2 = 2 (not 5); friends 500/60 → 2; others 0 → promotion 4."""
    score = score_member(RUBRIC, {"article": Tally(20, 20), "friends": Tally(500, 1)})
    assert score.item("article").points == 2
    assert score.item("friends").points == 2
    assert earned(score, "promotion") == 4
    assert score.item("article").done


def test_hr_deductions_per_occurrence_and_per_day_of_leave():
    """hr 10 − late 2 × 1 − leave 3 days × 0.5 = 10 − 2 − 1.5 = 6.5."""
    score = score_member(RUBRIC, {"late": Tally(2, 2), "leave": Tally(3, 1)})
    assert score.item("late").points == -2
    assert score.item("leave").points == Fraction(-3, 2)
    assert earned(score, "hr") == Fraction(13, 2)
    assert fmt_points(earned(score, "hr")) == "6.5"


def test_business_and_orders_deductions_give_87_25_shown_87_3_and_commission_2617_50():
    """business 50 − complaint 1 × 3 = 47; orders 30 − order_check 2 − order_dispute 3 = 25;
    promotion: article 5/8 × 2 = 1.25 + paid 2/2 × 2 = 2 + media 8/8 × 2 = 2 = 5.25;
    total 10 + 47 + 25 + 5.25 = 87.25 → shown 87.3, grade B;
    commission from the exact total: 3000 × 87.25 / 100 = 2617.50 (not 3000 × 87.3 = 2619)."""
    tallies = {
        "complaint": Tally(1, 1),
        "order_check": Tally(1, 1),
        "order_dispute": Tally(1, 1),
        "article": Tally(5, 5),
        "paid_article": Tally(2, 2),
        "media": Tally(8, 8),
    }
    score = score_member(RUBRIC, tallies, commission_base=Decimal(3000))
    assert earned(score, "business") == 47
    assert earned(score, "orders") == 25
    assert earned(score, "promotion") == Fraction(21, 4)
    assert score.total == Fraction(8725, 100)
    assert fmt_total(score.total) == "87.3"
    assert score.grade == "B"
    assert score.commission == Fraction(5235, 2)
    assert money(score.commission) == Decimal("2617.50")
    assert fmt_money(score.commission) == "¥2617.50"


def test_deduction_category_clamps_at_zero_and_does_not_eat_other_categories():
    """business 50 − target_missed 5 × 5 − complaint 10 × 3 = 50 − 25 − 30 = −5 → 0;
    total = hr 10 + business 0 + orders 30 + promotion 0 = 40 → D."""
    score = score_member(RUBRIC, {"target_missed": Tally(5, 5), "complaint": Tally(10, 10)})
    assert earned(score, "business") == 0
    assert score.total == 40
    assert score.grade == "D"


def test_bonus_when_hr_is_already_full_stays_at_the_maximum():
    """hr 10 + training_lecturer 1 × (+1) = 11 → clamped to 10; total 90."""
    score = score_member(RUBRIC, {"training_lecturer": Tally(1, 1)})
    assert score.item("training_lecturer").points == 1
    assert earned(score, "hr") == 10
    assert score.total == 90


def test_bonus_offsets_a_deduction_in_the_same_category():
    """hr 10 − late 2 × 1 + training_lecturer 1 × 1 = 9."""
    score = score_member(RUBRIC, {"late": Tally(2, 2), "training_lecturer": Tally(1, 1)})
    assert earned(score, "hr") == 9


def test_bonus_is_added_before_clamping_so_it_cannot_lift_a_category_above_zero_early():
    """hr 10 − late 12 × 1 + lecturer 1 = −1 → 0 (clamp after the sum, not 0 + 1 = 1)."""
    score = score_member(RUBRIC, {"late": Tally(12, 12), "training_lecturer": Tally(1, 1)})
    assert earned(score, "hr") == 0


def test_fine_is_subtracted_from_commission():
    """business 50 − severe_complaint 3 = 47; total 10 + 47 + 30 + 0 = 87;
    commission 3000 × 87/100 − fine 200 = 2610 − 200 = 2410.00."""
    score = score_member(
        RUBRIC, {"severe_complaint": Tally(1, 1)}, fines=Decimal(200), commission_base=Decimal(3000)
    )
    assert score.total == 87
    assert score.fines == 200
    assert fmt_money(score.commission) == "¥2410.00"


def test_fine_larger_than_commission_leaves_commission_at_zero_not_negative():
    """total 87 as above; 3000 × 87/100 − fine 5000 = 2610 − 5000 = −2390 → 0."""
    score = score_member(
        RUBRIC, {"severe_complaint": Tally(1, 1)}, fines=5000, commission_base=Decimal(3000)
    )
    assert score.commission == 0
    assert fmt_money(score.commission) == "¥0.00"
    assert score.total == 87


def test_commission_is_none_without_a_base_even_with_fines():
    """No base configured → no commission, fines still reported."""
    score = score_member(RUBRIC, {"severe_complaint": Tally(1, 1)}, fines=Decimal("99.5"))
    assert score.commission is None
    assert score.fines == Fraction(199, 2)


def test_revoked_entry_excluded_from_tallies_restores_the_earlier_score():
    """Two complaints: business 50 − 2 × 3 = 44, total 84 (B). One is revoked, so the tally
    holds one: business 50 − 3 = 47, total 87 — exactly the score before the second one."""
    before_second = score_member(RUBRIC, {"complaint": Tally(1, 1)})
    with_both = score_member(RUBRIC, {"complaint": Tally(2, 2)})
    after_revoke = score_member(RUBRIC, {"complaint": Tally(1, 1)})
    assert earned(with_both, "business") == 44
    assert with_both.total == 84
    assert after_revoke.total == before_second.total == 87
    assert after_revoke == before_second


def test_revoking_a_self_report_takes_its_progress_back():
    """article 8/8 × 2 = 2; one of the eight revoked → 7/8 × 2 = 1.75; total 90 + 1.75 = 91.75
    → shown 91.8."""
    score = score_member(RUBRIC, {"article": Tally(7, 7)})
    assert score.item("article").points == Fraction(7, 4)
    assert not score.item("article").done
    assert fmt_total(score.total) == "91.8"


def test_member_who_joined_mid_month_is_scored_by_the_same_rules_without_proration():
    """Joined on the 20th: article 3/8 × 2 = 0.75; friends 20/60 × 2 = 2/3;
    promotion 3/4 + 2/3 = 17/12 ≈ 1.4167; total 90 + 17/12 = 1097/12 ≈ 91.4167 → 91.4, A;
    commission 1000 × 1097/12 / 100 = 914.1666… → ¥914.17."""
    score = score_member(
        RUBRIC, {"article": Tally(3, 3), "friends": Tally(20, 1)}, commission_base=Decimal(1000)
    )
    assert earned(score, "promotion") == Fraction(17, 12)
    assert score.total == Fraction(1097, 12)
    assert fmt_total(score.total) == "91.4"
    assert score.grade == "A"
    assert fmt_money(score.commission) == "¥914.17"


def test_tallies_of_items_not_in_the_rubric_are_ignored():
    """An item removed from the rubric still in the database counts for nothing: total 90."""
    assert score_member(RUBRIC, {"no_such_item": Tally(50, 50)}).total == 90


def sixth_channel_rubric() -> Rubric:
    """The default rubric with a sixth promotion channel `video` (target 4, weight 1) whose
    weight comes from moments (2 → 1): weights 2 + 2 + 2 + 2 + 1 + 1 = 10."""
    return parse_rubric(company_rubric_text(), "company.toml")


def test_company_rubric_with_a_sixth_promotion_channel_scores_it_by_its_weight():
    """article 2 + paid 2 + media 2 + friends 2 (all met) + moments 20/20 × 1 = 1
    + video 2/4 × 1 = 0.5 → promotion 9.5; total 90 + 9.5 = 99.5 → A."""
    rubric = sixth_channel_rubric()
    assert [i.key for i in rubric.items_of("promotion")][-1] == "video"
    assert rubric.find_item("短视频").key == "video"
    assert rubric.who_logs(rubric.item("video")) == "self"
    score = score_member(rubric, {**FULL_PROMOTION, "video": Tally(2, 2)})
    assert score.item("moments").points == 1
    assert score.item("video").points == Fraction(1, 2)
    assert earned(score, "promotion") == Fraction(19, 2)
    assert score.total == Fraction(199, 2)


def test_company_rubric_with_a_sixth_channel_still_caps_promotion_at_10():
    """Everything met including video 9/4 → 2+2+2+2+1+1 = 10."""
    rubric = sixth_channel_rubric()
    score = score_member(rubric, {**FULL_PROMOTION, "video": Tally(9, 9)})
    assert earned(score, "promotion") == 10
    assert score.total == 100


@pytest.mark.parametrize(
    ("total", "grade"),
    [
        (Fraction(100), "A"),
        (Fraction(90), "A"),
        (Fraction(8999, 100), "B"),
        (Fraction(80), "B"),
        (Fraction(7999, 100), "C"),
        (Fraction(60), "C"),
        (Fraction(5999, 100), "D"),
        (Fraction(0), "D"),
    ],
)
def test_grade_band_starts_at_its_minimum_inclusive(total, grade):
    """A ≥ 90, B ≥ 80, C ≥ 60, D below; a band's minimum belongs to it."""
    assert RUBRIC.grade(total) == grade


# ---- display rounding -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        (Fraction(8725, 100), "87.3"),
        (Fraction(1, 4), "0.3"),
        (Fraction(1, 20), "0.1"),
        (Fraction(8724, 100), "87.2"),
        (Fraction(87), "87.0"),
        (Fraction(0), "0.0"),
        (Fraction(100), "100.0"),
        (Fraction(1097, 12), "91.4"),
    ],
)
def test_total_display_rounds_half_up_to_one_decimal(exact, shown):
    """87.25 → 87.3 and 0.25 → 0.3 (half up, not banker's rounding); 0.05 → 0.1."""
    assert fmt_total(exact) == shown


@pytest.mark.parametrize(
    ("exact", "shown"),
    [(Fraction(44), "44"), (Fraction(73, 10), "7.3"), (Fraction(21, 4), "5.3"), (0, "0")],
)
def test_category_points_show_one_decimal_without_trailing_zero(exact, shown):
    assert fmt_points(Fraction(exact)) == shown


def test_signed_points_use_a_real_minus_sign_and_plus_for_bonuses():
    assert fmt_signed(Fraction(-3)) == "−3"
    assert fmt_signed(Fraction(-1, 2)) == "−0.5"
    assert fmt_signed(Fraction(1)) == "+1"
    assert fmt_signed(Fraction(0)) == "0"


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        (Fraction(5235, 2), "¥2617.50"),
        (Fraction(2675, 1000), "¥2.68"),
        (Fraction(1, 200), "¥0.01"),
        (Fraction(1, 201), "¥0.00"),
        (Decimal("1234.565"), "¥1234.57"),
        (Fraction(0), "¥0.00"),
    ],
)
def test_money_rounds_half_up_to_the_cent(exact, shown):
    """2.675 → 2.68 (float rounding would give 2.67); 0.005 → 0.01."""
    assert fmt_money(exact) == shown


def test_round_half_up_returns_a_decimal_with_exactly_the_requested_places():
    assert round_half_up(Fraction(1, 3), 2) == Decimal("0.33")
    assert str(round_half_up(Fraction(5), 2)) == "5.00"
    assert str(round_half_up(Fraction(2, 3), 0)) == "1"


# ---- properties -----------------------------------------------------------------------

ITEM_KEYS = [i.key for i in RUBRIC.items]
DEDUCTION_KEYS = [i.key for i in RUBRIC.items if i.points is not None and i.points < 0]
SELF_KEYS = [i.key for i in RUBRIC.self_items()]

tallies_st = st.dictionaries(
    st.sampled_from(ITEM_KEYS),
    st.integers(0, 300).map(lambda q: Tally(q, min(q, 1))),
)
entry_st = st.tuples(st.sampled_from(ITEM_KEYS), st.integers(1, 50))
entries_st = st.lists(entry_st, max_size=40)
money_st = st.decimals(0, 100_000, places=2, allow_nan=False, allow_infinity=False)


def tally(entries: list[tuple[str, int]]) -> dict[str, Tally]:
    """Tallies as the database builds them: per item, Σ quantity and the number of entries."""
    quantity: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for key, q in entries:
        quantity[key] += q
        count[key] += 1
    return {k: Tally(quantity[k], count[k]) for k in quantity}


@given(tallies_st, money_st, money_st)
def test_total_is_within_0_and_100_and_each_category_within_its_max(tallies, fines, base):
    score = score_member(RUBRIC, tallies, fines=fines, commission_base=base)
    assert 0 <= score.total <= 100
    for cat in score.categories:
        assert 0 <= cat.earned <= cat.max
    assert score.total == sum(c.earned for c in score.categories)
    assert 0 <= score.commission <= Fraction(base) * score.total / 100


@given(tallies_st, st.sampled_from(DEDUCTION_KEYS), st.integers(1, 100))
def test_adding_a_deduction_never_raises_any_score(tallies, key, times):
    before = score_member(RUBRIC, tallies)
    old = tallies.get(key, Tally())
    after = score_member(RUBRIC, {**tallies, key: Tally(old.quantity + times, old.entries + 1)})
    assert after.total <= before.total
    for b, a in zip(before.categories, after.categories, strict=True):
        assert a.earned <= b.earned


@given(tallies_st, st.sampled_from(SELF_KEYS), st.integers(1, 500))
def test_adding_a_self_report_never_lowers_any_score(tallies, key, quantity):
    before = score_member(RUBRIC, tallies)
    old = tallies.get(key, Tally())
    after = score_member(RUBRIC, {**tallies, key: Tally(old.quantity + quantity, old.entries + 1)})
    assert after.total >= before.total
    for b, a in zip(before.categories, after.categories, strict=True):
        assert a.earned >= b.earned


@given(entries_st, entry_st, st.data())
def test_revoking_an_entry_restores_the_score_exactly(entries, extra, data):
    before = score_member(RUBRIC, tally(entries))
    at = data.draw(st.integers(0, len(entries)), label="position of the revoked entry")
    logged = [*entries[:at], extra, *entries[at:]]
    revoked = logged[:at] + logged[at + 1 :]
    assert score_member(RUBRIC, tally(revoked)) == before


@settings(max_examples=200)
@given(entries_st, st.randoms(use_true_random=False))
def test_score_does_not_depend_on_the_order_of_entries(entries, rnd):
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    base = Decimal(3000)
    assert score_member(RUBRIC, tally(shuffled), commission_base=base) == score_member(
        RUBRIC, tally(entries), commission_base=base
    )


@given(st.fractions(min_value=0, max_value=100))
def test_displayed_total_is_within_half_a_tenth_of_the_exact_total(x):
    shown = Fraction(round_half_up(x, 1))
    assert -Fraction(1, 20) < shown - x <= Fraction(1, 20)


def test_a_settled_commission_is_stored_rounded_half_up_like_every_display():
    """¥4999 × 81.5 ÷ 100 = ¥4074.185: the preview shows ¥4074.19, so the stored cents of the
    settled month must be 407419, not round-half-even's 407418 (SPEC §1)."""
    from models.ledger import Ranked
    from models.roster import Agent
    from models.scoring import MemberScore, fmt_money
    from models.settlement import _settled_row

    commission = Fraction(4999) * Fraction(815, 10) / 100
    assert fmt_money(commission) == "¥4074.19"
    score = MemberScore([], Fraction(815, 10), "B", Fraction(0), commission)
    row = _settled_row(1, Ranked(1, Agent(1, "张三", "qq", "30001"), score))
    assert row["commission_cents"] == 407419
