"""The month as an .xlsx workbook: sheet 汇总 (one row per member) and 明细 (every entry)."""

from __future__ import annotations

import io
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .ledger import Ranked, all_entries, team_month_scores
from .periods import to_local
from .rubric import Rubric
from .settlement import month_rules
from .tables import Entry, Member, Team


def _num(x: Fraction) -> float:
    return round(float(x), 4)


def _append(sheet, values: list) -> None:
    """Add a row, every text cell written safely: the control characters openpyxl refuses
    are dropped (a note stored before notes were cleaned may hold one, and one such cell
    must not cost the whole team its workbook), and text is always text, never a formula
    (a note typed as `=HYPERLINK(…)` stays those characters)."""
    sheet.append([ILLEGAL_CHARACTERS_RE.sub("", v) if isinstance(v, str) else v for v in values])
    for cell in sheet[sheet.max_row]:
        if cell.data_type == "f":
            cell.data_type = "s"


def build_workbook(
    rubric: Rubric,
    team_name: str,
    period: str,
    ranking: list[Ranked],
    entries: list[Entry],
    members: dict[int, Member],
    tz: ZoneInfo,
) -> bytes:
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    _append(summary, [f"{team_name} {period} 绩效汇总"])
    summary["A1"].font = Font(bold=True, size=14)
    head = ["名次", "姓名", "账号", *(c.name for c in rubric.categories)]
    head += ["总分", "等级", "罚款(元)", "提成(元)"]
    summary.append(head)
    for cell in summary[2]:
        cell.font = Font(bold=True)
    for r in ranking:
        s = r.score
        _append(
            summary,
            [
                r.rank,
                r.member.name,
                r.member.user_id,
                *(_num(c.earned) for c in s.categories),
                _num(s.total),
                s.grade,
                _num(s.fines),
                None if s.commission is None else _num(s.commission),
            ],
        )

    detail = wb.create_sheet("明细")
    detail.append(
        [
            "编号",
            "时间",
            "姓名",
            "分类",
            "项目",
            "数量",
            "分值",
            "罚款(元)",
            "链接",
            "备注",
            "记录人",
            "已撤销",
            "撤销人",
            "撤销原因",
        ]
    )
    for cell in detail[1]:
        cell.font = Font(bold=True)
    for e in entries:
        item = rubric.item(e.item_key)
        category = rubric.category(item.category).name if item else ""
        points = (
            _num(Fraction(item.points) * e.quantity) if item and item.points is not None else None
        )
        member = members.get(e.member_id)
        _append(
            detail,
            [
                e.id,
                to_local(e.created_at, tz).strftime("%Y-%m-%d %H:%M:%S"),
                member.name if member else e.member_id,
                category,
                item.name if item else e.item_key,
                e.quantity,
                points,
                e.fine_cents / 100 if e.fine_cents else 0,
                e.link,
                e.note,
                e.created_by_name,
                "是" if e.revoked_at else "",
                e.revoked_by_name,
                e.revoke_reason,
            ],
        )
    for sheet in (summary, detail):
        for col in sheet.columns:
            width = max(len(str(c.value or "")) for c in col[1:] or col)
            sheet.column_dimensions[col[0].column_letter].width = min(50, max(8, width * 1.6))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


async def export_month(
    session: AsyncSession,
    rubric: Rubric,
    base: Decimal | None,
    team: Team,
    period: str,
    tz: ZoneInfo,
) -> tuple[bytes, int, int]:
    """The workbook of a team's month (the settled snapshot if settled): (bytes, people, entries)."""
    rubric, base = await month_rules(session, team.id, period, rubric, base)
    ranking = await team_month_scores(session, rubric, team.id, period, base)
    entries = await all_entries(session, team.id, period)
    ids = {e.member_id for e in entries} | {r.member.id for r in ranking}
    rows = await session.execute(select(Member).where(Member.id.in_(ids)))
    members = {m.id: m for m in rows.scalars()}
    data = build_workbook(rubric, team.name, period, ranking, entries, members, tz)
    return data, len(ranking), len(entries)
