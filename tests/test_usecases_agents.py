"""Agents' own commands as plain use cases on a scratch database (SQLite or PostgreSQL, no
NoneBot): self-reports (evidence, duplicate link, daily caps, first-report registration),
/撤回, and appeals — file, accept by revoking, reject (SPEC §3, §4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from models.ledger import Refused
from models.periods import set_clock, utcnow
from models.rights import SELF_APPEAL
from models.usecases.appeals import AppealRequest, RejectRequest, file, reject
from models.usecases.base import Actor, EntryRef, Word
from models.usecases.marks import MarkRequest, RevokeRequest, mark, revoke
from models.usecases.selfreport import ReportRequest, UndoRequest, self_report, undo
from tests.usecase_db import ALICE, BOB, BOSS, POLICY, make


@pytest.fixture
async def udb(tmp_path):
    d = await make(tmp_path, "agents")
    yield d
    set_clock(None)
    await d.engine.dispose()


def said(*parts: str) -> tuple[Word, ...]:
    return tuple(Word(p) for p in parts)


def report(udb, item, *parts, actor=ALICE, source=None):
    return ReportRequest(udb.team_id, actor, said(*parts), item, source=source)


async def test_a_self_report_logs_the_entry_and_the_months_progress(udb):
    done = await udb.run(
        lambda s: self_report(s, report(udb, "article", "https://mp.weixin.qq.com/s/a"), POLICY)
    )
    assert (done.item.key, done.quantity, done.done) == ("article", 1, 1)
    assert done.score.category("promotion").earned == POLICY.rubric.item("article").weight / 8
    rows = await udb.rows("SELECT link, created_by FROM entry")
    assert rows == [("https://mp.weixin.qq.com/s/a", "qq:30001")]
    assert await udb.rows("SELECT action, channel FROM auditlog") == [("entry.create", "群聊")]
    [(target, after)] = await udb.rows("SELECT target, after FROM auditlog")
    assert target == f"#{done.entry_id}"
    assert '"item": "article"' in after


async def test_evidence_rules_a_link_and_a_count(udb):
    with pytest.raises(Refused, match="需要附上链接"):
        await udb.run(lambda s: self_report(s, report(udb, "article", "没有链接"), POLICY))
    with pytest.raises(Refused, match="请写上好友的数量"):
        await udb.run(lambda s: self_report(s, report(udb, "friends"), POLICY))
    with pytest.raises(Refused, match="数量必须是 1–500"):
        await udb.run(lambda s: self_report(s, report(udb, "friends", "501"), POLICY))
    with pytest.raises(Refused, match=r"数量必须是 1–500 的整数，收到 1\.5"):
        await udb.run(lambda s: self_report(s, report(udb, "friends", "1.5"), POLICY))
    done = await udb.run(lambda s: self_report(s, report(udb, "friends", "12", "微信"), POLICY))
    assert (done.quantity, done.done) == (12, 12)
    assert await udb.rows("SELECT note FROM entry") == [("微信",)]
    more = await udb.run(lambda s: self_report(s, report(udb, "friends", "三十"), POLICY))
    assert (more.quantity, more.done) == (30, 42)


async def test_the_same_link_twice_in_the_team_is_refused_naming_the_first(udb):
    link = "https://mp.weixin.qq.com/s/dup"
    first = await udb.run(lambda s: self_report(s, report(udb, "article", link), POLICY))
    with pytest.raises(Refused, match=f"该链接已在 #{first.entry_id} 记录过"):
        await udb.run(
            lambda s: self_report(
                s, report(udb, "media", "http://mp.weixin.qq.com/s/dup", actor=BOB), POLICY
            )
        )


async def test_a_daily_cap_refuses_the_report_past_it(udb):
    capped = POLICY.rubric.item("moments").model_copy(update={"daily_cap": 2})
    items = tuple(capped if i.key == "moments" else i for i in POLICY.rubric.items)
    policy = replace(POLICY, rubric=POLICY.rubric.model_copy(update={"items": items}))
    for _ in range(2):
        await udb.run(lambda s: self_report(s, report(udb, "moments"), policy))
    with pytest.raises(Refused, match="每人每天最多报 2 次，你今天已报 2 次"):
        await udb.run(lambda s: self_report(s, report(udb, "moments"), policy))
    for n in ("500", "500"):
        await udb.run(lambda s, n=n: self_report(s, report(udb, "friends", n), POLICY))
    with pytest.raises(Refused, match="每人每天最多 1000个"):
        await udb.run(lambda s: self_report(s, report(udb, "friends", "1"), POLICY))
    assert len(await udb.rows("SELECT id FROM entry")) == 4


async def test_report_names_its_item_and_refuses_a_supervisors_item(udb):
    done = await udb.run(lambda s: self_report(s, report(udb, None, "朋友圈", "晒单"), POLICY))
    assert done.item.key == "moments"
    with pytest.raises(Refused, match="迟到由主管登记，不能自报"):
        await udb.run(lambda s: self_report(s, report(udb, None, "迟到"), POLICY))


async def test_a_first_report_registers_the_agent_and_their_card_renames_them(udb):
    newcomer = Actor("qq", "30009", "周九")
    await udb.run(lambda s: self_report(s, report(udb, "moments", actor=newcomer), POLICY))
    [(member_id, name, role, joined)] = await udb.rows(
        "SELECT id, name, role, joined_on FROM member WHERE user_id = '30009'"
    )
    assert (name, role, str(joined)[:10]) == ("周九", "agent", str(POLICY.today))
    tenure = 'SELECT start, "end" FROM tenure WHERE member_id = :m'
    assert [(str(a)[:10], b) for a, b in await udb.rows(tenure, m=member_id)] == [
        (str(POLICY.today), None)
    ]
    joins = "SELECT actor, target, after, channel FROM auditlog WHERE action = 'join'"
    assert await udb.rows(joins) == [("qq:30009", "qq:30009", '{"name": "周九"}', "群聊")]
    renamed = replace(ALICE, name="赵一一")
    await udb.run(lambda s: self_report(s, report(udb, "moments", actor=renamed), POLICY))
    assert await udb.rows("SELECT name FROM member WHERE user_id = '30001'") == [("赵一一",)]


async def test_a_supervisor_does_not_self_report(udb):
    with pytest.raises(Refused, match="主管不参与自报考核"):
        await udb.run(lambda s: self_report(s, report(udb, "moments", actor=BOSS), POLICY))


async def test_undo_takes_back_ones_own_entry_within_the_time_limit(udb):
    done = await udb.run(lambda s: self_report(s, report(udb, "friends", "10"), POLICY))
    with pytest.raises(Refused, match="不是你报的"):
        await udb.run(lambda s: undo(s, UndoRequest(udb.team_id, BOB, done.entry_id), POLICY))
    back = await udb.run(lambda s: undo(s, UndoRequest(udb.team_id, ALICE), POLICY))
    assert (back.entry_id, back.done) == (done.entry_id, 0)
    with pytest.raises(Refused, match="你还没有可撤回的记录"):
        await udb.run(lambda s: undo(s, UndoRequest(udb.team_id, ALICE), POLICY))
    late = await udb.run(lambda s: self_report(s, report(udb, "friends", "10"), POLICY))
    set_clock(utcnow() + timedelta(minutes=POLICY.undo_minutes + 1))
    with pytest.raises(Refused, match=f"请主管 /撤销 #{late.entry_id}"):
        await udb.run(lambda s: undo(s, UndoRequest(udb.team_id, ALICE), POLICY))


async def _deduct(udb, who: str) -> int:
    request = MarkRequest(udb.team_id, BOSS, (Word(mention=who), Word("投诉")), -1)
    done = await udb.run(lambda s: mark(s, request, POLICY))
    return done.lines[0].entry.id


async def test_an_appeal_is_filed_once_and_accepted_by_revoking(udb):
    entry_id = await _deduct(udb, "30001")
    with pytest.raises(Refused, match="不是你的记录"):
        await udb.run(lambda s: file(s, AppealRequest(udb.team_id, BOB, entry_id, "冤"), POLICY))
    with pytest.raises(Refused, match="请写申诉理由"):
        await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, entry_id, None), POLICY))
    filed = await udb.run(
        lambda s: file(s, AppealRequest(udb.team_id, ALICE, entry_id, "客户误会"), POLICY)
    )
    assert (filed.entry.id, filed.supervisors) == (entry_id, [("10001", "张主管")])
    with pytest.raises(Refused, match="已有一条申诉在处理中"):
        await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, entry_id, "再"), POLICY))
    done = await udb.run(lambda s: revoke(s, RevokeRequest(udb.team_id, BOSS, entry_id), POLICY))
    assert done.appeal_accepted
    assert await udb.rows("SELECT status FROM appeal") == [("accepted",)]


async def test_an_appeal_rejected_stays_rejected_and_nobody_rejects_their_own(udb):
    entry_id = await _deduct(udb, "30001")
    await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, entry_id, "冤"), POLICY))
    admin_alice = replace(ALICE, group_role="admin")
    with pytest.raises(Refused, match=SELF_APPEAL):
        await udb.run(
            lambda s: reject(s, RejectRequest(udb.team_id, admin_alice, entry_id), POLICY)
        )
    done = await udb.run(
        lambda s: reject(s, RejectRequest(udb.team_id, BOSS, entry_id, "有录音"), POLICY)
    )
    assert (done.entry_id, done.member_user_id) == (entry_id, "30001")
    with pytest.raises(Refused, match="没有待处理的申诉"):
        await udb.run(lambda s: reject(s, RejectRequest(udb.team_id, BOSS, entry_id), POLICY))
    with pytest.raises(Refused, match="每条记录只能申诉一次"):
        await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, entry_id, "再"), POLICY))


async def test_an_entry_named_by_the_message_it_came_from(udb):
    request = MarkRequest(
        udb.team_id, BOSS, (Word(mention="30001"), Word("迟到")), -1, source="qq:99:g:777"
    )
    done = await udb.run(lambda s: mark(s, request, POLICY))
    ref = EntryRef(replied=True, source="qq:99:g:777")
    filed = await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, ref, "冤"), POLICY))
    assert filed.entry.id == done.lines[0].entry.id
    nothing = EntryRef(replied=True, source="qq:99:g:778")
    with pytest.raises(Refused, match="没有对应的记录"):
        await udb.run(lambda s: file(s, AppealRequest(udb.team_id, ALICE, nothing, "冤"), POLICY))
