"""Importing a month's records from a spreadsheet (issue 24): an attendance export, or the
template `姓名或QQ,项目,次数,日期,备注`, as .xlsx or .csv.

1. `read_rows` reads the file (any header order; UTF-8 or GBK csv; dates as Excel dates or
   text) into plain rows, or refuses the whole file saying why.
2. `check_rows` checks every row as `/扣分` checks a mark (SPEC §3): the person named by
   name or QQ number is an agent of the team for that month, not the one importing; the
   item is one a supervisor logs and needs no fine; the count is 1–max (halves only for a
   `step = 0.5` item); the date is a day of a month that is not settled and not in the
   future. Each row gets its result or its error; the preview shows them all.
3. `apply_import` (in the door's one transaction) checks them again against the data as it
   is then and writes every row or none: a file whose content was imported before (the
   same SHA-256) is refused naming that import; each row is one entry with its audit row,
   written by the one entry writer (`ledger.write_entry`), channel 网页.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from .ledger import Refused, write_entry
from .periods import period_bounds, utcnow
from .quantity import Half
from .rights import SELF_MARK
from .roster import _scored, audit
from .rubric import Item, Rubric
from .tables import ImportBatch, Member, MemberAccount, Settlement

HEADER = ("姓名或QQ", "项目", "次数", "日期", "备注")
MAX_ROWS = 5000
MAX_BYTES = 2_000_000
NOTE_MAX = 200
_ALIASES = {
    "姓名或QQ": ("姓名或qq", "姓名", "名字", "qq", "qq号", "成员", "员工"),
    "项目": ("项目", "考核项目", "类型", "事项"),
    "次数": ("次数", "数量", "天数"),
    "日期": ("日期", "时间", "日子"),
    "备注": ("备注", "说明", "原因"),
}


def template_csv() -> bytes:
    """The template to download: the header and two example rows (UTF-8 with BOM, so
    Excel opens it in Chinese)."""
    rows = [
        HEADER,
        ("张三", "迟到", "1", "2026-11-03", "堵车"),
        ("10001", "请假", "0.5", "2026-11-04", ""),
    ]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- 1. reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RawRow:
    line: int  # the row's number in the file (the header is 1)
    who: str
    item: str
    count: str
    day: str | date
    note: str


def _cell(v: object) -> str | date:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return unicodedata.normalize("NFKC", str(v)).strip()


def _table(data: bytes, filename: str) -> list[list[str | date]]:
    name = filename.lower()
    if name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except Exception:
            raise Refused(
                "文件不是有效的 .xlsx 表格（请用 Excel / WPS 另存为 .xlsx 或 .csv）"
            ) from None
        ws = wb.worksheets[0]
        rows = [[_cell(v) for v in row] for row in ws.iter_rows(values_only=True)]
        wb.close()
        return rows
    if name.endswith(".csv"):
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise Refused("无法识别 .csv 的编码（请存为 UTF-8 或 GBK）")
        return [[_cell(v) for v in row] for row in csv.reader(io.StringIO(text))]
    raise Refused("只能导入 .xlsx 或 .csv 文件（表头：" + ",".join(HEADER) + "）")


def read_rows(data: bytes, filename: str) -> list[RawRow]:
    """The data rows of the file's first sheet; Refused for a file that is not a table
    with the template's header (columns in any order; 备注 may be left out)."""
    if not data:
        raise Refused("文件是空的")
    if len(data) > MAX_BYTES:
        raise Refused(f"文件太大（最多 {MAX_BYTES // 1_000_000} MB）")
    table = [r for r in _table(data, filename) if any(str(c).strip() for c in r)]
    if not table:
        raise Refused("文件里没有内容")
    head = [str(c).strip().lower().replace(" ", "") for c in table[0]]
    where: dict[str, int] = {}
    for col, names in _ALIASES.items():
        for i, h in enumerate(head):
            if h in names and i not in where.values():
                where[col] = i
                break
    missing = [c for c in HEADER[:4] if c not in where]
    if missing:
        raise Refused(f"表头缺少 {'、'.join(missing)}：第一行应是 {','.join(HEADER)}（可下载模板）")
    if len(table) - 1 > MAX_ROWS:
        raise Refused(f"一次最多导入 {MAX_ROWS} 行（这个文件有 {len(table) - 1} 行）")

    def at(row: list, col: str) -> str | date:
        i = where.get(col)
        return row[i] if i is not None and i < len(row) else ""

    out = []
    for n, row in enumerate(table[1:], start=2):
        out.append(
            RawRow(
                n,
                str(at(row, "姓名或QQ")),
                str(at(row, "项目")),
                str(at(row, "次数")),
                at(row, "日期"),
                str(at(row, "备注")),
            )
        )
    if not out:
        raise Refused("文件里只有表头，没有记录")
    return out


# ---- 2. checking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """A member of the team as the check needs them (plain values)."""

    id: int
    name: str
    user_id: str
    role: str
    accounts: tuple[str, ...] = ()  # the user ids of the accounts linked to the member


@dataclass(frozen=True)
class Checked:
    raw: RawRow
    member_id: int | None = None
    name: str = ""
    item_key: str = ""
    item_name: str = ""
    quantity: int | Fraction = 0
    day: date | None = None
    note: str | None = None
    error: str | None = None

    @property
    def period(self) -> str:
        return self.day.strftime("%Y-%m") if self.day else ""


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def parse_day(v: str | date) -> date | None:
    if isinstance(v, date):
        return v
    m = _DATE.match(v.strip())
    if not m:
        return None
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return None


def parse_count(text: str, item: Item, top: int) -> int | Fraction:
    """1 when empty; whole 1–top; halves (`0.5`, `半天`, `1.5`) for a `step = 0.5` item."""
    t = text.strip().removesuffix("次").removesuffix("天").strip()
    if t in ("", "1"):
        return 1
    if t == "半":
        t = "0.5"
    try:
        q = Fraction(t)
    except (ValueError, ZeroDivisionError):
        raise Refused(f"次数 “{text}” 不是数字") from None
    if q.denominator == 1:
        q = int(q)
    elif not (item.step is not None and q.denominator == 2):
        raise Refused(f"{item.name}的次数必须是整数（收到 {text}）")
    else:
        q = Half(q)
    if not 0 < q <= top:
        raise Refused(f"次数必须在 1–{top} 之间，收到 {text}")
    return q


def check_rows(
    rows: list[RawRow],
    people: list[Person],
    rubric: Rubric,
    *,
    actor_user_id: str | None,
    today: date,
    settled: set[str],
    scored: dict[str, set[int]],
) -> list[Checked]:
    """Each row's result or error (see the module docstring). `people`: the team's
    members; `scored`: month → ids of the agents scored for it (`roster._scored`);
    `settled`: the team's settled months."""
    by_id = {uid: p for p in people for uid in (p.user_id, *p.accounts)}
    by_name: dict[str, list[Person]] = {}
    for p in people:
        by_name.setdefault(unicodedata.normalize("NFKC", p.name).strip().lower(), []).append(p)
    out = []
    for raw in rows:
        try:
            out.append(_check(raw, by_id, by_name, rubric, actor_user_id, today, settled, scored))
        except Refused as e:
            out.append(Checked(raw, error=str(e)))
    return out


def _check(
    raw: RawRow,
    by_id: dict[str, Person],
    by_name: dict[str, list[Person]],
    rubric: Rubric,
    actor_user_id: str | None,
    today: date,
    settled: set[str],
    scored: dict[str, set[int]],
) -> Checked:
    person = _person(raw, by_id, by_name)
    if actor_user_id in (person.user_id, *person.accounts):
        raise Refused(SELF_MARK)
    if person.role != "agent":
        raise Refused(f"{person.name} 是主管，不参与考核")
    word = raw.item.strip()
    item = rubric.find_item(word) if word else None
    if item is None:
        choices = "、".join(i.name for i in rubric.supervisor_items())
        raise Refused(f"“{word}”不是扣分或加分项目。可用：{choices}" if word else "没有写项目")
    if rubric.who_logs(item) == "self":
        raise Refused(f"{item.name}是客服自报项目，不能导入")
    if item.fine:
        raise Refused(
            f"{item.name}要写罚款金额，请在群里登记（/{item.commands[0] if item.commands else item.name}）"
        )
    top = item.max_quantity or rubric.limits.supervisor_max_quantity
    quantity = parse_count(raw.count, item, top)
    day = parse_day(raw.day)
    if day is None:
        raise Refused(f"日期 “{raw.day}” 无效（写成 2026-11-03）")
    if day > today:
        raise Refused(f"日期 {day} 还没到")
    period = day.strftime("%Y-%m")
    if period in settled:
        raise Refused(f"{period} 已结算，不能再修改（如需更正请超级管理员 /重开 {period}）")
    if person.id not in scored.get(period, set()):
        raise Refused(f"{person.name} {period} 不在团队里，不参与考核")
    note = raw.note.strip()[:NOTE_MAX] or None
    return Checked(raw, person.id, person.name, item.key, item.name, quantity, day, note)


def _person(raw: RawRow, by_id: dict[str, Person], by_name: dict[str, list[Person]]) -> Person:
    who = raw.who.strip().removeprefix("@")
    if not who:
        raise Refused("没有写姓名或QQ")
    if who.isdigit() and who in by_id:  # a QQ number (own or linked)
        return by_id[who]
    found = by_name.get(who.lower(), [])
    if not found and who in by_id:  # another platform's id of a member's account
        return by_id[who]
    if len(found) > 1:
        raise Refused(f"团队里有 {len(found)} 位叫“{who}”的成员，请写 QQ 号")
    if not found:
        raise Refused(f"团队里没有“{who}”（写成员名单上的名字或 QQ 号）")
    return found[0]


# ---- 3. in the transaction -------------------------------------------------------------------


def team_facts(
    s: Session, team_id: int, periods: set[str]
) -> tuple[list[Person], set[str], dict[str, set[int]]]:
    """(members, settled months, agents scored per month) of the team, as `check_rows`
    needs them."""
    linked: dict[int, list[str]] = {}
    for mid, uid in s.execute(
        select(MemberAccount.member_id, MemberAccount.user_id).where(
            MemberAccount.team_id == team_id
        )
    ).all():
        linked.setdefault(mid, []).append(uid)
    people = [
        Person(mid, name, uid, role, tuple(linked.get(mid, ())))
        for mid, name, uid, role in s.execute(
            select(Member.id, Member.name, Member.user_id, Member.role)
            .where(Member.team_id == team_id)
            .order_by(Member.id)
        ).all()
    ]
    settled = set(
        s.execute(
            select(Settlement.period).where(
                Settlement.team_id == team_id, Settlement.status == "settled"
            )
        ).scalars()
    )
    scored = {
        p: set(s.execute(select(Member.id).where(*_scored(team_id, p))).scalars())
        for p in periods
        if _valid_period(p)
    }
    return people, settled, scored


def _valid_period(p: str) -> bool:
    try:
        period_bounds(p)
    except ValueError:
        return False
    return True


def periods_of(rows: list[RawRow]) -> set[str]:
    return {d.strftime("%Y-%m") for r in rows if (d := parse_day(r.day)) is not None}


def check_file(
    s: Session,
    team_id: int,
    data: bytes,
    filename: str,
    rubric: Rubric,
    *,
    actor_user_id: str | None,
    today: date,
) -> list[Checked]:
    """Read and check a file against the team as it is now (the preview)."""
    rows = read_rows(data, filename)
    people, settled, scored = team_facts(s, team_id, periods_of(rows))
    return check_rows(
        rows,
        people,
        rubric,
        actor_user_id=actor_user_id,
        today=today,
        settled=settled,
        scored=scored,
    )


def earlier_import(s: Session, team_id: int, digest: str) -> ImportBatch | None:
    return s.execute(
        select(ImportBatch).where(ImportBatch.team_id == team_id, ImportBatch.sha256 == digest)
    ).scalar_one_or_none()


def refuse_again(batch: ImportBatch, when: str) -> Refused:
    return Refused(
        f"这个文件已经导入过（第 {batch.id} 次导入，{when}，{batch.created_by_name}，"
        f"{batch.rows} 行，文件 {batch.filename}），没有再导入"
    )


@dataclass(frozen=True)
class ImportRequest:
    team_id: int
    data: bytes
    filename: str
    actor: str  # "platform:user_id"
    actor_user_id: str
    actor_name: str
    today: date
    channel: str = "网页"


@dataclass(frozen=True)
class Imported:
    batch_id: int
    rows: list[Checked]
    entry_ids: list[int]


def apply_import(
    s: Session, req: ImportRequest, rubric: Rubric, when: Callable[[datetime], str] = str
) -> Imported:
    """Every row of the file as one entry, or nothing: Refused when the same content was
    imported before (naming that import) or when any row has an error now."""
    digest = content_hash(req.data)
    before = earlier_import(s, req.team_id, digest)
    if before is not None:
        raise refuse_again(before, when(before.created_at))
    checked = check_file(
        s,
        req.team_id,
        req.data,
        req.filename,
        rubric,
        actor_user_id=req.actor_user_id,
        today=req.today,
    )
    bad = [c for c in checked if c.error]
    if bad:
        first = "；".join(f"第 {c.raw.line} 行：{c.error}" for c in bad[:3])
        raise Refused(f"有 {len(bad)} 行不能导入（{first}），本次没有导入任何内容")
    now = utcnow()
    batch = ImportBatch(
        team_id=req.team_id,
        sha256=digest,
        filename=req.filename[:200],
        rows=len(checked),
        created_at=now,
        created_by=req.actor,
        created_by_name=req.actor_name,
    )
    s.add(batch)
    s.flush()
    ids = []
    for c in checked:
        values = {
            "team_id": req.team_id,
            "member_id": c.member_id,
            "period": c.period,
            "item_key": c.item_key,
            "quantity": c.quantity,
            "fine_cents": 0,
            "link": None,
            "note": c.note,
            "image_url": None,
            "image_file": None,
            "created_at": now,
            "created_by": req.actor,
            "created_by_name": req.actor_name,
            "source": f"web:import:{batch.id}:{c.raw.line}",
        }
        ids.append(write_entry(s, values, req.channel))
    audit(
        s,
        req.team_id,
        req.actor,
        "import",
        f"import#{batch.id}",
        None,
        {"file": batch.filename, "rows": batch.rows, "by": req.actor_name},
        req.channel,
    )
    return Imported(batch.id, checked, ids)
