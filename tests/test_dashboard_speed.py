"""The team page's live ranking keeps each member's month per state of their entries (issue
24, bench/dashboard.py): a new entry or a revoke re-reads and re-scores that member only, and
it, a rename or a new rubric shows at the next page — never a stale total."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

import pytest
from nonebug import App
from sqlalchemy import select, update

from bot import door
from models import dashboard as dash
from models.ledger import month_ranking, month_tallies, revoke, write_entry
from models.periods import utcnow
from models.rubric import DEFAULT_RUBRIC_PATH, Rubric, load_rubric, parse_rubric
from models.rubricstore import what_if
from models.tables import Entry, Member, Team, Tenure
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
    """k revokes and k new entries of one member keep the count; Σ ids still moves (every
    new id is larger than every old one), so the member's scores are not taken from before."""
    await team_a(app)
    a, li = (await ids())["客服一组"], (await ids())["李四"]
    before = await door.read(lambda s: dash.member_states(s, a, "2026-11"))
    await said(app, ["/迟到 ", at(LI)], OWNER, role="owner")

    def first_out(s):
        oldest = s.execute(
            select(Entry).where(Entry.member_id == li).order_by(Entry.id).limit(1)
        ).scalar_one()
        revoke(s, oldest, "qq:10001", "老板", None)

    await door.write(a, first_out)
    after = await door.read(lambda s: dash.member_states(s, a, "2026-11"))
    assert after[li][0] == before[li][0]
    assert after[li] != before[li]
    assert {m: st for m, st in after.items() if m != li} == {
        m: st for m, st in before.items() if m != li
    }


# ---- a write re-reads and re-scores its member only, and no total is ever stale ----------


async def _team_of(n: int) -> tuple[int, list[int]]:
    """A team of `n` agents on the roster since January (no chat needed)."""

    def work(s):
        team = Team(name="大组", created_at=utcnow())
        s.add(team)
        s.flush()
        members = []
        for k in range(n):
            m = Member(
                team_id=team.id, platform="qq", user_id=str(40000 + k), name=f"客服{k:02d}",
                role="agent", joined_on=date(2026, 1, 1),
            )  # fmt: skip
            s.add(m)
            s.flush()
            s.add(Tenure(member_id=m.id, start=date(2026, 1, 1)))
            members.append(m.id)
        return team.id, members

    return await door.write(None, work)


def _entry(team_id: int, member_id: int, item: str, quantity: int = 1, fine: int = 0) -> dict:
    return {
        "team_id": team_id, "member_id": member_id, "period": "2026-11", "item_key": item,
        "quantity": quantity, "fine_cents": fine, "link": None, "note": None,
        "image_url": None, "image_file": None, "created_at": utcnow(),
        "created_by": "qq:10001", "created_by_name": "老板", "source": None,
    }  # fmt: skip


async def _log(team_id: int, member_id: int, item: str, quantity: int = 1, fine: int = 0) -> int:
    return await door.write(
        team_id, lambda s: write_entry(s, _entry(team_id, member_id, item, quantity, fine))
    )


async def _revoke(team_id: int, entry_id: int) -> None:
    await door.write(
        team_id, lambda s: revoke(s, s.get(Entry, entry_id), "qq:10001", "老板", "测试")
    )


def _seen(ranking) -> list[tuple]:
    return [
        (
            r.rank,
            r.member.id,
            r.score.total,
            r.score.grade,
            r.score.fines,
            r.score.commission,
            [(c.key, c.earned, [(i.quantity, i.entries) for i in c.items]) for c in r.score.categories],
        )
        for r in ranking
    ]  # fmt: skip


async def _cached_and_fresh(team_id: int, rub: Rubric, base: Decimal) -> tuple[list, list]:
    cached, _ = await door.read(lambda s: dash.live_ranking(s, rub, team_id, "2026-11", base))
    fresh = await door.read(lambda s: month_ranking(s, rub, team_id, "2026-11", base))
    return _seen(cached), _seen(fresh)


async def test_a_new_entry_rereads_and_rescores_only_its_member(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    team_id, members = await _team_of(30)
    rub, base = load_rubric(), Decimal(5000)
    for k, m in enumerate(members):
        await _log(team_id, m, "article", 1 + k % 3)
    await _cached_and_fresh(team_id, rub, base)  # the month is read and scored once
    read, scored = [], []
    real_read, real_score = dash._read_parts, dash.score_member
    monkeypatch.setattr(
        dash, "_read_parts", lambda s, t, p, who: read.append(who) or real_read(s, t, p, who)
    )
    monkeypatch.setattr(
        dash, "score_member", lambda *a: scored.append(dict(a[1])) or real_score(*a)
    )
    await _log(team_id, members[7], "late")
    cached, fresh = await _cached_and_fresh(team_id, rub, base)
    assert cached == fresh
    assert read == [[members[7]]]
    assert [set(t) for t in scored] == [{"article", "late"}]
    read.clear()
    scored.clear()
    cached_again, _ = await _cached_and_fresh(team_id, rub, base)  # nothing new: nothing read
    assert cached_again == fresh
    assert read == []
    assert scored == []


async def test_no_write_ever_leaves_a_stale_total(app: App):
    """A random month of entries, revokes, an entry revoked again right away (the member's
    state goes back to an earlier one) and a revoke plus a new entry of one member: after
    each write the team page's ranking, the what-if's "now" column and the tallies equal
    the month scored from scratch (`ledger.month_ranking`, `ledger.month_tallies`)."""
    team_id, members = await _team_of(12)
    rub, base = load_rubric(), Decimal(5000)
    items = [i.key for i in rub.items]
    rng = random.Random(24)
    counted: list[int] = []
    for step in range(45):
        roll = rng.random()
        if roll < 0.55 or not counted:
            item = rng.choice(items)
            fine = rng.choice([0, 0, 5000]) if rub.item(item).points else 0
            counted.append(await _log(team_id, rng.choice(members), item, rng.randint(1, 3), fine))
        elif roll < 0.75:
            await _revoke(team_id, counted.pop(rng.randrange(len(counted))))
        elif roll < 0.9:
            member = rng.choice(members)
            eid = await _log(team_id, member, "late")
            await _revoke(team_id, eid)  # the member's state is as before the entry
        else:  # one revoked and one new for the same member: the count is as before
            gone = counted.pop(rng.randrange(len(counted)))
            member = (await door.read(lambda s, g=gone: s.get(Entry, g))).member_id
            await _revoke(team_id, gone)
            counted.append(await _log(team_id, member, rng.choice(items)))
        cached, fresh = await _cached_and_fresh(team_id, rub, base)
        assert cached == fresh, step
        tallies = await door.read(lambda s: dash.tallies_now(s, team_id, "2026-11"))
        scratch = await door.read(lambda s: month_tallies(s, team_id, "2026-11"))
        assert tallies.tallies == scratch.tallies, step
        assert {m: f for m, f in tallies.fines.items() if f} == {
            m: f for m, f in scratch.fines.items() if f
        }, step
        w = await door.read(lambda s: what_if(s, team_id, "2026-11", harsher_late(), rub, base))
        by_member = {r.member_id: r.old.total for r in w.rows}
        assert by_member == {row[1]: row[2] for row in fresh}, step


async def test_a_merge_by_linking_is_seen_even_when_the_state_looks_the_same(app: App):
    """`/关联` of an account with its own records moves them to the member named: the one
    write that changes an entry's member. Here the member's (count, Σ ids) after the merge
    equal those kept before, and the team page still shows the merged month."""
    from bot.runtime import policy
    from models.usecases.base import Actor, Word
    from models.usecases.linking import CodeRequest, LinkRequest, ask_code, link

    team_id, (a, b) = await _team_of(2)
    rub, base = load_rubric(), Decimal(5000)
    first = await _log(team_id, a, "late")  # ids 1..4: a has {1, 4}, b has {2, 3}
    await _log(team_id, b, "friends", 30)
    await _log(team_id, b, "friends", 20)
    last = await _log(team_id, a, "late")
    cached, fresh = await _cached_and_fresh(team_id, rub, base)
    assert cached == fresh
    await _revoke(team_id, first)
    await _revoke(team_id, last)
    p = policy()
    bob = Actor("qq", "40001", "客服01")
    code = (await door.write(team_id, lambda s: ask_code(s, CodeRequest(bob, team_id), p))).code
    root = Actor("qq", "10000", "超管", is_superuser=True)
    req = LinkRequest(team_id, root, code, (Word("客服00"),))
    assert (await door.write(team_id, lambda s: link(s, req, p))).merged == 2
    cached, fresh = await _cached_and_fresh(team_id, rub, base)
    assert cached == fresh
    tallies = await door.read(lambda s: dash.tallies_now(s, team_id, "2026-11"))
    assert (
        tallies.tallies == (await door.read(lambda s: month_tallies(s, team_id, "2026-11"))).tallies
    )


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
    now, _ = await door.read(lambda s: dash.live_ranking(s, load_rubric(), a, "2026-11", None))
    harsh, _ = await door.read(lambda s: dash.live_ranking(s, harsher_late(), a, "2026-11", None))
    again, _ = await door.read(lambda s: dash.live_ranking(s, load_rubric(), a, "2026-11", None))
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
    ranking, _ = await door.read(lambda s: dash.live_ranking(s, rub, a, "2026-11", None))
    from bot.format import ranking_table, rows_of

    heads, cells = ranking_table(rub, rows_of(ranking))
    html = tables.ranking_rows(
        ranking, cells, team_id=a, period="2026-11", linked=True, me=None,
        text_columns=frozenset({heads.index("等级")}),
    )  # fmt: skip
    assert "&lt;b&gt;A&lt;/b&gt;" in html
    assert "<b>A</b>" not in html
    assert '<td class="num">92.0</td>' in html


async def test_start_up_objects_leave_the_full_collections(app: App):
    """What start-up built is frozen out of the garbage collector's full collections
    (`bot.runtime.settle_the_heap`): a full collection walks the bot's own data only."""
    import gc

    from bot import runtime

    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        await runtime.open_database()
        assert gc.get_freeze_count() > 10_000
        assert len(gc.get_objects()) < gc.get_freeze_count()
    finally:
        gc.unfreeze()
