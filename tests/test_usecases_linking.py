"""The same person on two platforms (SPEC §2 "Linked accounts"): `/关联` codes, linking an
account to a roster member, merging the account's own records, `/取消关联`, as plain use
cases on a scratch database (SQLite or PostgreSQL, no NoneBot)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from models.ledger import Refused, month_score
from models.periods import current_period, utcnow
from models.roster import audit_sentences, member_row, memberships, names_of, users_on_team
from models.tables import AuditLog, LinkCode, SettledScore, Settlement
from models.usecases.base import Actor, Person, Word
from models.usecases.linking import (
    CODES_PER_HOUR,
    CodeRequest,
    LinkRequest,
    UnlinkRequest,
    ask_code,
    link,
    unlink,
)
from models.usecases.marks import MarkRequest, mark
from models.usecases.roster import JoinRequest, LeaveRequest, join, leave
from models.usecases.selfreport import ReportRequest, self_report
from models.usecases.targets import Where, resolve
from tests.usecase_db import ALICE, BOSS, POLICY, ROOT, make

ZHAO_WECOM = Actor("wecom", "zhaoyi", "zhaoyi", typed_ids=False)
BOSS_WECOM = Actor("wecom", "zhangzhuguan", "zhangzhuguan", typed_ids=False)
ROOT_WECOM = Actor("wecom", "chaoguan", "chaoguan", is_superuser=True, typed_ids=False)
MONTH = current_period(POLICY.tz)


@pytest.fixture
async def udb(tmp_path):
    d = await make(tmp_path, "linking")
    yield d
    await d.engine.dispose()


async def code_for(udb, actor: Actor) -> str:
    done = await udb.run(lambda s: ask_code(s, CodeRequest(actor, udb.team_id), POLICY))
    assert len(done.code) == 6
    assert done.code.isdigit()
    return done.code


def link_req(udb, code: str, *words: str, actor: Actor = ROOT) -> LinkRequest:
    return LinkRequest(udb.team_id, actor, code, tuple(_word(w) for w in words))


def _word(w: str) -> Word:
    return Word(mention=w[1:]) if w.startswith("@") and w[1:].isdigit() else Word(w)


async def linked(udb, actor: Actor, *who: str) -> None:
    code = await code_for(udb, actor)
    await udb.run(lambda s: link(s, link_req(udb, code, *who), POLICY))


async def execute(udb, sql: str, **params) -> None:
    async with udb.engine.begin() as conn:
        await conn.execute(text(sql), params)


async def report(udb, actor: Actor, item: str = "moments", *words: str):
    req = ReportRequest(udb.team_id, actor, tuple(Word(w) for w in words), item)
    return await udb.run(lambda s: self_report(s, req, POLICY))


async def total(udb, member_id: int):
    return (
        await udb.run(lambda s: month_score(s, POLICY.rubric, udb.team_id, member_id, MONTH, None))
    ).total


async def test_a_linked_account_is_the_member_for_reports_marks_rights_and_the_dashboard(udb):
    zhao = udb.ids["30001"]
    code = await code_for(udb, ZHAO_WECOM)
    [(stored,)] = await udb.rows("SELECT code_hash FROM link_code")
    assert code not in stored  # only its hash is kept
    done = await udb.run(lambda s: link(s, link_req(udb, code, "赵一"), POLICY))
    assert (done.name, done.account, done.merged) == ("赵一", "企业微信账号「zhaoyi」", 0)

    await report(udb, ALICE)  # from QQ
    on_wecom = await report(udb, ZHAO_WECOM)  # from WeCom: the same member, the same month
    assert on_wecom.done == 2
    assert await udb.rows("SELECT DISTINCT member_id FROM entry") == [(zhao,)]
    assert await udb.rows("SELECT COUNT(*) FROM member") == [(3,)]  # nobody new

    # a supervisor on WeCom (linked too) deducts 赵一 by the name typed after @
    await linked(udb, BOSS_WECOM, "@10001")
    req = MarkRequest(udb.team_id, BOSS_WECOM, (Word("@赵一"), Word("迟到")), -1, source="w:1")
    marked = await udb.run(lambda s: mark(s, req, POLICY))
    assert [line.member_name for line in marked.lines] == ["赵一"]
    score = await total(udb, zhao)
    assert score == on_wecom.score.total - 1

    # nobody deals for themselves: 张主管 on WeCom is 张主管
    self_mark = MarkRequest(udb.team_id, BOSS_WECOM, (Word("张主管"), Word("迟到")), -1)
    with pytest.raises(Refused, match="不能给自己扣分或加分"):
        await udb.run(lambda s: mark(s, self_mark, POLICY))

    def lookups(s):
        return (
            member_row(s, udb.team_id, "wecom", "zhaoyi").id,
            users_on_team(s, udb.team_id, "wecom", {"zhaoyi", "nobody"}),
        )

    assert await udb.run(lookups) == (zhao, {"zhaoyi"})
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(udb.engine) as s:
        assert [m.id for m in await memberships(s, "wecom", "zhaoyi")] == [zhao]
        names = await names_of(s, udb.team_id, {"wecom:zhaoyi", "wecom:zhangzhuguan"})
        assert names == {"wecom:zhaoyi": "赵一", "wecom:zhangzhuguan": "张主管"}
        rows = (await s.execute(select(AuditLog).where(AuditLog.action == "link"))).scalars()
        said = await audit_sentences(s, udb.team_id, list(rows), {})
    assert said == [
        "管理员 把企业微信账号「zhaoyi」关联到 赵一",
        "管理员 把企业微信账号「zhangzhuguan」关联到 张主管",
    ]


async def test_an_account_with_its_own_records_is_merged_without_losing_or_doubling_one(udb):
    zhao = udb.ids["30001"]
    await report(udb, ALICE)
    await report(udb, ALICE, "friends", "10")
    await report(udb, ZHAO_WECOM)  # registered on WeCom as a member of its own
    await report(udb, ZHAO_WECOM, "friends", "5")
    [(own,)] = await udb.rows("SELECT id FROM member WHERE user_id = 'zhaoyi'")
    before = await total(udb, zhao) + await total(udb, own)
    assert await udb.rows("SELECT COUNT(*) FROM entry") == [(4,)]

    code = await code_for(udb, ZHAO_WECOM)
    done = await udb.run(lambda s: link(s, link_req(udb, code, "赵一"), POLICY))
    assert done.merged == 2
    assert await udb.rows("SELECT COUNT(*) FROM member WHERE id = :m", m=own) == [(0,)]
    assert await udb.rows("SELECT member_id, COUNT(*) FROM entry GROUP BY member_id") == [(zhao, 4)]
    # the promotion category is earned: 2 moments and 15 friends count together
    merged = await total(udb, zhao)
    assert merged > await total(udb, udb.ids["30002"])
    assert merged <= before
    tenures = await udb.rows('SELECT start, "end" FROM tenure WHERE member_id = :m', m=zhao)
    assert [(str(s)[:10], e) for s, e in tenures] == [("2026-01-01", None)]
    # the audit still names the merged entries' person
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(udb.engine) as s:
        rows = list(
            (
                await s.execute(
                    select(AuditLog).where(AuditLog.action.in_(("entry.create", "link")))
                )
            ).scalars()
        )
        said = await audit_sentences(s, udb.team_id, rows, {"moments": "朋友圈"})
    assert "某人" not in "".join(said), said
    assert said[-1] == "管理员 把企业微信账号「zhaoyi」关联到 赵一，并入其原有 2 条记录"


async def test_bad_codes_and_bad_targets_are_refused_and_change_nothing(udb):
    code = await code_for(udb, ZHAO_WECOM)

    async def state():
        return (
            await udb.rows("SELECT COUNT(*) FROM member_account"),
            await udb.rows("SELECT COUNT(*) FROM link_code WHERE used_at IS NULL"),
        )

    unchanged = await state()
    wrong = "000000" if code != "000000" else "111111"
    cases = [
        (link_req(udb, wrong, "赵一"), "关联码 .* 不对、已过期或已用过"),
        (link_req(udb, code, "赵一", actor=BOSS), "只有超级管理员"),
        (link_req(udb, code, "王八"), "请写要关联到的人"),
        (link_req(udb, code), "请写要关联到的人"),
        (link_req(udb, code, "赵一", "钱二"), "一次只能处理一个人"),
    ]
    for req, why in cases:
        with pytest.raises(Refused, match=why):
            await udb.run(lambda s, req=req: link(s, req, POLICY))
        assert await state() == unchanged

    # a member who left
    await udb.run(
        lambda s: leave(s, LeaveRequest(udb.team_id, BOSS, (Word(mention="30002"),)), POLICY)
    )
    with pytest.raises(Refused, match=r"钱二 已于 .* 离职"):
        await udb.run(lambda s: link(s, link_req(udb, code, "钱二"), POLICY))

    # a code is used once
    await udb.run(lambda s: link(s, link_req(udb, code, "赵一"), POLICY))
    with pytest.raises(Refused, match="不对、已过期或已用过"):
        await udb.run(lambda s: link(s, link_req(udb, code, "赵一"), POLICY))

    # the account already linked: to the same person, or to someone else
    with pytest.raises(Refused, match="你的这个账号已经关联到本团队的 赵一"):
        await code_for(udb, ZHAO_WECOM)

    # an expired code
    other = Actor("wecom", "qianer", "qianer", typed_ids=False)
    late = await code_for(udb, other)
    await execute(udb, "UPDATE link_code SET expires_at = :t", t=utcnow() - timedelta(seconds=1))
    with pytest.raises(Refused, match="不对、已过期或已用过"):
        await udb.run(lambda s: link(s, link_req(udb, late, "赵一"), POLICY))

    # a QQ account that is the member's own
    own = await code_for(udb, ALICE)
    with pytest.raises(Refused, match="就是 赵一 自己的账号"):
        await udb.run(lambda s: link(s, link_req(udb, own, "赵一"), POLICY))


async def test_an_account_linked_to_one_member_is_refused_for_another(udb):
    await linked(udb, ZHAO_WECOM, "赵一")
    # linked in another team elsewhere is no concern here; in this team it is 赵一's
    [(member_id,)] = await udb.rows("SELECT member_id FROM member_account")
    assert member_id == udb.ids["30001"]
    await execute(udb, "DELETE FROM link_code")
    # the code table is per account: a forged second code for the same account
    now = utcnow()

    def forge(s):
        from models.usecases.linking import code_hash

        s.add(
            LinkCode(
                code_hash=code_hash("424242"),
                platform="wecom",
                user_id="zhaoyi",
                name="zhaoyi",
                created_at=now,
                expires_at=now + timedelta(minutes=5),
            )
        )

    await udb.run(forge)
    with pytest.raises(Refused, match="已关联到 赵一，如要改请先 /取消关联 赵一"):
        await udb.run(lambda s: link(s, link_req(udb, "424242", "钱二"), POLICY))


async def test_rows_that_cannot_be_one_person_are_refused(udb):
    boss_wecom = Actor("wecom", "zhang", "zhang", typed_ids=False)
    await report(udb, boss_wecom)  # an agent row of its own
    code = await code_for(udb, boss_wecom)
    with pytest.raises(Refused, match="在本团队是客服，张主管 是主管，不能合为一人"):
        await udb.run(lambda s: link(s, link_req(udb, code, "张主管"), POLICY))

    [(own,)] = await udb.rows("SELECT id FROM member WHERE user_id = 'zhang'")

    def settled(s):
        st = Settlement(
            team_id=udb.team_id,
            period="2026-10",
            rubric_version="x",
            rubric_text="",
            settled_at=utcnow(),
            settled_by="qq:10000",
        )
        s.add(st)
        s.flush()
        s.add(
            SettledScore(
                settlement_id=st.id,
                member_id=own,
                name="zhang",
                rank=1,
                categories="{}",
                total="90/1",
                grade="B",
            )
        )

    await udb.run(settled)
    with pytest.raises(Refused, match="在已结算的 2026-10 有单独的成绩"):
        await udb.run(lambda s: link(s, link_req(udb, code, "赵一"), POLICY))
    assert await udb.rows("SELECT COUNT(*) FROM entry WHERE member_id = :m", m=own) == [(1,)]


async def test_codes_are_rate_limited_and_a_new_one_voids_the_old(udb):
    first = await code_for(udb, ZHAO_WECOM)
    second = await code_for(udb, ZHAO_WECOM)
    if first != second:
        with pytest.raises(Refused, match="不对、已过期或已用过"):
            await udb.run(lambda s: link(s, link_req(udb, first, "赵一"), POLICY))
    for _ in range(CODES_PER_HOUR - 2):
        await code_for(udb, ZHAO_WECOM)
    with pytest.raises(Refused, match="一小时内最多要 5 次关联码"):
        await code_for(udb, ZHAO_WECOM)
    last = await udb.rows("SELECT COUNT(*) FROM link_code WHERE expires_at > :t", t=utcnow())
    assert last == [(1,)]


async def test_unlink_detaches_every_other_account_keeping_the_records(udb):
    await linked(udb, ZHAO_WECOM, "赵一")
    await report(udb, ZHAO_WECOM)
    with pytest.raises(Refused, match="只有超级管理员"):
        await udb.run(
            lambda s: unlink(s, UnlinkRequest(udb.team_id, BOSS, (Word("赵一"),)), POLICY)
        )
    with pytest.raises(Refused, match=r"钱二 没有关联其他账号"):
        await udb.run(
            lambda s: unlink(s, UnlinkRequest(udb.team_id, ROOT, (Word("钱二"),)), POLICY)
        )
    done = await udb.run(
        lambda s: unlink(s, UnlinkRequest(udb.team_id, ROOT_WECOM, (Word("赵一"),)), POLICY)
    )
    assert (done.name, done.accounts) == ("赵一", ["企业微信账号「zhaoyi」"])
    assert await udb.rows("SELECT COUNT(*) FROM member_account") == [(0,)]
    assert await udb.rows("SELECT DISTINCT member_id FROM entry") == [(udb.ids["30001"],)]
    assert await udb.run(lambda s: member_row(s, udb.team_id, "wecom", "zhaoyi")) is None
    [(actor, target)] = await udb.rows("SELECT actor, target FROM auditlog WHERE action = 'unlink'")
    assert (actor, target) == ("wecom:chaoguan", "qq:30001")


async def test_refusals_name_accounts_without_qq_numbers_where_there_are_none(udb):
    feishu = Where(
        udb.team_id, "feishu.cli_a", "feishu.cli_a:ou_boss", date.today(), {}, None, False
    )
    with pytest.raises(Refused, match=r"^账号 ou_x1 不在本群或本团队"):
        await udb.run(lambda s: resolve(s, feishu, [Word(mention="ou_x1")]))
    # an @ that showed a name (Feishu's do): the refusal says the name, not the open_id
    with pytest.raises(Refused, match=r"^赵六 不在本群或本团队") as refused:
        await udb.run(lambda s: resolve(s, feishu, [Word(mention="ou_x1", shown="赵六")]))
    assert "ou_x1" not in str(refused.value)
    qq = Where(udb.team_id, "qq", "qq:10001", date.today(), {}, None, True)
    with pytest.raises(Refused, match=r"^QQ 30009 不在本群或本团队"):
        await udb.run(lambda s: resolve(s, qq, [Word(mention="30009")]))
    boss = Actor("feishu.cli_a", "ou_boss", "张主管", is_superuser=True, typed_ids=False)
    with pytest.raises(Refused, match=r"^账号 ou_x1 不在本群，不能入职"):
        await udb.run(lambda s: join(s, JoinRequest(udb.team_id, boss, ("ou_x1",)), POLICY))
    named = {"ou_x2": Person("ou_x2", None)}
    with pytest.raises(Refused, match=r"^账号 ou_x2 不在本群，不能入职"):
        await udb.run(
            lambda s: join(s, JoinRequest(udb.team_id, boss, ("ou_x2",), people=named), POLICY)
        )


async def test_people_are_mentioned_by_their_account_on_the_groups_platform(udb):
    """A reply in a WeCom group @s a linked member by their WeCom account, and names one
    with no account there in text (`at(None, name)`), never by a QQ number."""
    from bot.replies import Mention, at
    from models.roster import accounts_on
    from models.usecases.appeals import AppealRequest, file
    from models.usecases.marks import RevokeRequest, revoke

    await linked(udb, ZHAO_WECOM, "赵一")
    req = MarkRequest(udb.team_id, BOSS, (Word(mention="30001"), Word("投诉")), -1)
    entry_id = (await udb.run(lambda s: mark(s, req, POLICY))).lines[0].entry.id
    appeal = AppealRequest(udb.team_id, ZHAO_WECOM, entry_id, "客户误会")
    filed = await udb.run(lambda s: file(s, appeal, POLICY))
    assert filed.supervisors == [(None, "张主管")]  # 张主管 has no WeCom account yet
    assert [at(uid, name) for uid, name in filed.supervisors] == ["@张主管 "]

    await linked(udb, BOSS_WECOM, "@10001")
    handles = await udb.run(lambda s: accounts_on(s, udb.team_id, "wecom"))
    assert handles == {udb.ids["30001"]: "zhaoyi", udb.ids["10001"]: "zhangzhuguan"}
    done = await udb.run(
        lambda s: revoke(s, RevokeRequest(udb.team_id, BOSS_WECOM, entry_id), POLICY)
    )
    assert done.appeal_accepted
    assert at(done.member_user_id, done.member_name) == Mention("zhaoyi", "赵一")
    on_qq = await udb.run(lambda s: accounts_on(s, udb.team_id, "qq"))
    assert on_qq[udb.ids["30001"]] == "30001"


async def test_an_imported_row_names_a_member_by_any_of_their_accounts(udb):
    """The import's 「姓名或QQ」 column finds a member by a linked account's id too (a team
    that moved from QQ to WeCom writes whichever it has), and nobody imports for
    themselves through another of their accounts."""
    from models.importer import HEADER, check_file

    await linked(udb, ZHAO_WECOM, "赵一")
    await linked(udb, BOSS_WECOM, "@10001")
    today = date.today()
    day = today.isoformat()
    rows = [",".join(HEADER), f"zhaoyi,迟到,1,{day},", f"10001,迟到,1,{day},"]
    data = ("\r\n".join(rows) + "\r\n").encode()

    def check(s):
        return check_file(
            s,
            udb.team_id,
            data,
            "导入.csv",
            POLICY.rubric,
            actor_user_id="zhangzhuguan",
            today=today,
        )

    found, own = await udb.run(check)
    assert (found.name, found.error) == ("赵一", None)
    assert own.error == "不能给自己扣分或加分"
