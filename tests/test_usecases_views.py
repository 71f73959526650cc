"""The read and write use cases behind /审计, /导出, /后台 and the monthly outbox, as plain
functions on a scratch database (SQLite or PostgreSQL, no NoneBot): `models.usecases.audit`,
`exports`, `weblink`, `posts`, and the dashboard's `pages` (SPEC §3, §4, §5a)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import text

from models.dashboard import EntryFilter, Unseen, Viewer
from models.export import build_workbook
from models.ledger import Refused
from models.periods import current_period, shift_period
from models.tables import Entry
from models.usecases import pages
from models.usecases.audit import AuditRead, audit_log
from models.usecases.base import Actor, Word
from models.usecases.exports import ExportRead, export
from models.usecases.marks import MarkRequest, mark
from models.usecases.monthly import SettleRequest, settle_month
from models.usecases.posts import (
    AlertRead,
    DirectPost,
    GroupPost,
    PostRead,
    alert_of,
    post_of,
)
from models.usecases.scores import RankRead, ranking
from models.usecases.weblink import LinkRequest, Withdraw, dashboard_link, withdraw
from models.weblogin import token_hash
from tests.usecase_db import ALICE, BOB, BOSS, GROUP, POLICY, ROOT, TZ, make

NOW = current_period(TZ)
LAST = shift_period(NOW, -1)
NAMES = {"late": "人事考核·迟到"}


@pytest.fixture
async def udb(tmp_path):
    d = await make(tmp_path, "views")
    yield d
    await d.engine.dispose()


async def _late(udb, who: str = "30001") -> int:
    request = MarkRequest(
        udb.team_id, BOSS, (Word(mention=who), Word("迟到")), -1, None, {}, None, "m:1"
    )
    done = await udb.run(lambda s: mark(s, request, POLICY))
    return done.lines[0].entry.id


async def _last_month_late(udb, who: str = "30001") -> None:
    """A lateness of last month, as if logged then."""

    def work(s) -> None:
        s.add(
            Entry(
                team_id=udb.team_id,
                member_id=udb.ids[who],
                period=LAST,
                item_key="late",
                quantity=1,
                fine_cents=5000,
                created_at=datetime(2026, 1, 5, 1, 0),
                created_by="qq:10001",
                created_by_name="张主管",
            )
        )

    await udb.run(work)


# ---- /审计 ---------------------------------------------------------------------------------


async def test_the_audit_log_is_sentences_with_names_newest_first_and_by_month(udb):
    first = await _late(udb)
    second = await _late(udb, "30002")
    lines = await udb.run(lambda s: audit_log(s, AuditRead(udb.team_id, None, NAMES), POLICY))
    assert [one.said for one in lines] == [
        f"张主管 给 钱二 登记 人事考核·迟到（#{second}）",
        f"张主管 给 赵一 登记 人事考核·迟到（#{first}）",
    ]
    this_month = await udb.run(lambda s: audit_log(s, AuditRead(udb.team_id, NOW, NAMES), POLICY))
    assert len(this_month) == 2
    earlier = await udb.run(
        lambda s: audit_log(s, AuditRead(udb.team_id, shift_period(NOW, -3), NAMES), POLICY)
    )
    assert earlier == []


# ---- /导出 ---------------------------------------------------------------------------------


async def test_the_export_reads_the_month_as_plain_values_and_builds_its_workbook(udb):
    entry_id = await _late(udb)
    request = ExportRead(udb.team_id, "客服一组", NOW, POLICY.rubric, POLICY.commission_base)
    done = await udb.run(lambda s: export(s, request, POLICY))
    book = done.book
    assert (done.people, done.count, book.state) == (2, 1, "未结算")
    assert [e.id for e in book.entries] == [entry_id]
    assert book.members[book.entries[0].member_id] == "赵一"
    assert {r.member.name for r in book.ranking} == {"赵一", "钱二"}
    assert build_workbook(done.rubric, book, TZ)[:2] == b"PK"  # an .xlsx (a zip)


# ---- /后台 ---------------------------------------------------------------------------------


def _link(actor: Actor, team_id: int | None, group_team: int | None = None) -> LinkRequest:
    return LinkRequest(actor, "OneBotV11", team_id, group_team)


async def test_a_member_gets_a_link_stored_only_as_its_hash(udb):
    link = await udb.run(lambda s: dashboard_link(s, _link(ALICE, udb.team_id), POLICY))
    rows = await udb.rows("SELECT id, token_hash, name, user_id, group_team_id FROM web_login")
    assert rows == [(link.login_id, token_hash(link.token), "赵一", "30001", None)]
    await udb.run(lambda s: withdraw(s, Withdraw(link.login_id), POLICY))
    assert await udb.rows("SELECT id FROM web_login") == []


async def test_a_superuser_or_the_groups_owner_gets_a_link_without_being_on_the_team(udb):
    await udb.run(lambda s: dashboard_link(s, _link(ROOT, None), POLICY))
    owner = Actor("qq", "10009", "群主老王", group_role="owner")
    await udb.run(lambda s: dashboard_link(s, _link(owner, udb.team_id, udb.team_id), POLICY))
    rows = await udb.rows("SELECT name, group_team_id FROM web_login ORDER BY id")
    assert rows == [("超管", None), ("群主老王", udb.team_id)]


async def test_someone_who_left_or_never_joined_is_refused_and_nothing_is_stored(udb):
    await udb.run(
        lambda s: s.execute(
            text("UPDATE member SET left_on = :d WHERE id = :id"),
            {"d": date(2026, 1, 20), "id": udb.ids["30001"]},
        )
    )
    with pytest.raises(Refused, match="你已于 2026-01-20 离职"):
        await udb.run(lambda s: dashboard_link(s, _link(ALICE, udb.team_id), POLICY))
    stranger = Actor("qq", "55555", "路人")
    with pytest.raises(Refused, match="你还不在任何团队里"):
        await udb.run(lambda s: dashboard_link(s, _link(stranger, udb.team_id), POLICY))
    assert await udb.rows("SELECT id FROM web_login") == []


# ---- the monthly outbox ----------------------------------------------------------------------


async def _settled(udb) -> None:
    await _last_month_late(udb)
    request = SettleRequest(udb.team_id, "qq:10000", LAST, NOW, POLICY.rubric, None)
    await udb.run(lambda s: settle_month(s, request, POLICY))


def _post(udb, group_id: str) -> PostRead:
    return PostRead(udb.team_id, LAST, "qq", group_id, POLICY.rubric, None)


async def test_a_group_post_is_the_settled_months_stored_rows_and_counts(udb):
    await _settled(udb)
    post = await udb.run(lambda s: post_of(s, _post(udb, GROUP), POLICY))
    assert isinstance(post, GroupPost)
    assert post.binding is not None
    assert post.binding.group_id == GROUP
    assert (post.team_name, post.period, post.revision) == ("客服一组", LAST, 1)
    assert [(r.rank, r.name) for r in post.rows] == [(1, "钱二"), (2, "赵一")]
    assert post.counts == {"late": 1}
    assert (post.changes, post.expired) == ([], [])
    elsewhere = await udb.run(lambda s: post_of(s, _post(udb, "99999"), POLICY))
    assert isinstance(elsewhere, GroupPost)
    assert elsewhere.binding is None


async def test_a_direct_post_is_the_agents_own_card_or_none_for_a_stranger(udb):
    await _settled(udb)
    mine = await udb.run(lambda s: post_of(s, _post(udb, "dm:30001"), POLICY))
    assert isinstance(mine, DirectPost)
    assert mine.card is not None
    assert (mine.card.member.name, mine.card.period, mine.user_id) == ("赵一", LAST, "30001")
    assert [e.item_key for e in mine.card.entries] == ["late"]
    nobody = await udb.run(lambda s: post_of(s, _post(udb, "dm:55555"), POLICY))
    assert isinstance(nobody, DirectPost)
    assert nobody.card is None
    alert = await udb.run(lambda s: alert_of(s, AlertRead(udb.team_id, "qq", "dm:30001"), POLICY))
    assert (alert.team_name, alert.member_name) == ("客服一组", "赵一")
    assert alert.binding is not None


# ---- the dashboard's pages (models.usecases.pages) -------------------------------------------


def _viewer(udb, actor: Actor, *, supervises: bool = False) -> Viewer:
    agent_in = {} if supervises else {udb.team_id: udb.ids[actor.user_id]}
    teams = frozenset({udb.team_id}) if supervises else frozenset()
    return Viewer(1, actor.name, False, teams, agent_in, platform="qq", user_id=actor.user_id)


def _shown(ranking) -> list[tuple]:
    return [(r.rank, r.member.id, r.score.total, r.score.commission) for r in ranking]


async def test_the_team_page_ranks_a_month_as_chat_does_settled_or_open(udb):
    """One rule (`models.settlement.month_scores`): the settled month is its stored rows,
    also after a later entry of that month; the open month is scored from its entries."""
    await _settled(udb)
    await _last_month_late(udb, "30002")  # after the settlement: not in its stored rows
    await _late(udb)
    boss = _viewer(udb, BOSS, supervises=True)
    for period in (LAST, NOW):
        page = await udb.run(
            lambda s, p=period: pages.team(s, pages.PageRead(boss, udb.team_id, p), POLICY)
        )
        chat = await udb.run(
            lambda s, p=period: ranking(
                s, RankRead(udb.team_id, p, POLICY.rubric, POLICY.commission_base), POLICY
            )
        )
        assert _shown(page.month.ranking) == _shown(chat.ranking)
        assert (page.month.settlement is not None) == (period == LAST)
    settled = await udb.run(
        lambda s: pages.team(s, pages.PageRead(boss, udb.team_id, LAST), POLICY)
    )
    assert [(r.rank, r.member.name) for r in settled.month.ranking] == [(1, "钱二"), (2, "赵一")]


async def test_a_page_the_viewer_may_not_see_is_unseen_404_or_403(udb):
    alice = _viewer(udb, ALICE)
    own = pages.MemberRead(alice, udb.team_id, udb.ids[ALICE.user_id], NOW)
    page = await udb.run(lambda s: pages.member(s, own, POLICY))
    assert page.month.member.name == "赵一"
    cases = {
        "another's page": (pages.MemberRead(alice, udb.team_id, udb.ids[BOB.user_id], NOW), True),
        "no such member": (pages.MemberRead(alice, udb.team_id, 999_999, NOW), False),
        "no such team": (pages.MemberRead(alice, 999_999, udb.ids[ALICE.user_id], NOW), False),
    }
    for name, (req, forbidden) in cases.items():
        with pytest.raises(Unseen) as seen:
            await udb.run(lambda s, r=req: pages.member(s, r, POLICY))
        assert seen.value.forbidden is forbidden, name
    with pytest.raises(Unseen) as seen:  # an agent sees the ranking, not the entries
        await udb.run(
            lambda s: pages.entries(
                s, pages.EntriesRead(alice, udb.team_id, EntryFilter(NOW)), POLICY
            )
        )
    assert seen.value.forbidden
