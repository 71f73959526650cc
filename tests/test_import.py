"""Importing a month's records (issue 24): the file read in either format, every row checked
as `/扣分` checks a mark, all rows written in one unit or none, the same file refused naming
the earlier import, each row audited."""

from __future__ import annotations

import io
from datetime import date

import pytest
from nonebug import App
from openpyxl import Workbook
from sqlalchemy import func, select

from bot import door
from models.importer import (
    HEADER,
    ImportRequest,
    apply_import,
    check_file,
    read_rows,
    template_csv,
)
from models.ledger import Refused
from models.rubric import load_rubric
from models.tables import AuditLog, Entry, ImportBatch
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    LI,
    ZHANG,
    frozen_clock,
    ids,
    team_a,
)
from tests.test_rubric_web_store import settle
from tests.utils import at, plain, said

TODAY = date(2026, 11, 20)


def csv_file(*rows: tuple) -> bytes:
    lines = [",".join(HEADER), *(",".join(str(c) for c in r) for r in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def xlsx_file(*rows: tuple, header=HEADER) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.append(list(header))
    for r in rows:
        ws.append(list(r))
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_the_template_has_the_header_and_reads_back():
    rows = read_rows(template_csv(), "模板.csv")
    assert template_csv().decode("utf-8-sig").splitlines()[0] == "姓名或QQ,项目,次数,日期,备注"
    assert [(r.who, r.item, r.count) for r in rows] == [
        ("张三", "迟到", "1"),
        ("10001", "请假", "0.5"),
    ]


def test_xlsx_with_excel_dates_and_columns_in_another_order():
    from datetime import datetime

    data = xlsx_file(
        ("迟到", "张三", datetime(2026, 11, 3), 2, "堵车"),
        header=("项目", "姓名", "日期", "次数", "备注"),
    )
    (row,) = read_rows(data, "考勤.xlsx")
    assert (row.who, row.item, row.count, row.day, row.note) == (
        "张三",
        "迟到",
        "2",
        date(2026, 11, 3),
        "堵车",
    )


def test_gbk_csv_is_read():
    text = "姓名或QQ,项目,次数,日期,备注\r\n张三,迟到,1,2026/11/3,\r\n"
    (row,) = read_rows(text.encode("gbk"), "考勤.csv")
    assert (row.who, row.item) == ("张三", "迟到")


@pytest.mark.parametrize(
    ("data", "name", "why"),
    [
        (b"", "a.csv", "空的"),
        ("名字,东西\r\n张三,迟到\r\n".encode(), "a.csv", "表头缺少 项目、次数、日期"),
        (",".join(HEADER).encode(), "a.csv", "只有表头"),
        (b"PK\x03\x04 not really", "a.xlsx", "不是有效的 .xlsx"),
        (b"x", "a.pdf", "只能导入 .xlsx 或 .csv"),
    ],
)
def test_a_file_that_is_not_the_table_is_refused_saying_why(data, name, why):
    with pytest.raises(Refused, match=why):
        read_rows(data, name)


async def _check(team_id: int, data: bytes, actor_uid: str = str(BOSS)):
    return await door.read(
        lambda s: check_file(
            s, team_id, data, "考勤.csv", load_rubric(), actor_user_id=actor_uid, today=TODAY
        )
    )


async def test_every_row_gets_its_result_or_its_error(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    data = csv_file(
        ("张三", "迟到", 2, "2026-11-03", "堵车"),
        (str(LI), "请假", "0.5", "2026-11-04", ""),
        ("赵六", "迟到", 1, "2026-11-03", ""),
        ("张三", "软文", 1, "2026-11-03", ""),
        ("张三", "严重投诉", 1, "2026-11-03", ""),
        ("张三", "迟到", "1.5", "2026-11-03", ""),
        ("张三", "迟到", 1, "2026-11-31", ""),
        ("张三", "迟到", 1, "2026-11-25", ""),
        ("王主管", "迟到", 1, "2026-11-03", ""),
        ("张三", "迟到", 0, "2026-11-03", ""),
    )
    rows = await _check(a, data)
    got = [(r.raw.line, r.name, r.item_key, r.quantity, r.period, r.error) for r in rows]
    assert got[0] == (2, "张三", "late", 2, "2026-11", None)
    assert got[1] == (3, "李四", "leave", 0.5, "2026-11", None)
    errors = [r.error for r in rows[2:]]
    assert errors[0] == "团队里没有“赵六”（写成员名单上的名字或 QQ 号）"
    assert errors[1] == "自建渠道软文是客服自报项目，不能导入"
    assert "要写罚款金额" in errors[2]
    assert errors[3] == "迟到的次数必须是整数（收到 1.5）"
    assert errors[4] == "日期 “2026-11-31” 无效（写成 2026-11-03）"
    assert errors[5] == "日期 2026-11-25 还没到"
    assert errors[6] == "不能给自己扣分或加分"  # BOSS imports: 王主管 is BOSS
    assert errors[7] == "次数必须在 1–100 之间，收到 0"


async def test_a_settled_month_is_an_error_of_its_rows(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    await settle(app, "2026-11")
    (row,) = await _check(a, csv_file(("张三", "迟到", 1, "2026-11-03", "")))
    assert row.error == "2026-11 已结算，不能再修改（如需更正请超级管理员 /重开 2026-11）"


def _request(team_id: int, data: bytes) -> ImportRequest:
    return ImportRequest(team_id, data, "考勤.csv", f"qq:{BOSS}", str(BOSS), "王主管", TODAY)


async def _count(model, *where) -> int:
    return await door.read(
        lambda s: s.execute(select(func.count()).select_from(model).where(*where)).scalar_one()
    )


async def test_all_rows_are_imported_as_one_unit_audited_and_the_same_file_is_refused(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    entries = await _count(Entry)
    data = csv_file(
        ("张三", "迟到", 2, "2026-11-03", "堵车"), (str(LI), "早退", 1, "2026-11-04", "")
    )
    done = await door.write(a, lambda s: apply_import(s, _request(a, data), load_rubric()))
    assert len(done.entry_ids) == 2
    assert await _count(Entry) == entries + 2
    assert await _count(Entry, Entry.source.like("web:import:1:%")) == 2
    assert (
        await _count(AuditLog, AuditLog.action == "entry.create", AuditLog.channel == "网页") == 2
    )
    detail = plain(await said(app, ["/明细 ", at(ZHANG)], BOSS))
    assert "迟到 ×2" in detail
    with pytest.raises(
        Refused, match=r"这个文件已经导入过（第 1 次导入，.*王主管，2 行，文件 考勤.csv）"
    ):
        await door.write(a, lambda s: apply_import(s, _request(a, data), load_rubric()))
    assert await _count(Entry) == entries + 2
    assert await _count(ImportBatch) == 1


async def test_one_bad_row_imports_nothing(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    entries = await _count(Entry)
    data = csv_file(("张三", "迟到", 1, "2026-11-03", ""), ("赵六", "迟到", 1, "2026-11-03", ""))
    with pytest.raises(Refused, match="有 1 行不能导入（第 3 行：团队里没有“赵六”"):
        await door.write(a, lambda s: apply_import(s, _request(a, data), load_rubric()))
    assert await _count(Entry) == entries
    assert await _count(ImportBatch) == 0
