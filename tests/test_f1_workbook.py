"""Issue 23 (part 1), SPEC §4 "the workbook is a payroll document": /导出 has no formula in
any cell, numbers as chat shows them (one decimal, ¥ with two), a totals row, a frozen
header, filters, landscape one page wide, dates as dates, a month column, fines and accepted
appeals per agent, and the post's record count (revoked ones apart). Read back with openpyxl
and with LibreOffice (`soffice --headless`); without soffice the LibreOffice test is skipped
on a developer's machine and fails in CI (`tools/ensure_browser.sh` installs it)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import shutil
import subprocess
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from nonebug import App
from openpyxl import load_workbook
from sqlalchemy import update

from bot import db
from models.tables import Entry, Member
from tests.test_f1_payroll import ZHANG, entry_id, export, flush, october, settle_october
from tests.utils import OWNER, at, said

NAME = '=HYPERLINK("http://x","点我")'
NOTES = ["=1+1", "+1", "-1 扣", "@SUM(A1)", "\t制表"]


@pytest.fixture
def paid(monkeypatch) -> None:
    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_commission_base", Decimal("8000"))


async def payroll_month(app: App) -> tuple[str, bytes, str]:
    """October with an accepted appeal (a revoked entry), formula-like names and notes,
    settled and posted; returns (the /导出 reply, the workbook, the post)."""
    await october(app)
    complaint = await entry_id("complaint")
    assert (await said(app, f"/申诉 #{complaint} 打错人了", ZHANG, card="张三"))[0] == "✅"
    assert (await said(app, f"/撤销 #{complaint} 申诉成立", OWNER, role="owner"))[0] == "✅"
    async with db.writing() as s:
        await s.execute(update(Member).where(Member.user_id == str(ZHANG)).values(name=NAME))
        for i, note in enumerate(NOTES, start=1):
            await s.execute(update(Entry).where(Entry.id == i).values(note=note))
    await settle_october(app)
    post = (await flush(app))[0]
    reply, data = await export(app)
    return reply, data, post


async def test_the_workbook_has_no_formula_and_reads_as_a_payroll_document(app: App, paid):
    reply, data, post = await payroll_month(app)
    count = int(re.search(r"当月共 (\d+) 条记录", post).group(1))
    assert reply.startswith(f"✅ 已导出 2026-10 绩效表（2 人，{count} 条记录）"), reply
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["汇总", "明细", "已撤销"]
    texts = []
    for sheet in wb:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str) and cell.value[:1] in "=+-@\t\r":
                    assert cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)
                    texts.append(cell.value)
    assert NAME in texts
    assert set(NOTES) <= set(texts)

    summary = wb["汇总"]
    head = [c.value for c in summary[2]]
    assert head[:3] == ["名次", "姓名", "账号"]
    assert head[-6:] == ["等级", "记录数", "申诉受理", "罚款(元)", "提成(元)", "月份"]
    col = {name: i for i, name in enumerate(head)}
    *agents, totals = list(summary.iter_rows(min_row=3))
    by_name = {r[1].value: r for r in agents}
    li, zhang = by_name["李四"], by_name[NAME]
    assert li[col["总分"]].number_format == "0.0"
    assert li[col["人事考核"]].number_format == "0.0"
    assert li[col["罚款(元)"]].number_format == '"¥"#,##0.00'
    assert li[col["罚款(元)"]].value == 200
    assert li[col["提成(元)"]].number_format == '"¥"#,##0.00'
    assert zhang[col["申诉受理"]].value == 1
    assert {r[col["月份"]].value for r in [*agents, totals]} == {"2026-10"}
    assert totals[1].value == "合计（2 人）"
    assert totals[col["记录数"]].value == count
    assert sum(r[col["记录数"]].value for r in agents) == count
    assert totals[col["罚款(元)"]].value == 200
    pay = [r[col["提成(元)"]].value for r in agents]
    assert totals[col["提成(元)"]].value == pytest.approx(sum(pay))
    assert all(round(v, 2) == v for v in pay)
    assert summary.freeze_panes == "A3"
    assert summary.auto_filter.ref == f"A2:{summary.cell(2, len(head)).column_letter}4"

    detail, revoked = wb["明细"], wb["已撤销"]
    assert detail.max_row - 1 == count
    assert revoked.max_row - 1 == 1
    assert detail.freeze_panes == "A2"
    assert detail.auto_filter.ref.startswith("A1:")
    dhead = [c.value for c in detail[1]]
    assert isinstance(detail.cell(2, dhead.index("时间") + 1).value, datetime)
    assert detail.cell(2, dhead.index("时间") + 1).number_format == "yyyy-mm-dd hh:mm"
    assert {detail.cell(r, len(dhead)).value for r in range(2, detail.max_row + 1)} == {"2026-10"}
    gone = [c.value for c in revoked[2]]
    rhead = [c.value for c in revoked[1]]
    assert gone[rhead.index("申诉")] == "申诉受理"
    assert gone[rhead.index("撤销原因")] == "申诉成立"
    for sheet in wb:
        assert sheet.page_setup.orientation == "landscape"
        assert sheet.page_setup.fitToWidth == 1
        assert sheet.page_setup.fitToHeight == 0
        assert sheet.sheet_properties.pageSetUpPr.fitToPage


def soffice() -> str:
    path = shutil.which("soffice")
    if path is None:
        if os.environ.get("CI"):
            raise RuntimeError("CI needs LibreOffice: apt-get install -y libreoffice-calc")
        pytest.skip(
            "LibreOffice 测试跳过：没有 soffice（apt-get install -y libreoffice-calc 后即可运行）"
        )
    return path


def convert(xlsx: Path, to: str, out: Path) -> None:
    """`soffice --headless --convert-to`, with a profile of its own (no clash with a
    LibreOffice already running for the same user)."""
    profile = (out / "profile").resolve().as_uri()
    done = subprocess.run(
        [soffice(), f"-env:UserInstallation={profile}", "--headless", "--norestore",
         "--convert-to", to, "--outdir", str(out), str(xlsx)],
        capture_output=True, text=True, timeout=180, env={**os.environ, "HOME": str(out)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def read_csvs(folder: Path) -> dict[str, list[list[str]]]:
    return {
        p.stem.removeprefix("october-"): list(csv.reader(p.open(encoding="utf-8", newline="")))
        for p in folder.glob("october-*.csv")
    }


async def test_libreoffice_opens_the_workbook_as_text_and_prints_each_sheet_one_page_wide(
    app: App, paid, tmp_path: Path
):
    soffice()
    _, data, _ = await payroll_month(app)
    xlsx = tmp_path / "october.xlsx"
    xlsx.write_bytes(data)
    # every sheet as CSV (field 9: as shown, field 12 = -1: each sheet), as LibreOffice reads it
    await asyncio.to_thread(
        convert, xlsx, "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1",
        tmp_path,
    )  # fmt: skip
    sheets = await asyncio.to_thread(read_csvs, tmp_path)
    assert set(sheets) == {"汇总", "明细", "已撤销"}, sheets.keys()
    names = [row[1] for row in sheets["汇总"][2:]]
    assert NAME in names  # not 点我: no link was made
    assert "合计（2 人）" in names
    notes = [row[9] for row in sheets["明细"][1:]]
    for note in NOTES:
        assert note.strip() in [n.strip() for n in notes], notes  # not 2, 1, -1, #NAME?
    li = next(row for row in sheets["汇总"] if row[1] == "李四")
    assert "¥200.00" in li
    assert re.fullmatch(r"\d+\.\d", li[7]), li

    await asyncio.to_thread(convert, xlsx, "pdf", tmp_path)
    pdf = (tmp_path / "october.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == 3, pages  # one page a sheet: landscape, one page wide
    keep = os.environ.get("KPI_KEEP_WORKBOOK_PDF")
    if keep:
        shutil.copy(tmp_path / "october.pdf", keep)
        shutil.copy(xlsx, Path(keep).with_suffix(".xlsx"))


async def test_a_half_days_points_in_the_workbook_are_what_chat_shows(app: App):
    """A half day's leave is −0.25: chat shows −0.3 (half up on its size), and so does the
    workbook's 分值 cell — the value itself, not only its format (SPEC §1, §4)."""
    await october(app)
    for days in ("半天", "1.5"):
        reply = await said(app, ["/请假 ", at(ZHANG), f" {days}"], OWNER, role="owner")
        assert reply.startswith("✅"), reply
    _, data = await export(app)
    detail = load_workbook(io.BytesIO(data))["明细"]
    head = [c.value for c in detail[1]]
    points = {
        detail.cell(r, head.index("数量") + 1).value: detail.cell(r, head.index("分值") + 1).value
        for r in range(2, detail.max_row + 1)
        if detail.cell(r, head.index("项目") + 1).value == "请假"
    }
    assert points == {0.5: -0.3, 1.5: -0.8}, points
