"""The monthly ranking as a PNG table, for groups where a picture reads better than text.

Chinese needs a CJK font, which most servers lack; `find_cjk_font` looks in `KPI_FONT`, the
usual system places and installed Python packages, and `render_ranking` returns None when
there is none, so the caller sends the ranking as text instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from importlib import metadata
from io import BytesIO
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT_ENV = "KPI_FONT"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/System/Library/Fonts",
    "/Library/Fonts",
    "C:/Windows/Fonts",
)
# File names of fonts known to cover simplified Chinese, best first (matched in lower case).
PREFERRED_FONTS = (
    "notosanscjksc",
    "notosanssc",
    "sourcehansanssc",
    "sourcehansanscn",
    "notosanscjk",
    "sourcehansans",
    "wqy-microhei",
    "wqy-zenhei",
    "pingfang",
    "msyh",
    "droidsansfallback",
    "notoserifcjk",
    "sourcehanserif",
    "simhei",
)
PROBE = "测绩组"
MISSING = "\U0010fffd"

MIN_WIDTH = 800
MAX_WIDTH = 1000
MARGIN = 32
CELL_PAD_X = 18
CELL_PAD_Y = 14
BODY_SIZE = 28
MIN_BODY_SIZE = 18
MIN_BOLD_SIZE = 24  # below this a one-pixel stroke smudges the strokes of a character

BACKGROUND = "#ffffff"
TEXT = "#1f2329"
MUTED = "#8a9099"
HEADER_BG = "#2f5597"
HEADER_TEXT = "#ffffff"
STRIPE = "#f4f6f9"
RULE = "#e3e6eb"
PODIUM = (("#fff3cc", "#e0a800"), ("#eef1f5", "#9aa5b1"), ("#fbe9dc", "#c87f4a"))
NUMERIC = re.compile(r"^[-+]?[¥￥$]?[-+]?\d[\d,]*(\.\d+)?%?$")


def find_cjk_font() -> str | None:
    """Path of a font that draws Chinese: `KPI_FONT` if it does, else the first found."""
    env = os.environ.get(FONT_ENV, "").strip()
    if env and _has_cjk_glyphs(os.path.expanduser(env)):
        return os.path.expanduser(env)
    return _discovered_font()


@cache
def _discovered_font() -> str | None:
    seen: set[str] = set()
    for path in _candidates():
        if path in seen:
            continue
        seen.add(path)
        if _has_cjk_glyphs(path):
            return path
    return None


def _candidates() -> Iterator[str]:
    """Well-known system fonts, then what fontconfig says covers Chinese, then fonts shipped
    in Python packages, then every other system font."""
    system = sorted(_font_files(), key=_preference)
    yield from (p for p in system if _preference(p) < len(PREFERRED_FONTS))
    yield from _fc_list()
    yield from sorted(_package_fonts(), key=_preference)
    yield from system


def _preference(path: str) -> int:
    name = Path(path).name.lower().replace(" ", "").replace("_", "")
    return next((i for i, key in enumerate(PREFERRED_FONTS) if key in name), len(PREFERRED_FONTS))


def _font_files() -> Iterator[str]:
    for base in FONT_DIRS:
        root = Path(base).expanduser()
        if not root.is_dir():
            continue
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                if name.lower().endswith(FONT_SUFFIXES):
                    yield os.path.join(dirpath, name)


def _fc_list() -> Iterator[str]:
    exe = shutil.which("fc-list")
    if exe is None:
        return
    try:
        out = subprocess.run(
            [exe, ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return
    for line in sorted(out.splitlines(), key=_preference):
        path = line.strip().rstrip(":").strip()
        if path.lower().endswith(FONT_SUFFIXES):
            yield path


def _package_fonts() -> Iterator[str]:
    for dist in metadata.distributions():
        for file in dist.files or ():
            if file.name.lower().endswith(FONT_SUFFIXES):
                yield str(dist.locate_file(file))


def _has_cjk_glyphs(path: str) -> bool:
    """True when the font draws each probe character as a glyph of its own, not as tofu."""
    try:
        font = ImageFont.truetype(path, 32, index=_face_index(path))
        tofu = _glyph(font, MISSING)
        glyphs = [_glyph(font, ch) for ch in PROBE]
    except (OSError, ValueError):
        return False
    return all(g.getbbox() is not None and g.tobytes() != tofu.tobytes() for g in glyphs)


def _glyph(font: ImageFont.FreeTypeFont, ch: str) -> Image.Image:
    image = Image.new("L", (48, 48))
    ImageDraw.Draw(image).text((8, 8), ch, font=font, fill=255)
    return image


@cache
def _face_index(path: str) -> int:
    """In a font collection, the simplified-Chinese face if there is one, else the first."""
    if not path.lower().endswith((".ttc", ".otc")):
        return 0
    for index in range(16):
        try:
            family, _style = ImageFont.truetype(path, 12, index=index).getname()
        except OSError:
            break
        if family and re.search(r"\b(SC|CN|GB)\b|Simplified", family):
            return index
    return 0


def render_ranking(
    title: str,
    headers: list[str],
    rows: list[list[str]],
    footer: str = "",
    font_path: str | None = None,
) -> bytes | None:
    """A PNG of a table (title, header row, one row per agent, footer). Returns None when no CJK
    font is found (callers then send text only).

    `font_path` is used as given; without it `find_cjk_font` chooses. Columns are as wide as
    their content; a column whose cells are all numbers (money and percentages included) is
    right-aligned. The top three (by the rank in the first column when it is a number, else
    the first three rows) are shaded gold, silver and bronze."""
    path = font_path or find_cjk_font()
    if path is None:
        return None
    title, footer = _drawable(path, title), _drawable(path, footer)
    headers = [_drawable(path, h) for h in headers]
    rows = [[_drawable(path, str(c)) for c in r] for r in rows]
    ncols = max([len(headers), *(len(r) for r in rows)], default=0) or 1
    head = [*headers, *[""] * (ncols - len(headers))]
    body = [[*r, *[""] * (ncols - len(r))] for r in rows]

    size = BODY_SIZE
    table = _Table(path, size, head, body)
    if table.natural_width + 2 * MARGIN > MAX_WIDTH:
        size = max(MIN_BODY_SIZE, size * (MAX_WIDTH - 2 * MARGIN) // table.natural_width)
        table = _Table(path, size, head, body)
    title_font = _font(path, round(size * 1.35))
    footer_font = _font(path, round(size * 0.8))
    inner = max(
        MIN_WIDTH - 2 * MARGIN,
        table.natural_width,
        _text_width(title_font, title),
        _text_width(footer_font, footer),
    )
    table.stretch_to(inner)

    title_h = _line_height(title_font) if title else 0
    footer_h = _line_height(footer_font) if footer else 0
    gap = size
    height = MARGIN + title_h + (gap if title else 0) + table.height
    height += (gap * 3 // 4 + footer_h if footer else 0) + MARGIN
    image = Image.new("RGB", (inner + 2 * MARGIN, height), BACKGROUND)
    draw = ImageDraw.Draw(image)

    y = MARGIN
    if title:
        draw.text((MARGIN, y), title, font=title_font, fill=TEXT, stroke_width=1, stroke_fill=TEXT)
        y += title_h + gap
    table.draw(draw, MARGIN, y)
    y += table.height
    if footer:
        draw.text((MARGIN, y + gap * 3 // 4), footer, font=footer_font, fill=MUTED)

    out = BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


class _Table:
    def __init__(self, path: str, size: int, headers: list[str], rows: list[list[str]]) -> None:
        self.font = _font(path, size)
        self.boldable = size >= MIN_BOLD_SIZE
        self.headers = headers
        self.rows = rows
        self.row_h = _line_height(self.font) + 2 * CELL_PAD_Y
        self.align = [_alignment([r[c] for r in rows]) for c in range(len(headers))]
        self.widths = [
            max(_text_width(self.font, cell) for cell in [headers[c], *(r[c] for r in rows)])
            + 2 * CELL_PAD_X
            for c in range(len(headers))
        ]
        self.podium = _podium(rows)

    @property
    def natural_width(self) -> int:
        return sum(self.widths)

    @property
    def height(self) -> int:
        return self.row_h * (1 + max(len(self.rows), 1))

    def stretch_to(self, width: int) -> None:
        extra, n = width - self.natural_width, len(self.widths)
        if extra > 0:
            self.widths = [w + extra // n + (i < extra % n) for i, w in enumerate(self.widths)]

    def draw(self, draw: ImageDraw.ImageDraw, x0: int, y0: int) -> None:
        width = self.natural_width
        draw.rectangle((x0, y0, x0 + width - 1, y0 + self.row_h - 1), fill=HEADER_BG)
        self._cells(draw, x0, y0, self.headers, HEADER_TEXT, bold=True)
        if not self.rows:
            y = y0 + self.row_h
            draw.text(
                (x0 + width // 2, y + self.row_h // 2), "（暂无记录）", font=self.font, fill=MUTED,
                anchor="mm",
            )  # fmt: skip
            draw.line((x0, y + self.row_h - 1, x0 + width - 1, y + self.row_h - 1), fill=RULE)
        for i, row in enumerate(self.rows):
            y = y0 + self.row_h * (i + 1)
            place = self.podium.get(i)
            if place is not None:
                shade, accent = PODIUM[place]
                draw.rectangle((x0, y, x0 + width - 1, y + self.row_h - 1), fill=shade)
                draw.rectangle((x0, y, x0 + 5, y + self.row_h - 1), fill=accent)
            elif i % 2:
                draw.rectangle((x0, y, x0 + width - 1, y + self.row_h - 1), fill=STRIPE)
            draw.line((x0, y + self.row_h - 1, x0 + width - 1, y + self.row_h - 1), fill=RULE)
            self._cells(draw, x0, y, row, TEXT, bold=place is not None)

    def _cells(
        self, draw: ImageDraw.ImageDraw, x0: int, y: int, cells: list[str], fill: str, bold: bool
    ) -> None:
        x, mid = x0, y + self.row_h // 2
        for cell, width, align in zip(cells, self.widths, self.align, strict=True):
            if align == "r":
                at, anchor = (x + width - CELL_PAD_X, mid), "rm"
            elif align == "m":
                at, anchor = (x + width // 2, mid), "mm"
            else:
                at, anchor = (x + CELL_PAD_X, mid), "lm"
            stroke = {"stroke_width": 1, "stroke_fill": fill} if bold and self.boldable else {}
            draw.text(at, cell, font=self.font, fill=fill, anchor=anchor, **stroke)
            x += width


def _alignment(cells: list[str]) -> str:
    """ "r" for a column of numbers, "m" for one of short marks such as grades, else "l"."""
    filled = [c.strip() for c in cells if c.strip()]
    if filled and all(NUMERIC.match(c) for c in filled):
        return "r"
    if filled and all(len(c) <= 2 for c in filled):
        return "m"
    return "l"


def _podium(rows: list[list[str]]) -> dict[int, int]:
    """Row index → place 0–2 for the top three: by rank number, so ties share a colour."""
    ranks = [r[0].strip() if r else "" for r in rows]
    if ranks and all(r.isdigit() for r in ranks):
        return {i: int(r) - 1 for i, r in enumerate(ranks) if 1 <= int(r) <= 3}
    return {i: i for i in range(min(3, len(rows)))}


def _drawable(path: str, text: str) -> str:
    """The text without the characters the font lacks (emoji, mostly), which would be tofu."""
    kept = "".join(ch for ch in text if ch.isspace() or _can_draw(path, ch))
    return re.sub(r"\s{2,}", " ", kept).strip()


@cache
def _can_draw(path: str, ch: str) -> bool:
    font = _font(path, 32)
    return _glyph(font, ch).tobytes() != _glyph(font, MISSING).tobytes()


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=_face_index(path))


def _text_width(font: ImageFont.FreeTypeFont, text: str) -> int:
    return round(font.getlength(text)) + 2 if text else 0


def _line_height(font: ImageFont.FreeTypeFont) -> int:
    ascent, descent = font.getmetrics()
    return ascent + descent
