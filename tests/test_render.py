"""The ranking picture: a PNG of sensible size that grows with the team, drawn in the shipped
fonts (or KPI_FONT), every character in a font that has it: no tofu."""

import fnmatch
import sys
import unicodedata
from io import BytesIO
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from bot import render

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

HEADERS = ["名次", "姓名", "人事", "业务", "订单", "推广", "总分", "等级", "提成"]


def agents(n: int) -> list[list[str]]:
    rows = []
    for i in range(1, n + 1):
        total = 100 - i * 1.5
        grade = "A" if total >= 85 else "B" if total >= 70 else "C"
        row = [str(i), f"客服{i:02d}号", "10", str(50 - i), "30", "8.5", f"{total:g}", grade]
        rows.append([*row, f"¥{total * 10:,.2f}"])
    return rows


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(BytesIO(data)) as image:
        assert image.format == "PNG"
        image.load()
        return image.size


def test_ranking_of_thirty_agents_is_a_phone_sized_png() -> None:
    title, footer = "客服一组 2026-11 月度绩效", "本月记录 123 条 · 投诉 3 次"

    thirty = render.render_ranking(title, HEADERS, agents(30), footer)
    ten = render.render_ranking(title, HEADERS, agents(10), footer)

    assert thirty is not None
    assert ten is not None
    width, height = png_size(thirty)
    assert 600 <= width <= 1600
    assert len(thirty) < 2 * 1024 * 1024
    ten_width, ten_height = png_size(ten)
    assert ten_width == width
    assert height > ten_height + 20 * 30


def test_empty_ranking_still_renders_the_header() -> None:
    data = render.render_ranking("Team 1", ["Rank", "Name"], [])

    assert data is not None
    width, _ = png_size(data)
    assert 600 <= width <= 1600


def test_no_cjk_font_means_no_picture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "find_cjk_font", lambda configured=None: None)

    assert render.render_ranking("客服一组", HEADERS, agents(3)) is None


def test_shipped_font_is_used_when_kpi_font_is_unset() -> None:
    assert render.find_cjk_font() == render.BUNDLED_CJK
    assert render.find_cjk_font("") == render.BUNDLED_CJK
    assert (Path(render.BUNDLED_CJK).parent / "OFL.txt").is_file()


def test_kpi_font_without_chinese_falls_back_to_the_shipped_font(tmp_path: Path) -> None:
    latin = tmp_path / "latin.ttf"
    latin.write_bytes(ImageFont.load_default(20).font_bytes)

    assert render.find_cjk_font(str(latin)) == render.BUNDLED_CJK


def test_kpi_font_comes_first_when_it_draws_chinese(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen.otf"
    chosen.write_bytes(Path(render.BUNDLED_CJK).read_bytes())

    assert render.find_cjk_font(str(chosen)) == str(chosen)
    assert render.find_cjk_font(render.BUNDLED_CJK) == render.BUNDLED_CJK


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


# Group-card names as people write them: rare and traditional characters, emoji (with
# variation selectors, skin tones, ZWJ families, flags), symbols and other scripts.
NAMES = [
    "张喆", "李玥", "王鑫", "赵淼", "钱犇", "龘", "𠮷野家", "陳國華", "鄧麗君", "龍鳳呈祥",
    "小美🌸", "阿杰❤️", "Tom ✨", "👍🏽老王", "👨‍👩‍👧一家", "🇨🇳中华", "🐱喵", "🔥💯",
    "☯道长", "★星星★", "♂先生", "©®™", "→←↑↓", "①②③", "Ølaf", "Zoë", "김민수", "さくら",
]  # fmt: skip


def test_rare_names_emoji_and_symbols_never_draw_the_notdef_glyph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each character is drawn in a font whose cmap maps it to a real glyph, and that glyph
    is not the .notdef box FreeType draws for a character the font lacks."""
    chain = render.font_chain(render.find_cjk_font())
    cmaps = {path: TTFont(path, lazy=True).getBestCmap() for path in chain}

    for name in NAMES:
        runs = render.text_runs(chain, name)
        assert "".join(piece for piece, _ in runs) == name, runs
        for piece, path in runs:
            font = ImageFont.truetype(path, 40)
            notdef = glyph_pixels(font, "\U0010fffd")
            for ch in piece:
                assert cmaps[path].get(ord(ch), ".notdef") != ".notdef", (name, ch, path)
                if not ch.isspace() and unicodedata.category(ch) not in ("Mn", "Cf"):
                    assert glyph_pixels(font, ch) != notdef, (name, ch, path)

    rows = [[str(i), name, "10", "99.5", "A"] for i, name in enumerate(NAMES, 1)]
    png = render.render_ranking("客服一组 2026-11 月度绩效", HEADERS[:5], rows)
    assert png is not None
    assert png_size(png)[1] > 30 * len(NAMES)


def glyph_pixels(font: ImageFont.FreeTypeFont, ch: str) -> bytes:
    image = Image.new("L", (64, 64))
    ImageDraw.Draw(image).text((8, 8), ch, font=font, fill=255)
    return image.tobytes()


def test_a_font_lacking_a_character_borrows_it_from_the_shipped_fonts(tmp_path: Path) -> None:
    latin = tmp_path / "latin.ttf"
    latin.write_bytes(ImageFont.load_default(20).font_bytes)
    chain = render.font_chain(str(latin))

    assert render.text_runs(chain, "Tom 王🌸") == (
        ("Tom ", str(latin)),
        ("王", render.BUNDLED_CJK),
        ("🌸", render.BUNDLED_EMOJI),
    )


def test_a_character_no_font_has_becomes_a_neutral_mark_and_stray_joiners_go() -> None:
    chain = render.font_chain(render.BUNDLED_CJK)
    private_use = "\ue000"
    assert not any(ord(private_use) in render._coverage(p) for p in chain)

    assert render.text_runs(chain, f"王{private_use}五") == (("王·五", render.BUNDLED_CJK),)
    assert render.text_runs(chain, "王\U000e0101") == (("王", render.BUNDLED_CJK),)


def test_the_shipped_fonts_and_their_licence_are_package_data() -> None:
    """setuptools puts `package-data` into the wheel and the sdist: every font file and the
    OFL must be matched by it, or an installed bot has no picture."""
    root = Path(__file__).resolve().parent.parent
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["bot"]
    shipped = {p.relative_to(root / "bot").as_posix() for p in (root / "bot" / "fonts").iterdir()}

    assert {"fonts/OFL.txt", "fonts/NOTICE.md"} <= shipped
    assert Path(render.BUNDLED_CJK).name in {Path(p).name for p in shipped}
    for name in shipped:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in patterns), name
