"""The rubric: the scorecard as data (SPEC §1).

A rubric is a TOML file of categories, items and grade bands. It is loaded once, validated
with messages a boss can act on (each names the file, the item and the problem), and given
a stable version hash so that a settled month keeps the exact rubric it was scored with.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import sys
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_RUBRIC_PATH = Path(__file__).with_name("rubric.toml")


class RubricError(ValueError):
    """An invalid rubric file; the message names the file, the item and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Category(_Strict):
    key: str
    name: str
    max: Decimal
    kind: Literal["deduction", "attainment"]


class Item(_Strict):
    key: str
    name: str
    category: str
    short: str | None = None
    unit: str = "次"
    by: Literal["self", "supervisor"] | None = None
    points: Decimal | None = None
    target: int | None = None
    weight: Decimal | None = None
    evidence: Literal["link", "count", "none"] = "none"
    fine: bool = False
    commands: tuple[str, ...] = ()
    min_quantity: int = 1
    max_quantity: int | None = None
    daily_cap: int | None = None
    daily_cap_units: int | None = None
    count_as: str | None = None  # a label counted in the monthly totals (`客户投诉`)
    step: Decimal | None = None  # 0.5: a supervisor may log halves (`半天`, SPEC §3)

    @property
    def label(self) -> str:
        """The short name used in progress lines (`还差 3 篇软文`)."""
        return self.short or self.name

    @property
    def is_bonus(self) -> bool:
        return self.points is not None and self.points > 0


class Grade(_Strict):
    name: str
    min: Decimal


class Limits(_Strict):
    supervisor_max_quantity: int = 100
    fine_max: Decimal = Decimal(100000)


class Rubric(_Strict):
    name: str = "考核表"
    limits: Limits = Field(default_factory=Limits)
    grades: tuple[Grade, ...]
    categories: tuple[Category, ...]
    items: tuple[Item, ...]
    source: str = Field(default="", exclude=True)
    text: str = Field(default="", exclude=True)

    # ---- lookups -------------------------------------------------------------------------

    def category(self, key: str) -> Category:
        return next(c for c in self.categories if c.key == key)

    def item(self, key: str) -> Item | None:
        return next((i for i in self.items if i.key == key), None)

    def items_of(self, category_key: str) -> list[Item]:
        return [i for i in self.items if i.category == category_key]

    def who_logs(self, item: Item) -> Literal["self", "supervisor"]:
        if item.by:
            return item.by
        return "self" if self.category(item.category).kind == "attainment" else "supervisor"

    def self_items(self) -> list[Item]:
        return [i for i in self.items if self.who_logs(i) == "self"]

    def supervisor_items(self) -> list[Item]:
        return [i for i in self.items if self.who_logs(i) == "supervisor"]

    def find_item(self, word: str, among: list[Item] | None = None) -> Item | None:
        """An item named by its key, Chinese name, short name or any of its commands."""
        word = word.strip().lower()
        for item in self.items if among is None else among:
            names = {item.key, item.name, item.short or "", *item.commands}
            if word in {n.lower() for n in names if n}:
                return item
        return None

    def grade(self, total: object) -> str:
        for band in self.grades:
            if total >= band.min:  # type: ignore[operator]
                return band.name
        return self.grades[-1].name

    @cached_property
    def version(self) -> str:
        """A stable hash of the normalised content: same rules, same version."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# tomllib's messages (Python 3.11–3.13) by their start, in words a boss reads
_TOML_WORDS = (
    ("Expected '=' after a key", "键后面缺少“=”"),
    ("Expected newline or end of document", "一行只能写一项，后面多了内容"),
    ("Expected ']]'", "缺少“]]”"),
    ("Expected ']'", "缺少“]”"),
    ("Expected", "缺少符号"),
    ("Invalid initial character for a key", "键的开头有不允许的字符"),
    ("Invalid statement", "这一行不是“键 = 值”或 [表名]"),
    ("Invalid value", "值的写法不对（文字要加英文双引号）"),
    ("Invalid date", "日期写法不对"),
    ("Invalid hex value", "转义字符写法不对"),
    ("Unterminated string", "引号没有闭合"),
    ("Unclosed array", "方括号 [ ] 没有闭合"),
    ("Unclosed inline table", "花括号 { } 没有闭合"),
    ("Unescaped '\\'", "反斜杠 \\ 要写成 \\\\"),
    ("Escaped character", "转义字符写法不对"),
    ("Illegal character '\\n'", "引号在这一行里没有闭合"),
    ("Illegal character", "有不允许的字符"),
    ("Found invalid character", "有不允许的字符"),
    ("Cannot declare", "同一个表写了两次"),
    ("Cannot overwrite", "同一个键写了两次"),
    ("Duplicate inline table key", "同一个键写了两次"),
    ("Cannot mutate", "不能在这里再给这个表加内容"),
    ("Cannot redefine", "不能在这里再给这个表加内容"),
)
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")


def toml_error_words(e: Exception) -> str:
    """A TOML syntax error in Chinese, with its line and column: `（第 3 行第 5 列）：键后面
    缺少“=”`; a message not known here says 写法不对."""
    text = str(e)
    what = next((zh for en, zh in _TOML_WORDS if text.startswith(en)), "写法不对")
    at = _TOML_AT.search(text)
    if at is None:
        return f"：{what}"
    where = f"第 {at.group(1)} 行第 {at.group(2)} 列" if at.group(1) else "文件末尾"
    return f"（{where}）：{what}"


def parse_rubric(text: str, source: str = "<rubric>", reserved: set[str] = frozenset()) -> Rubric:
    """Parse and validate a rubric. `reserved` are command names the bot already uses."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as e:
        raise RubricError(f"考核表 {source} 不是有效的 TOML{toml_error_words(e)}") from e
    try:
        rubric = Rubric.model_validate({**data, "source": source, "text": text})
    except ValidationError as e:
        raise RubricError(_explain(source, data, e)) from e
    _check(rubric, reserved)
    return rubric


def load_rubric(path: str | Path | None = None, reserved: set[str] = frozenset()) -> Rubric:
    path = Path(path) if path else DEFAULT_RUBRIC_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RubricError(f"考核表 {path} 无法读取：{e.strerror or e}") from e
    return parse_rubric(text, str(path), reserved)


_SECTION_NAMES = {"items": "项目", "categories": "分类", "grades": "等级"}


def _problem(err: dict) -> str:
    """A pydantic error in words a boss can act on."""
    kind = err["type"]
    if kind == "missing":
        return "缺少必填字段"
    if kind == "extra_forbidden":
        return "未知字段（拼写错了？）"
    if kind == "literal_error":
        return f"取值无效，只能是 {err.get('ctx', {}).get('expected', '')}"
    if kind.startswith(("int_", "decimal_", "float_")):
        return f"必须是数字（现在是 {err.get('input')!r}）"
    if kind.startswith("bool_"):
        return "必须是 true 或 false"
    if kind.startswith(("string_", "tuple_", "list_")):
        return f"格式不对：{err['msg']}"
    return err["msg"]


def _explain(source: str, data: dict, error: ValidationError) -> str:
    lines = []
    for err in error.errors():
        loc = err["loc"]
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] in ("items", "categories", "grades"):
            try:
                entry = data[loc[0]][loc[1]]
                where = (
                    f"{_SECTION_NAMES[loc[0]]} {entry.get('key') or entry.get('name') or loc[1]}"
                )
                if len(loc) > 2:
                    where += f" 的 {loc[2]}"
            except (KeyError, IndexError, TypeError, AttributeError):
                pass
        lines.append(f"考核表 {source}：{where}：{_problem(err)}")
    return "\n".join(lines)


def _check(r: Rubric, reserved: set[str]) -> None:
    def fail(where: str, problem: str) -> None:
        raise RubricError(f"考核表 {r.source}：{where}：{problem}")

    if not r.categories:
        fail("categories", "至少需要一个分类")
    seen_cat: set[str] = set()
    for c in r.categories:
        if c.key in seen_cat:
            fail(f"分类 {c.key}", "key 重复")
        seen_cat.add(c.key)
        if c.max <= 0:
            fail(f"分类 {c.key}", f"满分必须大于 0（现在是 {c.max}）")
    total_max = sum(c.max for c in r.categories)
    if total_max != 100:
        fail("categories", f"各分类满分之和必须是 100（现在是 {total_max}）")

    seen_key: set[str] = set()
    seen_cmd: dict[str, str] = {}
    for it in r.items:
        where = f"项目 {it.key}"
        if it.key in seen_key:
            fail(where, "key 重复")
        seen_key.add(it.key)
        if it.category not in seen_cat:
            fail(where, f"未知分类 {it.category}（可用：{'、'.join(sorted(seen_cat))}）")
        kind = r.category(it.category).kind
        if kind == "deduction":
            if it.points is None or it.points == 0:
                fail(where, "扣分类项目必须有非 0 的 points（负数扣分，正数加分）")
            if it.target is not None or it.weight is not None:
                fail(where, "扣分类项目不能有 target / weight")
            if it.by == "self":
                fail(where, "扣分类项目只能由主管登记（by = supervisor）")
        else:
            if it.target is None or it.weight is None:
                fail(where, "完成度类项目必须有 target 和 weight")
            if it.target <= 0:
                fail(where, f"target 必须是正数（现在是 {it.target}）")
            if it.weight <= 0:
                fail(where, f"weight 必须是正数（现在是 {it.weight}）")
            if it.points is not None:
                fail(where, "完成度类项目不能有 points")
            if it.fine:
                fail(where, "完成度类项目不能带罚款")
        if it.step is not None and it.step not in (Decimal("0.5"), Decimal(1)):
            fail(where, f"step 只能是 0.5 或 1（现在是 {it.step}）")
        if it.step is not None and kind != "deduction":
            fail(where, "只有主管登记的扣分类项目可以设 step")
        if it.min_quantity < 1:
            fail(where, "min_quantity 至少为 1")
        if it.max_quantity is not None and it.max_quantity < it.min_quantity:
            fail(where, "max_quantity 不能小于 min_quantity")
        for cap in (it.daily_cap, it.daily_cap_units):
            if cap is not None and cap < 1:
                fail(where, "每日上限必须是正整数")
        for cmd in it.commands:
            if not cmd or any(ch.isspace() for ch in cmd) or cmd.startswith("/"):
                fail(where, f"命令 {cmd!r} 不能为空、含空格或以 / 开头")
            low = cmd.lower()
            if low in seen_cmd:
                fail(where, f"命令 {cmd} 与项目 {seen_cmd[low]} 重复")
            if low in reserved:
                fail(where, f"命令 {cmd} 与内置命令重名")
            seen_cmd[low] = it.key
    names = {n.lower(): i.key for i in r.items for n in (i.key, i.name, i.short) if n}
    for it in r.items:
        for cmd in it.commands:
            other = names.get(cmd.lower())
            if other is not None and other != it.key:
                fail(f"项目 {it.key}", f"命令 {cmd} 与项目 {other} 的 key 或名称相同")

    for c in r.categories:
        if c.kind == "attainment":
            weights = sum((i.weight or 0) for i in r.items_of(c.key))
            if weights > c.max:
                fail(f"分类 {c.key}", f"各项目 weight 之和 {weights} 超过分类满分 {c.max}")

    if not r.grades:
        fail("grades", "至少需要一个等级")
    mins = [g.min for g in r.grades]
    if any(a <= b for a, b in itertools.pairwise(mins)):
        fail("grades", "等级必须按分数线从高到低排列，且分数线不能重复")
    if mins[-1] != 0:
        fail(f"等级 {r.grades[-1].name}", "最低一档的分数线必须是 0")
    if mins[0] > 100:
        fail(f"等级 {r.grades[0].name}", "分数线不能超过 100")
