"""The team page's live ranking is scored once per state of the month's entries (issue 24,
bench/dashboard.py): a new entry, a revoke, a rename or a new rubric shows at the next page."""

from __future__ import annotations

from nonebug import App
from sqlalchemy import select, update

from bot import db, door
from models import dashboard as dash
from models.ledger import revoke
from models.rubric import DEFAULT_RUBRIC_PATH, Rubric, load_rubric, parse_rubric
from models.tables import Entry, Member
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    LI,
    OWNER,
    ZHANG,
    frozen_clock,
    ids,
    login,
    table,
    team_a,
)
from tests.utils import at, said


async def test_team_page_follows_every_entry_revoke_and_rename(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    c = await login(app, BOSS)
    first = table((await c.get(f"/kpi/team/{a}")).text, "ranking")
    assert first[1][:2] == ["1", "李四"]
    assert first[2][1:7] == ["张三", "10", "47", "30", "1", "88.0"]
    await said(app, ["/迟到 ", at(ZHANG)], OWNER, role="owner")
    second = table((await c.get(f"/kpi/team/{a}")).text, "ranking")
    assert second[2][1:7] == ["张三", "9", "47", "30", "1", "87.0"]
    await said(app, "/撤销 #", OWNER, role="owner")  # nothing revoked: a bad id

    def fix(s):
        newest = s.execute(select(Entry).order_by(Entry.id.desc()).limit(1)).scalar_one()
        revoke(s, newest, "qq:10001", "老板", "登记错了")
        s.execute(update(Member).where(Member.name == "李四").values(name="李小四"))

    await door.write(a, fix)
    third = table((await c.get(f"/kpi/team/{a}")).text, "ranking")
    assert third[1][1] == "李小四"
    assert third[2][1:7] == ["张三", "10", "47", "30", "1", "88.0"]


async def test_as_many_revokes_as_new_entries_is_another_state(app: App):
    """k revokes and k new entries keep the count; Σ ids still moves (every new id is
    larger than every old one), so the scores are not taken from before."""
    await team_a(app)
    a = (await ids())["客服一组"]
    async with db.reading() as s:
        before = await dash.entries_state(s, a, "2026-11")
    await said(app, ["/迟到 ", at(LI)], OWNER, role="owner")

    def first_out(s):
        oldest = s.execute(
            select(Entry).where(Entry.team_id == a).order_by(Entry.id).limit(1)
        ).scalar_one()
        revoke(s, oldest, "qq:10001", "老板", None)

    await door.write(a, first_out)
    async with db.reading() as s:
        after = await dash.entries_state(s, a, "2026-11")
    assert after[0] == before[0]
    assert after != before


def harsher_late() -> Rubric:
    """The default rubric with 迟到 at −3 instead of −1."""
    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8")
    old = 'key = "late"\nname = "迟到"\ncategory = "hr"\npoints = -1'
    assert old in text
    return parse_rubric(text.replace(old, old[:-2] + "-3"), "harsher.toml")


async def test_a_new_rubric_version_scores_the_month_again(app: App):
    """李四 was late twice: hr 8 under −1 each, 4 under −3 each."""
    await team_a(app)
    a = (await ids())["客服一组"]
    async with db.reading() as s:
        now, _ = await dash.live_ranking(s, load_rubric(), a, "2026-11", None)
        harsh, _ = await dash.live_ranking(s, harsher_late(), a, "2026-11", None)
        again, _ = await dash.live_ranking(s, load_rubric(), a, "2026-11", None)
    li = {r.member.name: r.score.category("hr").earned for r in now}["李四"]
    assert li == 8
    assert {r.member.name: r.score.category("hr").earned for r in harsh}["李四"] == 4
    assert [r.score.total for r in again] == [r.score.total for r in now]


async def test_a_grade_named_with_markup_is_escaped_in_the_ranking(app: App):
    """The ranking's numbers are written as they are; a name and a grade (from the rubric)
    are escaped."""
    await team_a(app)
    a = (await ids())["客服一组"]
    text = DEFAULT_RUBRIC_PATH.read_text(encoding="utf-8").replace(
        'name = "A"', 'name = "<b>A</b>"'
    )
    assert "<b>A</b>" in text
    from plugins.web import tables

    rub = parse_rubric(text, "markup.toml")
    async with db.reading() as s:
        ranking, _ = await dash.live_ranking(s, rub, a, "2026-11", None)
    from bot.format import ranking_table, rows_of

    heads, cells = ranking_table(rub, rows_of(ranking))
    html = tables.ranking_rows(
        ranking, cells, team_id=a, period="2026-11", linked=True, me=None,
        text_columns=frozenset({heads.index("等级")}),
    )  # fmt: skip
    assert "&lt;b&gt;A&lt;/b&gt;" in html
    assert "<b>A</b>" not in html
    assert '<td class="num">92.0</td>' in html
