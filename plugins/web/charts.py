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
    """Each agent's total as a bar made of its category scores (the top `limit`). The bars
    are inline SVG (0–100 points across); the names, the legend and the totals are page
    text, so they stay at the page's size on a phone instead of shrinking with the bars."""
    rows = ranking[:limit]
    if not rows:
        return Markup("")
    out = ['<div class="bars" role="img" aria-label="各分类得分"><ul class="legend">']
    for i, c in enumerate(rubric.categories):
        out.append(
            f'<li><svg class="swatch" viewBox="0 0 1 1" aria-hidden="true">'
            f'<rect width="1" height="1" fill="{_color(i)}"/></svg>{escape(c.name)}</li>'
        )
    out.append("</ul>")
    for r in rows:
        name = escape(r.member.name)
        out.append(
            f'<div class="bar-row"><span class="who" title="{name}">{name}</span>'
            f'<svg class="bar" viewBox="0 0 100 1" preserveAspectRatio="none">'
        )
        x0 = 0.0
        for i, c in enumerate(r.score.categories):
            w = float(c.earned)
            out.append(
                f'<rect x="{x0:.2f}" width="{w:.2f}" height="1" fill="{_color(i)}">'
                f"<title>{name} {escape(c.name)} {fmt_points(c.earned)}/{fmt_points(c.max)}"
                "</title></rect>"
            )
            x0 += w
        out.append(f'</svg><span class="sum">{fmt_total(r.score.total)}</span></div>')
    out.append("</div>")
    return Markup("".join(out))


def trend_chart(trend: list[tuple[str, MemberScore | None]]) -> Markup:
    """The total of each month as a line, 0–100; months not scored are left out. A phone
    draws it at about half size, so there the text is twice as large in the chart's units
    (`svg.trend` in kpi.css) and every other month's labels (`minor`) are left out."""
    left, top, w, h = 44, 16, 560, 180
    step = w / max(1, len(trend) - 1)
    out = [
        f'<svg class="chart trend" viewBox="0 0 {left + w + 28} {top + h + 44}" role="img" '
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
        minor = " minor" if (len(trend) - 1 - i) % 2 else ""  # the last month always shows
        out.append(
            f'<text x="{x:.1f}" y="{top + h + 24}" text-anchor="middle" class="month{minor}">'
            f"{escape(label)}</text>"
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
            f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" class="value{minor}">'
            f"{fmt_total(score.total)}</text>"
        )
    for seg in segments:
        if len(seg) > 1:
            out.append(f'<polyline points="{" ".join(seg)}" class="line"/>')
    out += dots
    out.append("</svg>")
    return Markup("".join(out))
