"""The rubric file (SPEC §1): the default encodes the scorecard, every invalid file is refused
with a message naming the file, the item and the problem, and the version is stable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.commands import RESERVED
from models.rubric import DEFAULT_RUBRIC_PATH, RubricError, load_rubric, parse_rubric

DEFAULT_TEXT = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")


def edited(*changes: tuple[str, str]) -> str:
    """The default rubric text with each `old` (which must occur exactly once) replaced."""
    text = DEFAULT_TEXT
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def refusal(tmp_path: Path, text: str, reserved: set[str] = frozenset()) -> str:
    """Load `text` from a file named company.toml and return the refusal message."""
    path = tmp_path / "company.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RubricError) as caught:
        load_rubric(path, reserved=reserved)
    message = str(caught.value)
    assert str(path) in message
    return message


# ---- the default rubric ---------------------------------------------------------------


def test_default_rubric_loads_with_the_bots_reserved_commands():
    rubric = load_rubric(reserved=set(RESERVED))
    assert rubric.source == str(DEFAULT_RUBRIC_PATH)


def test_default_rubric_has_the_four_categories_of_the_scorecard():
    rubric = load_rubric()
    assert [(c.key, c.max, c.kind) for c in rubric.categories] == [
        ("hr", 10, "deduction"),
        ("business", 50, "deduction"),
        ("orders", 30, "deduction"),
        ("promotion", 10, "attainment"),
    ]
    assert [(g.name, g.min) for g in rubric.grades] == [("A", 90), ("B", 80), ("C", 60), ("D", 0)]


def test_default_rubric_has_the_deductions_and_bonus_of_spec_section_1():
    rubric = load_rubric()
    points = {i.key: i.points for i in rubric.items if i.points is not None}
    assert points == {
        "late": -1,
        "early_leave": -1,
        "leave": Decimal("-0.5"),
        "conduct": -2,
        "execution": -2,
        "training_absent": -1,
        "training_lecturer": 1,
        "polite": -2,
        "script": -2,
        "response": -2,
        "followup": -2,
        "customer_info": -2,
        "target_missed": -5,
        "complaint": -3,
        "severe_complaint": -3,
        "order_submit": -2,
        "order_process": -2,
        "order_check": -2,
        "order_feedback": -2,
        "order_dispute": -3,
        "order_complete": -2,
    }
    assert [i.key for i in rubric.items if i.fine] == ["severe_complaint"]
    assert rubric.item("training_lecturer").is_bonus
    assert not rubric.item("late").is_bonus


def test_default_rubric_has_the_five_promotion_channels_with_targets_weights_and_evidence():
    rubric = load_rubric()
    channels = [(i.key, i.target, i.weight, i.evidence) for i in rubric.items_of("promotion")]
    assert channels == [
        ("article", 8, 2, "link"),
        ("paid_article", 2, 2, "link"),
        ("media", 8, 2, "link"),
        ("friends", 60, 2, "count"),
        ("moments", 20, 2, "none"),
    ]
    assert {i.key for i in rubric.self_items()} == {c[0] for c in channels}
    assert rubric.item("friends").max_quantity == 500


@pytest.mark.parametrize(
    ("word", "key"),
    [
        ("late", "late"),
        ("迟到", "late"),
        ("软文", "article"),
        ("Article", "article"),
        ("自建渠道软文", "article"),
        ("dispute", "order_dispute"),
        ("严重投诉", "severe_complaint"),
    ],
)
def test_an_item_is_found_by_key_name_short_name_or_command(word, key):
    assert load_rubric().find_item(word).key == key


def test_default_rubric_version_is_stable_across_two_loads():
    assert load_rubric().version == load_rubric().version
    assert len(load_rubric().version) == 16


def test_changing_one_number_changes_the_version():
    default = load_rubric().version
    changed = parse_rubric(
        edited(
            (
                'target = 8\nweight = 2\nevidence = "link"\ncommands = ["软文"',
                'target = 9\nweight = 2\nevidence = "link"\ncommands = ["软文"',
            )
        )
    )
    assert changed.item("article").target == 9
    assert changed.version != default


def test_editing_only_comments_or_the_file_name_keeps_the_version():
    default = load_rubric().version
    text = "# 本公司 2026 版\n" + DEFAULT_TEXT
    assert parse_rubric(text, "elsewhere.toml").version == default


def test_unreadable_rubric_file_is_refused_naming_the_file(tmp_path: Path):
    path = tmp_path / "missing.toml"
    with pytest.raises(RubricError, match="无法读取") as caught:
        load_rubric(path)
    assert str(path) in str(caught.value)


# ---- invalid files: one test per rule -------------------------------------------------


def test_item_in_an_unknown_category_is_refused(tmp_path: Path):
    text = edited(('name = "迟到"\ncategory = "hr"', 'name = "迟到"\ncategory = "hrr"'))
    message = refusal(tmp_path, text)
    assert "项目 late：未知分类 hrr（可用：business、hr、orders、promotion）" in message


def test_duplicate_item_key_is_refused(tmp_path: Path):
    text = edited(('key = "early_leave"', 'key = "late"'))
    assert "项目 late：key 重复" in refusal(tmp_path, text)


def test_duplicate_category_key_is_refused(tmp_path: Path):
    text = edited(('key = "orders"\nname = "订单绩效"', 'key = "business"\nname = "订单绩效"'))
    assert "分类 business：key 重复" in refusal(tmp_path, text)


def test_duplicate_command_alias_is_refused_naming_both_items(tmp_path: Path):
    text = edited(('commands = ["早退", "early"]', 'commands = ["早退", "Late"]'))
    assert "项目 early_leave：命令 Late 与项目 late 重复" in refusal(tmp_path, text)


def test_command_colliding_with_a_builtin_command_is_refused(tmp_path: Path):
    text = edited(('commands = ["迟到", "late"]', 'commands = ["迟到", "late", "Rank"]'))
    message = refusal(tmp_path, text, reserved=set(RESERVED))
    assert "项目 late：命令 Rank 与内置命令重名" in message


@pytest.mark.parametrize("cmd", ["", "迟 到", "/迟到"])
def test_empty_spaced_or_slashed_command_is_refused(tmp_path: Path, cmd: str):
    text = edited(('commands = ["迟到", "late"]', f'commands = ["{cmd}", "late"]'))
    assert f"项目 late：命令 {cmd!r} 不能为空、含空格或以 / 开头" in refusal(tmp_path, text)


@pytest.mark.parametrize("target", [-8, 0])
def test_non_positive_target_is_refused(tmp_path: Path, target: int):
    text = edited(("target = 60", f"target = {target}"))
    assert f"项目 friends：target 必须是正数（现在是 {target}）" in refusal(tmp_path, text)


def test_non_positive_weight_is_refused(tmp_path: Path):
    text = edited(("target = 60\nweight = 2", "target = 60\nweight = 0"))
    assert "项目 friends：weight 必须是正数（现在是 0）" in refusal(tmp_path, text)


def test_weights_above_the_category_max_are_refused(tmp_path: Path):
    text = edited(("target = 60\nweight = 2", "target = 60\nweight = 3"))
    assert "分类 promotion：各项目 weight 之和 11 超过分类满分 10" in refusal(tmp_path, text)


def test_grade_bands_out_of_order_are_refused(tmp_path: Path):
    text = edited(('name = "B"\nmin = 80', 'name = "B"\nmin = 95'))
    assert "grades：等级必须按分数线从高到低排列，且分数线不能重复" in refusal(tmp_path, text)


def test_grade_bands_with_a_repeated_minimum_are_refused(tmp_path: Path):
    text = edited(('name = "C"\nmin = 60', 'name = "C"\nmin = 80'))
    assert "grades：等级必须按分数线从高到低排列，且分数线不能重复" in refusal(tmp_path, text)


def test_lowest_grade_not_starting_at_zero_is_refused(tmp_path: Path):
    text = edited(('name = "D"\nmin = 0', 'name = "D"\nmin = 10'))
    assert "等级 D：最低一档的分数线必须是 0" in refusal(tmp_path, text)


def test_grade_above_100_is_refused(tmp_path: Path):
    text = edited(('name = "A"\nmin = 90', 'name = "A"\nmin = 101'))
    assert "等级 A：分数线不能超过 100" in refusal(tmp_path, text)


def test_categories_not_summing_to_100_are_refused(tmp_path: Path):
    text = edited(('name = "人事考核"\nmax = 10', 'name = "人事考核"\nmax = 20'))
    assert "categories：各分类满分之和必须是 100（现在是 110）" in refusal(tmp_path, text)


def test_category_with_non_positive_max_is_refused(tmp_path: Path):
    text = edited(('name = "人事考核"\nmax = 10', 'name = "人事考核"\nmax = 0'))
    assert "分类 hr：满分必须大于 0（现在是 0）" in refusal(tmp_path, text)


@pytest.mark.parametrize("points_line", ["", "points = 0\n"])
def test_deduction_item_without_points_is_refused(tmp_path: Path, points_line: str):
    text = edited(
        (
            'category = "hr"\npoints = -1\ncommands = ["迟到"',
            f'category = "hr"\n{points_line}commands = ["迟到"',
        )
    )
    message = refusal(tmp_path, text)
    assert "项目 late：扣分类项目必须有非 0 的 points（负数扣分，正数加分）" in message


def test_deduction_item_with_a_target_is_refused(tmp_path: Path):
    text = edited(("points = -5\n", "points = -5\ntarget = 3\n"))
    assert "项目 target_missed：扣分类项目不能有 target / weight" in refusal(tmp_path, text)


def test_deduction_item_logged_by_the_agent_is_refused(tmp_path: Path):
    text = edited(("points = -5\n", 'points = -5\nby = "self"\n'))
    message = refusal(tmp_path, text)
    assert "项目 target_missed：扣分类项目只能由主管登记（by = supervisor）" in message


def test_attainment_item_with_points_is_refused(tmp_path: Path):
    text = edited(("target = 60\nweight = 2", "target = 60\nweight = 2\npoints = 1"))
    assert "项目 friends：完成度类项目不能有 points" in refusal(tmp_path, text)


def test_attainment_item_without_a_target_is_refused(tmp_path: Path):
    text = edited(("target = 60\n", ""))
    assert "项目 friends：完成度类项目必须有 target 和 weight" in refusal(tmp_path, text)


def test_attainment_item_with_a_fine_is_refused(tmp_path: Path):
    text = edited(("target = 60\n", "target = 60\nfine = true\n"))
    assert "项目 friends：完成度类项目不能带罚款" in refusal(tmp_path, text)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("min_quantity = 0", "min_quantity 至少为 1"),
        ("daily_cap_units = 0", "每日上限必须是正整数"),
    ],
)
def test_bad_quantity_limits_are_refused(tmp_path: Path, line: str, problem: str):
    text = edited(("daily_cap_units = 1000", line))
    assert f"项目 friends：{problem}" in refusal(tmp_path, text)


def test_max_quantity_below_min_quantity_is_refused(tmp_path: Path):
    text = edited(("max_quantity = 500", "max_quantity = 5\nmin_quantity = 10"))
    assert "项目 friends：max_quantity 不能小于 min_quantity" in refusal(tmp_path, text)


def test_bad_toml_syntax_is_refused_with_the_line(tmp_path: Path):
    text = edited(('name = "迟到"', 'name = "迟到'))
    message = refusal(tmp_path, text)
    assert "不是有效的 TOML" in message
    line = DEFAULT_TEXT[: DEFAULT_TEXT.index('name = "迟到"')].count("\n") + 1
    assert f"（第 {line} 行第 " in message  # said in Chinese, with where
    assert "line" not in message
    assert "Expected" not in message


def test_unknown_item_field_is_refused_naming_the_item_and_the_field(tmp_path: Path):
    text = edited(('name = "迟到"\n', 'name = "迟到"\ncolour = "red"\n'))
    message = refusal(tmp_path, text)
    assert "：项目 late 的 colour：" in message
    assert "未知字段" in message


def test_unknown_top_level_field_is_refused_naming_the_field(tmp_path: Path):
    message = refusal(tmp_path, 'nmae = "x"\n' + DEFAULT_TEXT)
    assert "：nmae：" in message


def test_wrong_kind_of_category_is_refused_naming_the_category(tmp_path: Path):
    text = edited(('kind = "attainment"', 'kind = "earned"'))
    assert "：分类 promotion 的 kind：" in refusal(tmp_path, text)


def test_grade_without_a_minimum_is_refused_naming_the_grade(tmp_path: Path):
    text = edited(('name = "B"\nmin = 80\n', 'name = "B"\n'))
    assert "：等级 B 的 min：" in refusal(tmp_path, text)


def test_parse_rubric_names_the_source_it_was_given():
    with pytest.raises(RubricError, match=r"^考核表 #2026-10 结算快照：categories"):
        parse_rubric(edited(("max = 50", "max = 49")), "#2026-10 结算快照")


def test_command_equal_to_another_items_name_is_refused(tmp_path: Path):
    """`/早退` as a command of `late` would make `早退` name two items."""
    text = edited(('commands = ["迟到", "late"]', 'commands = ["迟到", "late", "早退x"]'))
    text = text.replace('name = "早退"', 'name = "早退x"')
    message = refusal(tmp_path, text)
    assert "项目 late" in message
    assert "命令 早退x 与项目 early_leave 的 key 或名称相同" in message
