"""The hot path's statements run on the DB-API cursor (`models.prepared`): the same rows,
the same values written, the same errors and events as through SQLAlchemy, on both
engines."""

from datetime import date, datetime

import pytest
from sqlalchemy import bindparam, func, insert, select
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import db
from models.prepared import Prepared
from models.tables import Entry, Member, Team

AT = datetime(2026, 11, 3, 8, 0, 0)  # whole seconds: SQLite text must still carry .000000
MEMBERS = select(*Member.__table__.c).where(Member.team_id == bindparam("team_id"))


def _seed(s: Session) -> None:
    s.add(Team(id=1, name="客服一组", created_at=AT))
    s.flush()
    s.add(Member(team_id=1, platform="qq", user_id="1", name="张三", joined_on=date(2026, 1, 5)))
    s.add(
        Member(
            team_id=1,
            platform="qq",
            user_id="2",
            name="李四",
            joined_on=date(2026, 2, 1),
            left_on=date(2026, 10, 31),
        )
    )


async def test_rows_are_the_ones_sqlalchemy_returns_dates_included(app):
    await db.unit_of_work_sync(_seed)

    def both(s: Session):
        conn = s.connection()
        mine = Prepared(MEMBERS).all(conn, {"team_id": 1})
        theirs = [tuple(r) for r in conn.execute(MEMBERS, {"team_id": 1}).all()]
        return mine, theirs

    mine, theirs = await db.unit_of_work_sync(both)
    assert mine == theirs
    cols = [c.name for c in Member.__table__.c]
    name, left = cols.index("name"), cols.index("left_on")
    assert sorted((r[name], r[left]) for r in mine) == [
        ("张三", None),
        ("李四", date(2026, 10, 31)),
    ]


async def test_a_datetime_is_written_and_compared_as_sqlalchemy_writes_it(app):
    """SQLite keeps datetimes as text: a row written on the cursor must be found by
    SQLAlchemy's own comparisons, and the other way round."""
    await db.unit_of_work_sync(_seed)
    keys = ["team_id", "member_id", "period", "item_key", "quantity", "fine_cents"]
    keys += ["created_at", "created_by", "created_by_name", "source"]
    add = Prepared(insert(Entry.__table__).returning(Entry.__table__.c.id), keys=keys)
    count = select(func.count(Entry.id)).where(Entry.created_at >= bindparam("since"))

    def write_and_count(s: Session):
        conn = s.connection()
        row = dict.fromkeys(keys)
        row.update(team_id=1, member_id=1, period="2026-11", item_key="article", quantity=1)
        row.update(fine_cents=0, created_at=AT, created_by="qq:1", created_by_name="张三")
        [(entry_id,)] = add.all(conn, row)
        theirs = conn.execute(count, {"since": AT}).scalar_one()
        mine = Prepared(count).all(conn, {"since": AT})
        return entry_id, theirs, mine

    entry_id, theirs, mine = await db.unit_of_work_sync(write_and_count)
    assert (theirs, mine) == (1, [(1,)])
    async with db.reading() as s:
        stored = await s.get(Entry, entry_id)
    assert stored is not None
    assert stored.created_at == AT


async def test_a_constraint_violation_is_sqlalchemys_integrity_error(app):
    await db.unit_of_work_sync(_seed)
    add_team = Prepared(insert(Team.__table__), keys=["id", "name", "created_at"])

    def twice(s: Session) -> None:
        add_team.run(s.connection(), {"id": 1, "name": "重复", "created_at": AT})

    with pytest.raises(IntegrityError):
        await db.unit_of_work_sync(twice)


async def test_listeners_see_the_statement_and_the_read_only_guard_holds(app):
    await db.unit_of_work_sync(_seed)
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    engine = db.write_engine()
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        await db.unit_of_work_sync(lambda s: Prepared(MEMBERS).all(s.connection(), {"team_id": 1}))
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)
    assert any(sql.lstrip().upper().startswith("SELECT") and "member" in sql for sql in seen)

    add_team = Prepared(insert(Team.__table__), keys=["name", "created_at"])
    async with db.reading() as s:
        with db.read_only(), pytest.raises(db.WriteInReadOnly):
            await s.run_sync(
                lambda ss: add_team.run(ss.connection(), {"name": "x", "created_at": AT})
            )
