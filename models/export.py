"""The month as an .xlsx workbook a boss can pay from (SPEC §4 "the workbook is a payroll
document"): sheet 汇总 (one row per agent and a totals row), 明细 (every entry the post
counts) and 已撤销 (the revoked ones, apart).

- No cell is ever a formula: text is written as text, whatever it starts with (`= + - @`,
  a tab or a CR), and marked so that editing it in a spreadsheet keeps it text.
- Numbers are what chat shows: points half up to one decimal, money half up to the cent
  with ¥; a settled month is its stored scores (`models.settlement.month_scores`).
- Each sheet has a frozen header, filters, and prints landscape, one page wide.
"""

from __future__ import annotations

import io
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy.ext.asyncio import AsyncSession

from .appeals import APPEAL_STATE
from .ledger import Ranked
from .periods import to_local
from .rubric import Rubric
from .scoring import money, round_half_up, round_signed
from .tables import Settlement, Team

if TYPE_CHECKING:
    from .usecases.scores import EntryRow

POINTS = "0.0"
MONEY = '"¥"#,##0.00'
WHEN = "yyyy-mm-dd hh:mm"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEAD_FILL = PatternFill("solid", fgColor="DDE4F0")
BOLD = Font(bold=True)


def _points(x: Fraction) -> Decimal:
    return round_half_up(x, 1)


def safe_text(v: str) -> str:
    """Text as a cell can hold it: the control characters openpyxl refuses are dropped (a
    note stored before notes were cleaned may hold one, and one such cell must not cost the
    whole team its workbook)."""
    return ILLEGAL_CHARACTERS_RE.sub("", v)


def _append(sheet: Worksheet, values: list, formats: dict[int, str] | None = None) -> None:
    """Add a row; text is always text, never a formula (a card typed as `=HYPERLINK(…)`
    stays those characters, SPEC §4), and a text cell that a spreadsheet would read as a
    formula once edited is quote-prefixed."""
    sheet.append([safe_text(v) if isinstance(v, str) else v for v in values])
    for i, cell in enumerate(sheet[sheet.max_row]):
        if isinstance(cell.value, str):
            cell.data_type = "s"
            if cell.value.startswith(FORMULA_STARTS):
                cell.quotePrefix = True
        elif formats and i in formats and cell.value is not None:
            cell.number_format = formats[i]


def _header(sheet: Worksheet, names: list[str]) -> None:
    _append(sheet, names)
    for cell in sheet[sheet.max_row]:
        cell.font, cell.fill = BOLD, HEAD_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")


def _display_width(v: object) -> int:
    text = v.strftime("%Y-%m-%d %H:%M") if isinstance(v, datetime) else str(v or "")
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _finish(sheet: Worksheet, header_row: int, last_data_row: int, title_rows: str) -> None:
    """Frozen header, filters over the data, column widths, landscape one page wide."""
    sheet.freeze_panes = sheet.cell(row=header_row + 1, column=1)
    last_col = sheet.cell(row=header_row, column=sheet.max_column).column_letter
    sheet.auto_filter.ref = f"A{header_row}:{last_col}{max(last_data_row, header_row)}"
    for col in sheet.iter_cols(min_row=header_row):
        width = max(_display_width(c.value) for c in col)
        sheet.column_dimensions[col[0].column_letter].width = min(60, max(6, width + 3))
    setup = sheet.page_setup
    setup.orientation = "landscape"
    setup.paperSize = sheet.PAPERSIZE_A4
    setup.fitToWidth, setup.fitToHeight = 1, 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    sheet.print_title_rows = title_rows
    sheet.print_options.gridLines = True
    sheet.page_margins.left = sheet.page_margins.right = 0.4


@dataclass
class MonthBook:
    """What the workbook says of a month, in plain values (gathered in one read by
    `models.usecases.exports.export`)."""

    team_name: str
    period: str
    state: str
    ranking: list[Ranked]
    entries: list[EntryRow]
    members: dict[int, str]  # member id → name
    appeals: dict[int, str]  # entry id → the state of its latest appeal
    accepted: Counter  # member id → accepted appeals


def build_workbook(rubric: Rubric, book: MonthBook, tz: ZoneInfo) -> bytes:
    valid = [e for e in book.entries if e.revoked_at is None]
    revoked = [e for e in book.entries if e.revoked_at is not None]
    counts = Counter(e.member_id for e in valid)
    wb = Workbook()
    summary = wb.active
    summary.title = "汇总"
    lines = f"记录 {len(valid)} 条" + (
        f"（另有已撤销 {len(revoked)} 条，见「已撤销」表）" if revoked else ""
    )
    _append(summary, [f"{book.team_name} {book.period} 绩效汇总（{book.state}）· {lines}"])
    summary["A1"].font = Font(bold=True, size=14)
    cats = [c.name for c in rubric.categories]
    head = ["名次", "姓名", "账号", *cats, "总分", "等级", "记录数", "申诉受理", "罚款(元)"]
    head += ["提成(元)", "月份"]
    _header(summary, head)
    n = len(cats)
    formats = {3 + i: POINTS for i in range(n + 1)} | {n + 7: MONEY, n + 8: MONEY}
    fines = commission = Decimal(0)
    paid = False
    for r in book.ranking:
        s = r.score
        fines += money(s.fines)
        if s.commission is not None:
            paid, commission = True, commission + money(s.commission)
        _append(
            summary,
            [
                r.rank,
                r.member.name,
                r.member.user_id,
                *(_points(c.earned) for c in s.categories),
                _points(s.total),
                s.grade,
                counts.get(r.member.id, 0),
                book.accepted.get(r.member.id, 0),
                money(s.fines),
                None if s.commission is None else money(s.commission),
                book.period,
            ],
            formats,
        )
    last = summary.max_row
    _append(
        summary,
        [
            None,
            f"合计（{len(book.ranking)} 人）",
            None,
            *([None] * (n + 2)),
            len(valid),
            sum(book.accepted.values()),
            fines,
            commission if paid else None,
            book.period,
        ],
        formats,
    )
    for cell in summary[summary.max_row]:
        cell.font = BOLD
    _finish(summary, 2, last, "2:2")

    detail = wb.create_sheet("明细")
    columns = ["编号", "时间", "姓名", "分类", "项目", "数量", "分值", "罚款(元)", "链接", "备注"]
    columns += ["记录人", "申诉", "月份"]
    _header(detail, columns)
    for e in valid:
        _append(detail, _entry_cells(rubric, book, e, tz), {1: WHEN, 6: POINTS, 7: MONEY})
    _finish(detail, 1, detail.max_row, "1:1")

    gone = wb.create_sheet("已撤销")
    _header(gone, [*columns, "撤销时间", "撤销人", "撤销原因"])
    for e in revoked:
        at = to_local(e.revoked_at, tz).replace(tzinfo=None)
        cells = [*_entry_cells(rubric, book, e, tz), at, e.revoked_by_name, e.revoke_reason]
        _append(gone, cells, {1: WHEN, 6: POINTS, 7: MONEY, 13: WHEN})
    _finish(gone, 1, gone.max_row, "1:1")
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _number(quantity: int | Fraction) -> int | float:
    """A quantity as a cell holds it: whole, or a half (0.5 is exact as a float)."""
    q = Fraction(quantity)
    return int(q) if q.denominator == 1 else float(q)


def _entry_cells(rubric: Rubric, book: MonthBook, e: EntryRow, tz: ZoneInfo) -> list:
    item = rubric.item(e.item_key)
    category = rubric.category(item.category).name if item else ""
    points = (
        round_signed(Fraction(item.points) * e.quantity, 1)
        if item and item.points is not None
        else None
    )
    return [
        e.id,
        to_local(e.created_at, tz).replace(tzinfo=None),
        book.members.get(e.member_id, ""),
        category,
        item.name if item else e.item_key,
        _number(e.quantity),
        points,
        money(Fraction(e.fine_cents, 100)) if e.fine_cents else None,
        e.link,
        e.note,
        e.created_by_name,
        APPEAL_STATE.get(book.appeals.get(e.id, ""), ""),
        book.period,
    ]


def month_state(settlement: Settlement | None) -> str:
    """How the workbook's title calls the month: 未结算, 已结算 (第 N 版), or reopened."""
    if settlement is None:
        return "未结算"
    if settlement.status != "settled":
        return "已重开，未重新结算"
    return f"已结算，第 {settlement.revision} 版" if settlement.revision > 1 else "已结算"


async def export_month(
    session: AsyncSession,
    rubric: Rubric,
    base: Decimal | None,
    team: Team,
    period: str,
    tz: ZoneInfo,
) -> tuple[bytes, int, int]:
    """The workbook of a team's month (its stored scores once settled): (bytes, people,
    entries the post counts, revoked ones apart) — `models.usecases.exports.export` on an
    async session, then `build_workbook`."""
    from .usecases.base import Policy
    from .usecases.exports import ExportRead, export

    request = ExportRead(team.id, team.name, period, rubric, base)
    done = await session.run_sync(lambda s: export(s, request, Policy(rubric, tz, base)))
    return build_workbook(done.rubric, done.book, tz), done.people, done.count
