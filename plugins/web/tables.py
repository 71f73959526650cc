"""Big tables built as one string: the ranking of a 1,000-agent team is 10,000 cells, and a
Jinja loop escaping each one costs more than scoring the month (bench/dashboard.py)."""

from __future__ import annotations

from markupsafe import Markup, escape

from models.ledger import Ranked


def ranking_rows(
    ranking: list[Ranked],
    cells: list[list[str]],
    *,
    team_id: int,
    period: str,
    linked: bool,
    me: int | None,
    text_columns: frozenset[int],
    classes: dict[int, str] | None = None,
) -> Markup:
    """The `<tr>`s of the ranking: rank, name (a link to the agent's page for a supervisor,
    or for the agent's own row), then the numbers; the viewer's own row marked `me`. The
    name and the columns in `text_columns` (the grade: the rubric names it) are escaped;
    the others are numbers our formatters wrote (digits, `.`, `¥`, `−`). `classes`: a
    column's classes besides `num` (`catcol`, which a phone leaves out; `money`)."""
    kind = {i: f"num {c}" for i, c in (classes or {}).items()}
    out = []
    for r, c in zip(ranking, cells, strict=True):
        mid = r.member.id
        name = escape(c[1])
        if linked or me == mid:
            name = Markup(f'<a href="/kpi/team/{team_id}/member/{mid}?month={period}">{name}</a>')
        nums = "".join(
            f'<td class="{kind.get(i, "num")}">{escape(v) if i in text_columns else v}</td>'
            for i, v in enumerate(c[2:], start=2)
        )
        mine = ' class="me"' if me == mid else ""
        out.append(f'<tr{mine}><td>{c[0]}</td><td class="name">{name}</td>{nums}</tr>')
    return Markup("\n".join(out))


def rank_classes(heads: list[str], categories: int) -> dict[int, str]:
    """The ranking's column classes: the category columns (after rank and name) are `catcol`,
    secondary (a phone shows them in the chart only, SPEC §5a); the money is `money`."""
    out = dict.fromkeys(range(2, 2 + categories), "catcol")
    out |= {i: "money" for i, h in enumerate(heads) if h in ("罚款", "提成")}
    return out


def missing_items(missing: list, *, team_id: int, period: str) -> Markup:
    """The `<li>`s of today's non-reporters: a link to each, and their two largest gaps."""
    out = []
    for m, gaps in missing:
        link = f'<a href="/kpi/team/{team_id}/member/{m.id}?month={period}">{escape(m.name)}</a>'
        lack = f' <span class="muted">还差 {escape("、".join(str(g) for g in gaps[:2]))}</span>'
        out.append(f"<li>{link}{lack if gaps else ''}</li>")
    return Markup("".join(out))


def whatif_rows(w) -> Markup:
    """The what-if's `<tr>`s: name, total, grade (and pay when the month has a base), each
    as old → new; a row that changes is marked `changed`."""
    from models.scoring import fmt_money, fmt_total

    def pay(score) -> str:
        return "" if score.commission is None else fmt_money(score.commission)

    out = []
    for r in w.rows:
        o, n = r.old, r.new
        cells = [
            f'<td class="name">{escape(r.name)}</td>',
            f'<td class="num">{fmt_total(o.total)} → {fmt_total(n.total)}</td>',
            f"<td>{escape(o.grade)} → {escape(n.grade)}</td>",
        ]
        if w.base is not None:
            cells.append(f'<td class="num">{pay(o)} → {pay(n)}</td>')
        mark = ' class="changed"' if id(r) in w.changed_set else ""
        out.append(f"<tr{mark}>{''.join(cells)}</tr>")
    return Markup("\n".join(out))
