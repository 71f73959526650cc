"""How scores and entries read in chat: short, in Chinese, with the numbers that matter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from zoneinfo import ZoneInfo

from models.ledger import Ranked
from models.periods import to_local
from models.rubric import Rubric
from models.scoring import MemberScore, fmt_money, fmt_points, fmt_signed, fmt_total
from models.tables import Entry, Member

MAX_MESSAGE_CHARS = 1500


def yuan(cents: int) -> str:
    s = fmt_money(Fraction(cents, 100))
    return s[:-3] if s.endswith(".00") else s


def cat_line(score: MemberScore, key: str) -> str:
    c = score.category(key)
    return f"{c.name} {fmt_points(c.earned)}/{fmt_points(c.max)}"


def progress(score: MemberScore, item_key: str) -> str:
    i = score.item(item_key)
    return f"{i.quantity}/{i.item.target}"


def total_line(score: MemberScore, *, pay: bool = True) -> str:
    line = f"总分 {fmt_total(score.total)}（{score.grade}）"
    if not pay:
        return line
    if score.fines:
        line += f" 罚款 {fmt_money(score.fines)}"
    if score.commission is not None:
        line += f" 提成 {fmt_money(score.commission)}"
    return line


def entry_points(rubric: Rubric, e: Entry, *, fine: bool = True) -> str:
    """The entry's points (or units), and its fine unless `fine` is False (pay held back)."""
    item = rubric.item(e.item_key)
    if item is None:
        return f"{e.item_key}×{e.quantity}"
    if item.points is not None:
        s = fmt_signed(Fraction(item.points) * e.quantity)
    else:
        s = f"+{e.quantity}{item.unit}"
    if e.fine_cents and fine:
        s += f" 罚款 {yuan(e.fine_cents)}"
    return s


def item_name(rubric: Rubric, key: str) -> str:
    item = rubric.item(key)
    if item is None:
        return key
    return f"{rubric.category(item.category).name}·{item.name}"


def local_time(at: datetime, tz: ZoneInfo) -> str:
    return to_local(at, tz).strftime("%m-%d %H:%M")


def mark_text(rubric: Rubric, e: Entry, *, fine: bool = True) -> str:
    """An entry's item and points, with ×count when a mark counts more than once or half
    (`业务绩效·回复不及时 ×3 −6`, `人事考核·请假 ×0.5 −0.3`), and its fine unless `fine`
    is False."""
    item = rubric.item(e.item_key)
    counted = item is not None and item.points is not None and e.quantity != 1
    times = f" ×{e.quantity}" if counted else ""
    return f"{item_name(rubric, e.item_key)}{times} {entry_points(rubric, e, fine=fine)}"


def entry_line(
    rubric: Rubric, e: Entry, tz: ZoneInfo, *, who: bool = True, appeal: str | None = None
) -> str:
    """One entry as `/明细` lists it: id, time, item, ×count when not 1 (`回复不及时 ×3 −6`),
    points or fine, note, link, who logged it, its appeal's state (`appeal`, SPEC §4
    "Nudges and appeals") and a revocation."""
    line = f"#{e.id} {local_time(e.created_at, tz)} {mark_text(rubric, e)}"
    if e.note:
        line += f" 「{e.note[:40]}」"
    if e.link:
        line += f" {e.link}"
    if who:
        line += f" 记录人：{e.created_by_name}"
    if appeal:
        line += f" 〔{appeal}〕"
    if e.revoked_at:
        line += f" 〔{e.revoked_by_name} 已撤销"
        line += f"：{e.revoke_reason}〕" if e.revoke_reason else "〕"
    return line


def score_card(
    rubric: Rubric,
    member: Member,
    period: str,
    score: MemberScore,
    entries: list[Entry],
    *,
    pay: bool = True,
) -> str:
    """`/我的绩效`: categories, promotion progress, the month's deductions with ids, total;
    fines (the month's and each deduction's) and commission only with `pay` (the member
    themselves, a supervisor, or KPI_PAY_PUBLIC; SPEC §4)."""
    lines = [f"📋 {member.name} {period} 绩效"]
    for c in score.categories:
        lines.append(f"{c.name} {fmt_points(c.earned)}/{fmt_points(c.max)}")
        cat = rubric.category(c.key)
        if cat.kind == "attainment":
            parts = [f"{i.item.label} {i.quantity}/{i.item.target}" for i in c.items]
            lines.append("  " + " · ".join(parts))
    marks = [
        e
        for e in entries
        if e.revoked_at is None
        and (item := rubric.item(e.item_key)) is not None
        and item.points is not None
    ]
    if marks:
        lines.append("扣分/加分：")
        lines += [
            f"  #{e.id} {mark_text(rubric, e, fine=pay)}" + (f"「{e.note[:30]}」" if e.note else "")
            for e in marks
        ]
    lines.append(total_line(score, pay=pay))
    return "\n".join(lines)


@dataclass
class Row:
    """One line of a ranking, live or as settled."""

    rank: int
    name: str
    categories: list[Fraction]
    total: Fraction
    grade: str
    commission: Fraction | None
    fines: Fraction = Fraction(0)


def rows_of(ranking: list[Ranked]) -> list[Row]:
    return [
        Row(
            r.rank,
            r.member.name,
            [c.earned for c in r.score.categories],
            r.score.total,
            r.score.grade,
            r.score.commission,
            r.score.fines,
        )
        for r in ranking
    ]


def ranking_table(
    rubric: Rubric, rows: list[Row], *, pay: bool = True
) -> tuple[list[str], list[list[str]]]:
    """Headers and cells, shared by the text ranking and the image. With `pay` (SPEC §4 "pay
    is private": a supervisor's view, or KPI_PAY_PUBLIC) a fines column when anyone has
    fines and the commission column; without it no money at all."""
    with_fines = pay and any(r.fines for r in rows)
    with_money = pay and any(r.commission is not None for r in rows)
    heads = ["名次", "姓名", *(c.name[:2] for c in rubric.categories), "总分", "等级"]
    heads += ["罚款"] if with_fines else []
    heads += ["提成"] if with_money else []
    cells = []
    for r in rows:
        line = [str(r.rank), r.name, *(fmt_points(x) for x in r.categories)]
        line += [fmt_total(r.total), r.grade]
        if with_fines:
            line.append(fmt_money(r.fines) if r.fines else "")
        if with_money:
            line.append(fmt_money(r.commission) if r.commission is not None else "")
        cells.append(line)
    return heads, cells


def ranking_lines(rubric: Rubric, rows: list[Row], *, pay: bool = True) -> list[str]:
    heads, cells = ranking_table(rubric, rows, pay=pay)
    n = len(rubric.categories)
    out = [f"{heads[0]} {heads[1]} {'/'.join(heads[2 : 2 + n])} {' '.join(heads[2 + n :])}"]
    for c in cells:
        out.append(f"{c[0]}. {c[1]} {'/'.join(c[2 : 2 + n])} {' '.join(c[2 + n :])}".rstrip())
    return out


class Several(list):
    """Several messages (not the parts of one)."""


def chunk(lines: list[str], limit: int = MAX_MESSAGE_CHARS) -> Several:
    """Split a long listing into messages of whole lines — never cut silently."""
    out = Several()
    cur: list[str] = []
    size = 0
    for line in lines:
        if cur and size + len(line) + 1 > limit:
            out.append("\n".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line) + 1
    if cur:
        out.append("\n".join(cur))
    if len(out) > 1:
        out = Several(f"{m}\n（{i}/{len(out)}）" for i, m in enumerate(out, 1))
    return out
