"""The monthly ranking as a PNG table, the part of the monthly post people look at first.

It is drawn in the fonts shipped in `bot/fonts` (Noto Sans CJK SC, Noto Emoji; OFL-1.1), so
that it shows on every install; `KPI_FONT` names another Chinese font to use instead. Names
are whatever people put on their group cards, so each character is drawn in the first font
that has it (`KPI_FONT`, then the shipped ones); a character none of them has is drawn as
`REPLACEMENT`, never as the empty .notdef box ("tofu"). SPEC §4.
"""

from __future__ import annotations

import os
import re
import unicodedata
from functools import cache
from io import BytesIO
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path(__file__).resolve().parent / "fonts"
BUNDLED_CJK = str(FONT_DIR / "NotoSansCJKsc-Regular.otf")
BUNDLED_EMOJI = str(FONT_DIR / "NotoEmoji-Regular.ttf")
PROBE = "测绩组"  # a font that has these draws Chinese
REPLACEMENT = "·"  # drawn for a character that no font has
JOINERS = frozenset(
    {"Mn", "Me", "Cf", "Sk"}
)  # marks, joiners, selectors: dropped when no font has them

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


def find_cjk_font(configured: str | None = None) -> str | None:
    """The Chinese font to draw in: `configured` (the bot passes `KPI_FONT` from its
    `Config`) when it has Chinese characters, else the shipped Noto Sans CJK SC (None only
    if that file was removed)."""
    chosen = (configured or "").strip()
    if chosen and covers(os.path.expanduser(chosen), PROBE):
        return os.path.expanduser(chosen)
    return BUNDLED_CJK if covers(BUNDLED_CJK, PROBE) else None


def font_chain(primary: str) -> tuple[str, ...]:
    """Fonts to try for each character, best first: `primary`, then the shipped ones."""
    chain = [primary, BUNDLED_CJK, BUNDLED_EMOJI]
    return tuple(p for i, p in enumerate(chain) if p not in chain[:i] and _coverage(p))


def covers(path: str, text: str) -> bool:
    cmap = _coverage(path)
    return bool(cmap) and all(ord(ch) in cmap for ch in text)


@cache
def _coverage(path: str) -> frozenset[int]:
    """The characters a font maps to a glyph of its own (its cmap); empty if unreadable."""
    try:
        with TTFont(path, fontNumber=_face_index(path), lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except (OSError, TTLibError, ValueError, AssertionError):
        return frozenset()


@cache
def text_runs(chain: tuple[str, ...], text: str) -> tuple[tuple[str, str], ...]:
    """`text` cut into (piece, font path) runs, each character in the first font of `chain`
    that has it. Spaces, marks and joiners stay in the font of the run they are in when it has
    them (an emoji sequence stays whole); a mark no font has is dropped, any other character
    no font has becomes `REPLACEMENT`."""
    runs: list[list[str]] = []
    for ch in text:
        current = runs[-1][1] if runs else chain[0]
        inside = ch.isspace() or unicodedata.category(ch) in JOINERS
        path = current if inside and ord(ch) in _coverage(current) else _first(chain, ch)
        if path is None:
            if unicodedata.category(ch) in JOINERS:
                continue
            ch, path = REPLACEMENT, _first(chain, REPLACEMENT) or chain[0]
        if runs and runs[-1][1] == path:
            runs[-1][0] += ch
        else:
            runs.append([ch, path])
    return tuple((piece, path) for piece, path in runs)


def _first(chain: tuple[str, ...], ch: str) -> str | None:
    return next((p for p in chain if ord(ch) in _coverage(p)), None)


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
    """A PNG of a table (title, header row, one row per agent, footer); None only when no
    Chinese font can be had at all (then callers send text only).

    `font_path` (`KPI_FONT`) is used when it draws Chinese, else the shipped font.
    Columns are as wide as their content; a column whose cells are all numbers (money and
    percentages included) is right-aligned. The top three (by the rank in the first column
    when it is a number, else the first three rows) are shaded gold, silver and bronze."""
    path = find_cjk_font(font_path)
    if path is None:
        return None
    chain = font_chain(path)
    title, footer = title.strip(), footer.strip()
    ncols = max([len(headers), *(len(r) for r in rows)], default=0) or 1
    head = [*headers, *[""] * (ncols - len(headers))]
    body = [[*map(str, r), *[""] * (ncols - len(r))] for r in rows]

    size = BODY_SIZE
    table = _Table(chain, size, head, body)
    if table.natural_width + 2 * MARGIN > MAX_WIDTH:
        size = max(MIN_BODY_SIZE, size * (MAX_WIDTH - 2 * MARGIN) // table.natural_width)
        table = _Table(chain, size, head, body)
    title_pen = _Pen(chain, round(size * 1.35))
    footer_pen = _Pen(chain, round(size * 0.8))
    inner = max(
        MIN_WIDTH - 2 * MARGIN,
        table.natural_width,
        title_pen.width(title),
        footer_pen.width(footer),
    )
    table.stretch_to(inner)

    title_h = title_pen.line_height if title else 0
    footer_h = footer_pen.line_height if footer else 0
    gap = size
    height = MARGIN + title_h + (gap if title else 0) + table.height
    height += (gap * 3 // 4 + footer_h if footer else 0) + MARGIN
    image = Image.new("RGB", (inner + 2 * MARGIN, height), BACKGROUND)
    draw = ImageDraw.Draw(image)

    y = MARGIN
    if title:
        title_pen.write(draw, MARGIN, y + title_h // 2, title, "l", TEXT, bold=True)
        y += title_h + gap
    table.draw(draw, MARGIN, y)
    y += table.height
    if footer:
        footer_pen.write(draw, MARGIN, y + gap * 3 // 4 + footer_h // 2, footer, "l", MUTED)

    out = BytesIO()
    image.save(out, format="PNG", compress_level=3)
    return out.getvalue()


class _Pen:
    """Writes a line of text at one size, each character in the first font of the chain
    that has it (`text_runs`), all on one baseline."""

    def __init__(self, chain: tuple[str, ...], size: int) -> None:
        self.chain = chain
        self.size = size
        ascent, descent = _font(chain[0], size).getmetrics()
        self.line_height = ascent + descent
        self.baseline = (ascent - descent) // 2  # from the middle of the line

    def runs(self, text: str) -> list[tuple[str, ImageFont.FreeTypeFont]]:
        return [(piece, _font(path, self.size)) for piece, path in text_runs(self.chain, text)]

    def width(self, text: str) -> int:
        return round(sum(f.getlength(piece) for piece, f in self.runs(text))) + 2 if text else 0

    def write(
        self,
        draw: ImageDraw.ImageDraw,
        x: int,
        mid: int,
        text: str,
        align: str,
        fill: str,
        bold: bool = False,
    ) -> None:
        """Text at `x` (its left, centre or right as `align` is "l", "m" or "r"), centred on
        the line `mid`. `bold` thickens the strokes by one pixel, from `MIN_BOLD_SIZE` up."""
        runs = self.runs(text)
        if align != "l":
            total = sum(f.getlength(piece) for piece, f in runs)
            x -= round(total if align == "r" else total / 2)
        stroke = (
            {"stroke_width": 1, "stroke_fill": fill} if bold and self.size >= MIN_BOLD_SIZE else {}
        )
        at = float(x)
        for piece, font in runs:
            draw.text((at, mid + self.baseline), piece, font=font, fill=fill, anchor="ls", **stroke)
            at += font.getlength(piece)


class _Table:
    def __init__(
        self, chain: tuple[str, ...], size: int, headers: list[str], rows: list[list[str]]
    ) -> None:
        self.pen = _Pen(chain, size)
        self.headers = headers
        self.rows = rows
        self.row_h = self.pen.line_height + 2 * CELL_PAD_Y
        self.align = [_alignment([r[c] for r in rows]) for c in range(len(headers))]
        self.widths = [
            max(self.pen.width(cell) for cell in [headers[c], *(r[c] for r in rows)])
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
            self.pen.write(draw, x0 + width // 2, y + self.row_h // 2, "（暂无记录）", "m", MUTED)
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
            at = {"r": x + width - CELL_PAD_X, "m": x + width // 2}.get(align, x + CELL_PAD_X)
            self.pen.write(draw, at, mid, cell, align, fill, bold)
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


@cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size, index=_face_index(path))
