"""The ranking picture: a PNG of sensible size that grows with the team, or None without a
CJK font so that the caller falls back to text."""

from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot import render

HEADERS = ["名次", "姓名", "人事", "业务", "订单", "推广", "总分", "等级", "提成"]
LATIN_HEADERS = ["Rank", "Name", "HR", "Biz", "Orders", "Promo", "Total", "Grade", "Bonus"]


def agents(n: int, latin: bool = False) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        total = 100 - i * 1.5
        name = f"Agent {i}" if latin else f"客服{i:02d}号"
        grade = "A" if total >= 85 else "B" if total >= 70 else "C"
        row = [str(i), name, "10", str(50 - i), "30", "8.5", f"{total:g}", grade]
        rows.append([*row, f"¥{total * 10:,.2f}"])
    return rows


@pytest.fixture(scope="module")
def font_path(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bool]:
    """A CJK font when this machine has one, else Pillow's built-in Latin font as a file."""
    found = render.find_cjk_font()
    if found:
        return found, True
    path = tmp_path_factory.mktemp("font") / "latin.ttf"
    path.write_bytes(ImageFont.load_default(20).font_bytes)
    return str(path), False


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_ranking_of_thirty_agents_is_a_phone_sized_png(font_path: tuple[str, bool]) -> None:
    path, cjk = font_path
    headers = HEADERS if cjk else LATIN_HEADERS
    title = "客服一组 2026-11 月度绩效" if cjk else "Team 1 2026-11"
    footer = "本月记录 123 条 · 投诉 3 次" if cjk else "123 entries, 3 complaints"

    thirty = render.render_ranking(title, headers, agents(30, not cjk), footer, font_path=path)
    ten = render.render_ranking(title, headers, agents(10, not cjk), footer, font_path=path)

    assert thirty is not None
    assert ten is not None
    width, height = png_size(thirty)
    assert 600 <= width <= 1600
    assert len(thirty) < 2 * 1024 * 1024
    ten_width, ten_height = png_size(ten)
    assert ten_width == width
    assert height > ten_height + 20 * 30


def test_empty_ranking_still_renders_the_header(font_path: tuple[str, bool]) -> None:
    path, _ = font_path
    data = render.render_ranking("Team 1", ["Rank", "Name"], [], font_path=path)

    assert data is not None
    width, _ = png_size(data)
    assert 600 <= width <= 1600


def test_no_cjk_font_means_no_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "find_cjk_font", lambda: None)

    assert render.render_ranking("客服一组", HEADERS, agents(3)) is None


def test_font_without_chinese_glyphs_is_not_chosen(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    latin = tmp_path / "latin.ttf"
    latin.write_bytes(ImageFont.load_default(20).font_bytes)
    monkeypatch.setenv(render.FONT_ENV, str(latin))
    monkeypatch.setattr(render, "_discovered_font", lambda: None)

    assert render.find_cjk_font() is None


def test_kpi_font_comes_first_when_it_draws_chinese(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(render.FONT_ENV, "/fonts/chosen.otf")
    monkeypatch.setattr(render, "_has_cjk_glyphs", lambda path: path == "/fonts/chosen.otf")
    monkeypatch.setattr(render, "_discovered_font", lambda: "/usr/share/fonts/other.ttc")

    assert render.find_cjk_font() == "/fonts/chosen.otf"


def test_numbers_are_right_aligned_and_grades_centred() -> None:
    assert render._alignment(["1", "12"]) == "r"
    assert render._alignment(["¥955.00", "¥1,020.50", ""]) == "r"
    assert render._alignment(["-2.5", "95.5"]) == "r"
    assert render._alignment(["A", "B"]) == "m"
    assert render._alignment(["张三", "诸葛孔明"]) == "l"


def test_top_three_follow_rank_so_ties_share_a_place() -> None:
    rows = [["1"], ["2"], ["2"], ["4"]]

    assert render._podium(rows) == {0: 0, 1: 1, 2: 1}
    assert render._podium([["甲"], ["乙"], ["丙"], ["丁"]]) == {0: 0, 1: 1, 2: 2}


def test_characters_the_font_lacks_are_dropped_not_drawn_as_tofu(tmp_path: Path) -> None:
    latin = tmp_path / "latin.ttf"
    latin.write_bytes(ImageFont.load_default(20).font_bytes)

    assert render._drawable(str(latin), "📊 Team 1 月度") == "Team 1"
