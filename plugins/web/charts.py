"""Charts as inline SVG: no script, no CDN, readable offline and in QQ's browser."""

from __future__ import annotations

from markupsafe import Markup, escape

from models.ledger import Ranked
from models.rubric import Rubric
from models.scoring import MemberScore, fmt_points, fmt_total

COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1"]
CHART_ROWS = 30


def _color(i: int) -> str:
    return COLORS[i % len(COLORS)]


def category_chart(rubric: Rubric, ranking: list[Ranked], limit: int = CHART_ROWS) -> Markup:
    """Each agent's total as a bar made of its category scores (the top `limit`)."""
    rows = ranking[:limit]
    if not rows:
        return Markup("")
    label_w, bar_w, row_h, top = 96, 500, 22, 34
    width = label_w + bar_w + 48
    height = top + row_h * len(rows) + 8
    out = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="各分类得分" xmlns="http://www.w3.org/2000/svg">'
    ]
    x = label_w
    for i, c in enumerate(rubric.categories):
        out.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{_color(i)}"/>')
        out.append(f'<text x="{x + 16}" y="16" class="legend">{escape(c.name)}</text>')
        x += 28 + 13 * len(c.name)
    for n, r in enumerate(rows):
        y = top + n * row_h
        out.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{escape(r.member.name[:8])}</text>'
        )
        x0 = float(label_w)
        for i, c in enumerate(r.score.categories):
            w = float(c.earned) * bar_w / 100
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" '
                f'fill="{_color(i)}"><title>{escape(r.member.name)} {escape(c.name)} '
                f"{fmt_points(c.earned)}/{fmt_points(c.max)}</title></rect>"
            )
            x0 += w
        out.append(f'<text x="{x0 + 4:.1f}" y="{y + 15}">{fmt_total(r.score.total)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def trend_chart(trend: list[tuple[str, MemberScore | None]]) -> Markup:
    """The total of each month as a line, 0–100; months not scored are left out."""
    left, top, w, h = 34, 14, 560, 180
    step = w / max(1, len(trend) - 1)
    out = [
        f'<svg class="chart" viewBox="0 0 {left + w + 24} {top + h + 40}" role="img" '
        f'aria-label="近 {len(trend)} 个月总分" xmlns="http://www.w3.org/2000/svg">'
    ]
    for v in (0, 60, 80, 100):
        y = top + h - v * h / 100
        out.append(f'<line x1="{left}" x2="{left + w}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{v}</text>')
    dots: list[str] = []
    segment: list[str] = []
    segments: list[list[str]] = [segment]
    for i, (period, score) in enumerate(trend):
        x = left + i * step
        label = period[2:] if i == 0 or period.endswith("-01") else period[5:]
        out.append(
            f'<text x="{x:.1f}" y="{top + h + 18}" text-anchor="middle">{escape(label)}</text>'
        )
        if score is None:
            segment = []
            segments.append(segment)
            continue
        y = top + h - float(score.total) * h / 100
        segment.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" class="dot"><title>{escape(period)} '
            f"{fmt_total(score.total)}（{escape(score.grade)}）</title></circle>"
        )
        dots.append(
            f'<text x="{x:.1f}" y="{y - 7:.1f}" text-anchor="middle" class="value">'
            f"{fmt_total(score.total)}</text>"
        )
    for seg in segments:
        if len(seg) > 1:
            out.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
    out += dots
    out.append("</svg>")
    return Markup("".join(out))
