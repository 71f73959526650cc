"""Deductions, bonuses and fines, and revoking, as plain use cases on a scratch database
(SQLite or PostgreSQL, no NoneBot): `models.usecases.marks` (SPEC §1, §3, §6)."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from models.ledger import Refused
from models.periods import current_period, parse_period, shift_period
from models.rights import SELF_MARK, SELF_REVOKE
from models.roster import audit_sentences
from models.tables import AuditLog, Settlement
from models.usecases.base import Person, Word
from models.usecases.marks import (
    MarkRequest,
    RevokeRequest,
    cap_bite,
    mark,
    revoke,
)
from tests.usecase_db import ALICE, BOB, BOSS, OWNER, POLICY, TZ, WEB_BOSS, make


def words(*parts: str) -> tuple[Word, ...]:
    """`@30001` is an @ of that user; anything else a typed word."""
    return tuple(Word(mention=p[1:]) if p.startswith("@") else Word(p) for p in parts)


@pytest.fixture
async def udb(tmp_path):
    d = await make(tmp_path, "marks")
    yield d
    await d.engine.dispose()


def req(udb, *parts, actor=BOSS, sign=-1, item=None, people=None, quoted=None, source="m:1"):
    return MarkRequest(udb.team_id, actor, words(*parts), sign, item, people or {}, quoted, source)


async def test_a_deduction_writes_the_entry_its_audit_row_and_gives_the_month_score(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", "堵车"), POLICY))
    [line] = done.lines
    assert (line.member_name, done.item.key, done.quantity, done.current) == (
        "赵一",
        "late",
        1,
        True,
    )
    assert line.score.category("hr").earned == 9
    assert line.repeat_of is None
    rows = await udb.rows(
        "SELECT member_id, item_key, quantity, note, created_by, source FROM entry"
    )
    assert rows == [(udb.ids["30001"], "late", 1, "堵车", "qq:10001", "m:1")]
    audit = await udb.rows("SELECT action, target, channel FROM auditlog")
    assert audit == [("entry.create", f"#{line.entry.id}", "群聊")]


async def test_a_bonus_a_count_and_a_half_day(udb):
    bonus = await udb.run(lambda s: mark(s, req(udb, "@30001", "培训讲师", sign=+1), POLICY))
    assert bonus.item.key == "training_lecturer"
    three = await udb.run(lambda s: mark(s, req(udb, "@30002", "回复不及时", "3"), POLICY))
    assert three.quantity == 3
    assert three.lines[0].score.category("business").earned == 50 - 6
    half = await udb.run(lambda s: mark(s, req(udb, "@30002", "请假", "半天"), POLICY))
    assert half.quantity == Fraction(1, 2)
    assert half.lines[0].score.category("hr").earned == Fraction(39, 4)


async def test_counts_in_chinese_numerals_are_counts_not_notes(udb):
    """SPEC §3 "What people type": `两天`, `三次`, `一天半`, `十天` are the count (each was
    once stored as 1 with the numeral as its note: a wrong score)."""
    said = {"两天": 2, "一天半": Fraction(3, 2), "十天": 10}
    for words, days in said.items():
        done = await udb.run(lambda s, w=words: mark(s, req(udb, "@30002", "请假", w), POLICY))
        assert (done.quantity, done.lines[0].entry.quantity) == (days, days), words
    late = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", "三次", "堵车"), POLICY))
    assert late.quantity == 3
    assert late.lines[0].score.category("hr").earned == 10 - 3
    notes = await udb.rows("SELECT note FROM entry ORDER BY id")
    assert notes == [(None,), (None,), (None,), ("堵车",)]


async def test_a_fine_is_stored_in_cents_and_taken_from_the_commission(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "严重投诉", "200"), POLICY))
    assert done.lines[0].entry.fine_cents == 20000
    assert done.lines[0].score.fines == 200
    with pytest.raises(Refused, match="需要写罚款金额"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "严重投诉"), POLICY))


async def test_the_first_number_of_a_fine_item_is_the_fine_even_one_that_reads_as_a_month(udb):
    """SPEC §3, decided: `100001`, `200000` and `202611` are fines out of range (they were
    refused as a bad month, or `202611` taken as 2026-11 and then asked for the fine)."""
    for said in ("100001", "200000", "202611"):
        with pytest.raises(Refused) as refused:
            await udb.run(
                lambda s, w=said: mark(s, req(udb, "@30001", "严重投诉", w, "太多"), POLICY)
            )
        assert str(refused.value) == f"罚款金额必须在 0–100000 元之间，收到 {said}"
    assert await udb.rows("SELECT id FROM entry") == []
    top = await udb.run(lambda s: mark(s, req(udb, "@30001", "严重投诉", "100000"), POLICY))
    assert top.lines[0].entry.fine_cents == 10000000
    dotted = await udb.run(lambda s: mark(s, req(udb, "@30002", "严重投诉", "2026.11"), POLICY))
    assert (dotted.period, dotted.lines[0].entry.fine_cents) == (current_period(TZ), 202611)


async def test_a_month_word_before_or_after_the_fine_is_the_month(udb):
    last = shift_period(current_period(TZ), -1)
    for said in (
        ("上月", "300", "测试"),
        ("300", "上月", "测试"),
        ("300", last.replace("-", ""), "测试"),
    ):
        done = await udb.run(lambda s, w=said: mark(s, req(udb, "@30001", "严重投诉", *w), POLICY))
        assert (done.period, done.lines[0].entry.fine_cents) == (last, 30000), said
    december = await udb.run(
        lambda s: mark(s, req(udb, "@30002", "严重投诉", "12月", "300", "测试"), POLICY)
    )
    assert december.period == parse_period("12月", TZ)
    rows = await udb.rows(
        "SELECT fine_cents, note FROM entry WHERE member_id = :m", m=udb.ids["30002"]
    )
    assert rows == [(30000, "测试")]


@pytest.mark.parametrize(
    ("said", "why"),
    [
        (("罚款200", "罚款300"), "写了 2 个罚款金额（罚款200、罚款300），请只写一个"),
        (("200", "辱骂客户", "罚款", "300"), "写了 2 个罚款金额（200、罚款 300），请只写一个"),
        (("200.555", "测试"), "罚款金额最多两位小数（到分），收到 200.555"),
        (("辱骂客户", "罚 200.555元"), "罚款金额最多两位小数（到分），收到 罚 200.555元"),
        (("罚款", "-200"), "罚款金额必须在 0–100000 元之间，收到 罚款 -200"),
    ],
    ids=["two-marked", "bare-and-marked", "three-decimals", "marked-three-decimals", "negative"],
)
async def test_a_fine_that_is_not_one_amount_in_cents_is_refused_and_nothing_written(
    udb, said, why
):
    words_said = [p for w in said for p in w.split(" ")]
    with pytest.raises(Refused) as refused:
        await udb.run(lambda s: mark(s, req(udb, "@30001", "严重投诉", *words_said), POLICY))
    assert str(refused.value) == why
    assert await udb.rows("SELECT id FROM entry") == []
    assert await udb.rows("SELECT id FROM auditlog") == []


@pytest.mark.parametrize(
    "fine", [("罚款", "200"), ("罚款200",), ("罚200元",), ("¥200",), ("200元",)]
)
async def test_a_fine_on_an_item_that_takes_none_is_refused_naming_the_one_that_does(udb, fine):
    """It was dropped into the note while the reply said ✅ (SPEC §3, decided)."""
    said = " ".join(fine)
    with pytest.raises(Refused) as refused:
        await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", *fine), POLICY))
    assert str(refused.value) == f"迟到不带罚款，没有登记（收到 {said}）。要罚款请用严重投诉"
    with pytest.raises(Refused, match="客户投诉不带罚款"):
        await udb.run(
            lambda s: mark(s, req(udb, "钱二", "回复慢", *fine, item="complaint"), POLICY)
        )
    assert await udb.rows("SELECT id FROM entry") == []
    done = await udb.run(
        lambda s: mark(s, req(udb, "钱二", "让客户等了", "30", "分钟", item="complaint"), POLICY)
    )
    assert done.lines[0].entry.fine_cents == 0
    assert await udb.rows("SELECT note FROM entry") == [("让客户等了 30 分钟",)]


async def test_a_mark_for_an_earlier_month_counts_there_a_future_one_is_refused(udb):
    last = shift_period(current_period(TZ), -1)
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", last), POLICY))
    assert (done.period, done.current) == (last, False)
    later = shift_period(current_period(TZ), 1)
    with pytest.raises(Refused, match="不能登记未来的月份"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", later), POLICY))


async def test_a_settled_month_takes_no_mark_and_nothing_is_written(udb):
    period = current_period(TZ)

    def settle(s):
        s.add(
            Settlement(
                team_id=udb.team_id,
                period=period,
                rubric_version="v",
                rubric_text="",
                settled_at=db_now(),
                settled_by="system",
            )
        )

    await udb.run(settle)
    with pytest.raises(Refused, match="已结算"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    assert await udb.rows("SELECT id FROM entry") == []


async def test_the_same_mark_again_within_two_minutes_names_the_first(udb):
    first = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    again = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    assert again.lines[0].repeat_of == first.lines[0].entry.id


async def test_next_month_is_refused_as_a_future_month_not_taken_as_a_note(udb):
    with pytest.raises(Refused, match="不能登记未来的月份"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "早退", "下月"), POLICY))
    assert await udb.rows("SELECT id FROM entry") == []


async def test_the_same_mark_for_another_month_is_no_repeat(udb):
    await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    last = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", "上月"), POLICY))
    assert last.period == shift_period(current_period(TZ), -1)
    assert last.lines[0].repeat_of is None


async def test_a_category_at_its_floor_makes_a_further_deduction_ineffective(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", "10"), POLICY))
    assert cap_bite(POLICY.rubric, done.lines[0].score, done.item, 10) is None
    more = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    assert more.lines[0].score.category("hr").earned == 0
    bite = cap_bite(POLICY.rubric, more.lines[0].score, more.item, 1)
    assert (bite.meant, bite.gained, bite.end) == (-1, 0, "floor")


async def test_the_cap_bite_names_the_end_that_cut_the_mark(udb):
    """A bonus on a category below 0 before the floor is cut by the floor (it was once called
    full); a deduction after bonuses above the max is cut by the cap (once called the floor)."""

    def bite(done, quantity=1):
        b = cap_bite(POLICY.rubric, done.lines[0].score, done.item, quantity)
        return (b.meant, b.gained, b.end)

    await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", "12"), POLICY))
    low = await udb.run(lambda s: mark(s, req(udb, "@30001", "培训讲师", sign=+1), POLICY))
    assert low.lines[0].score.category("hr").earned == 0
    assert bite(low) == (1, 0, "floor")
    two = await udb.run(lambda s: mark(s, req(udb, "@30001", "培训讲师", "2", sign=+1), POLICY))
    assert bite(two, 2) == (2, 1, "floor")  # from −1 to +1: one point counts
    full = await udb.run(lambda s: mark(s, req(udb, "@30002", "培训讲师", sign=+1), POLICY))
    assert bite(full) == (1, 0, "top")
    over = await udb.run(lambda s: mark(s, req(udb, "@30002", "迟到", "3"), POLICY))
    assert over.lines[0].score.category("hr").earned == 8
    assert bite(over, 3) == (-3, -2, "top")


async def test_several_people_at_once_all_or_none(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "@30002", "投诉"), POLICY))
    assert [line.member_name for line in done.lines] == ["赵一", "钱二"]
    with pytest.raises(Refused, match="QQ 39999 不在本群或本团队"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "@39999", "投诉"), POLICY))
    assert len(await udb.rows("SELECT id FROM entry")) == 2


async def test_nobody_marks_themselves_and_only_a_supervisor_marks(udb):
    with pytest.raises(Refused, match=SELF_MARK):
        await udb.run(lambda s: mark(s, req(udb, "@10001", "迟到"), POLICY))
    with pytest.raises(Refused, match="只有本团队的主管"):
        await udb.run(lambda s: mark(s, req(udb, "@30002", "迟到", actor=ALICE), POLICY))
    # the group's owner supervises as the platform says now
    done = await udb.run(lambda s: mark(s, req(udb, "@30002", "迟到", actor=OWNER), POLICY))
    assert done.lines[0].member_name == "钱二"


async def test_someone_in_the_group_is_registered_an_owner_is_not_marked(udb):
    people = {"30003": Person("30003", "孙三"), "10009": Person("10009", "老王", "owner")}
    done = await udb.run(lambda s: mark(s, req(udb, "@30003", "迟到", people=people), POLICY))
    assert done.lines[0].member_name == "孙三"
    assert await udb.rows("SELECT name FROM member WHERE user_id = '30003'") == [("孙三",)]
    with pytest.raises(Refused, match="老王 是群主"):
        await udb.run(lambda s: mark(s, req(udb, "@10009", "迟到", people=people), POLICY))
    assert await udb.rows("SELECT name FROM member WHERE user_id = '10009'") == []


async def test_a_name_on_the_roster_and_a_quoted_sender_are_targets(udb):
    by_name = await udb.run(lambda s: mark(s, req(udb, "钱二", "迟到"), POLICY))
    assert by_name.lines[0].member_name == "钱二"
    quoted = await udb.run(lambda s: mark(s, req(udb, "迟到", quoted="30001"), POLICY))
    assert quoted.lines[0].member_name == "赵一"


async def test_an_item_that_is_no_deduction_is_refused_with_the_choices(udb):
    with pytest.raises(Refused, match="软文是客服自报项目"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "软文"), POLICY))
    with pytest.raises(Refused, match="不是扣分项目"):
        await udb.run(lambda s: mark(s, req(udb, "@30001", "培训讲师"), POLICY))


async def test_the_web_channel_is_recorded_and_said_in_the_audit_sentence(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到", actor=WEB_BOSS), POLICY))
    assert await udb.rows("SELECT channel FROM auditlog") == [("网页",)]

    async def sentences():
        from sqlalchemy import select
        from sqlalchemy.ext.asyncio import AsyncSession

        async with AsyncSession(udb.engine) as s:
            rows = list((await s.execute(select(AuditLog))).scalars())
            return await audit_sentences(s, udb.team_id, rows, {"late": "人事考核·迟到"})

    [said] = await sentences()
    assert said == f"张主管 给 赵一 登记 人事考核·迟到（#{done.lines[0].entry.id}）（网页）"


async def test_revoke_takes_the_entry_out_of_the_score_once(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    entry_id = done.lines[0].entry.id
    r = await udb.run(
        lambda s: revoke(s, RevokeRequest(udb.team_id, BOSS, entry_id, "录错"), POLICY)
    )
    assert (r.member_name, r.reason, r.appeal_accepted) == ("赵一", "录错", False)
    assert r.score.category("hr").earned == 10
    with pytest.raises(Refused, match="已被撤销过了"):
        await udb.run(lambda s: revoke(s, RevokeRequest(udb.team_id, BOSS, entry_id), POLICY))
    with pytest.raises(Refused, match="本团队没有 #999"):
        await udb.run(lambda s: revoke(s, RevokeRequest(udb.team_id, BOSS, 999), POLICY))
    actions = await udb.rows("SELECT action FROM auditlog ORDER BY id")
    assert actions == [("entry.create",), ("entry.revoke",)]


async def test_nobody_revokes_a_record_about_themselves(udb):
    done = await udb.run(lambda s: mark(s, req(udb, "@30001", "迟到"), POLICY))
    entry_id = done.lines[0].entry.id
    alice_admin = replace(ALICE, group_role="admin")  # an admin supervises, but not herself
    with pytest.raises(Refused, match=SELF_REVOKE):
        await udb.run(
            lambda s: revoke(s, RevokeRequest(udb.team_id, alice_admin, entry_id), POLICY)
        )
    with pytest.raises(Refused, match="只有本团队的主管"):
        await udb.run(lambda s: revoke(s, RevokeRequest(udb.team_id, BOB, entry_id), POLICY))


def db_now():
    from models.periods import utcnow

    return utcnow()


async def test_a_name_typed_with_an_at_sign_is_the_roster_name(udb):
    """WeCom sends no mention list: "@赵一" arrives as text and names 赵一 by the roster."""
    done = await udb.run(lambda s: mark(s, req(udb, "＠赵一", "迟到"), POLICY))
    assert [line.member_name for line in done.lines] == ["赵一"]


async def test_where_users_are_not_numbers_a_typed_number_names_nobody(udb):
    """Official QQ, Feishu and WeCom users are openids/userids: `30001` is not a user there,
    so it is read as what follows (here: not an item), never as 赵一's QQ number."""
    on_qq = await udb.run(lambda s: mark(s, req(udb, "30001", "迟到"), POLICY))
    assert [line.member_name for line in on_qq.lines] == ["赵一"]
    elsewhere = replace(BOSS, typed_ids=False)
    with pytest.raises(Refused):
        await udb.run(lambda s: mark(s, req(udb, "30001", "迟到", actor=elsewhere), POLICY))
    assert await udb.rows("SELECT count(*) FROM entry") == [(1,)]
