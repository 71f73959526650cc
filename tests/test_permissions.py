"""Who may run which command (SPEC §2 roles, §3 supervisors, §6 "an agent deducts…; a
supervisor of one team touches another team"): every supervisor / owner / superuser command
against every kind of actor, and a refused command writes nothing."""

from __future__ import annotations

import re

import pytest
from nonebug import App
from sqlalchemy import func, select

from tests.utils import (
    ADMIN,
    BOSS,
    GROUP,
    OTHER_GROUP,
    OWNER,
    SUPER,
    at,
    bind,
    group_event,
    said,
    say,
)
from tools import testdb

TARGET = 30001  # 张三, an agent of team A: the @x of every command
AGENT = 30002  # 李四, an agent of team A, no supervisor role
OTHER_BOSS = 10004  # supervisor of team B (OTHER_GROUP), speaking in team A's group
UNBOUND = GROUP + 7
PERMISSION_REFUSAL = "❌ 只有"


class AnyData(dict):
    """API call data that matches whatever the bot sends (e.g. an upload's base64 body)."""

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = None  # type: ignore[assignment]


ACTORS: dict[str, dict] = {
    "agent": {"user_id": AGENT, "card": "李四", "role": "member"},
    "supervisor": {"user_id": BOSS, "card": "老板", "role": "member"},
    "other_team_supervisor": {"user_id": OTHER_BOSS, "card": "别组主管", "role": "member"},
    "group_admin": {"user_id": ADMIN, "card": "管理员", "role": "admin"},
    "group_owner": {"user_id": OWNER, "card": "群主", "role": "owner"},
    "superuser": {"user_id": SUPER, "card": "超管", "role": "member"},
}

SUPERVISORS = {"supervisor", "group_admin", "group_owner", "superuser"}
OWNERS = {"group_owner", "superuser"}
SUPERUSERS = {"superuser"}
AUDITED_REFUSALS = {"绑定已有团队"}  # the refused attempt itself is the one row written

# (label, message parts with {id} for the entry under appeal, who may, group)
COMMANDS: list[tuple[str, list, set[str], int]] = [
    ("扣分", ["/扣分 ", at(TARGET), " 投诉"], SUPERVISORS, GROUP),
    ("加分", ["/加分 ", at(TARGET), " 培训讲师"], SUPERVISORS, GROUP),
    ("投诉", ["/投诉 ", at(TARGET)], SUPERVISORS, GROUP),
    ("严重投诉", ["/严重投诉 ", at(TARGET), " 200"], SUPERVISORS, GROUP),
    ("迟到", ["/迟到 ", at(TARGET)], SUPERVISORS, GROUP),
    ("撤销", ["/撤销 #{id}"], SUPERVISORS, GROUP),
    ("绩效", ["/绩效 ", at(TARGET)], SUPERVISORS, GROUP),
    ("明细", ["/明细 ", at(TARGET)], SUPERVISORS, GROUP),
    ("月报", ["/月报"], SUPERVISORS, GROUP),
    ("结算", ["/结算 上月"], SUPERVISORS, GROUP),
    ("导出", ["/导出"], SUPERVISORS, GROUP),
    ("入职", ["/入职 ", at(TARGET), " 张三"], SUPERVISORS, GROUP),
    ("离职", ["/离职 ", at(TARGET)], SUPERVISORS, GROUP),
    ("未报", ["/未报"], SUPERVISORS, GROUP),
    ("驳回", ["/驳回 #{id} 证据不足"], SUPERVISORS, GROUP),
    ("申诉列表", ["/申诉列表"], SUPERVISORS, GROUP),
    ("提醒", ["/提醒 17:30"], SUPERVISORS, GROUP),
    ("审计", ["/审计"], SUPERVISORS, GROUP),
    ("主管", ["/主管 ", at(TARGET)], OWNERS, GROUP),
    ("取消主管", ["/取消主管 ", at(TARGET)], OWNERS, GROUP),
    ("绑定", ["/绑定 新团队"], OWNERS, UNBOUND),
    # SPEC §2 "Binding is guarded": an existing team takes a superuser or its explicit /主管;
    # owning the new group (or supervising another team) is not enough.
    ("绑定已有团队", ["/绑定 客服一组"], {"supervisor", "superuser"}, UNBOUND),
    ("解绑", ["/解绑"], OWNERS, GROUP),
    ("重开", ["/重开 上月"], SUPERUSERS, GROUP),
    ("重发", ["/重发 上月"], SUPERUSERS, GROUP),
]

CASES = [
    pytest.param(label, parts, actor, actor in allowed, group, id=f"{label}-{actor}")
    for label, parts, allowed, group in COMMANDS
    for actor in ACTORS
]


async def row_counts() -> dict[str, int]:
    from bot import db
    from models.tables import AuditLog, Entry, GroupBinding, Member, Settlement

    out = {}
    async with db.reading() as s:
        for table in (Entry, Member, AuditLog, GroupBinding, Settlement):
            out[table.__name__] = (
                await s.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return out


async def two_teams_with_an_appeal(app: App) -> int:
    """Team A in GROUP (agents 张三, 李四; supervisor BOSS), team B in OTHER_GROUP (supervisor
    OTHER_BOSS); 张三 has a complaint under appeal. Returns the complaint's entry id."""
    assert (await bind(app)).startswith("✅")
    assert (await bind(app, OTHER_GROUP, "客服二组")).startswith("✅")
    assert (await said(app, "/朋友圈", TARGET, card="张三")).startswith("✅")
    assert (await said(app, "/朋友圈", AGENT, card="李四")).startswith("✅")
    reply = await said(
        app,
        ["/主管 ", at(BOSS)],
        OWNER,
        role="owner",
        api=[
            (
                "get_group_member_info",
                {"group_id": GROUP, "user_id": BOSS},
                {"card": "老板", "nickname": "boss"},
            )
        ],
    )
    assert reply.startswith("✅"), reply
    reply = await said(
        app,
        ["/主管 ", at(OTHER_BOSS)],
        OWNER,
        role="owner",
        group_id=OTHER_GROUP,
        api=[
            (
                "get_group_member_info",
                {"group_id": OTHER_GROUP, "user_id": OTHER_BOSS},
                {"card": "别组主管", "nickname": "ob"},
            )
        ],
    )
    assert reply.startswith("✅"), reply
    reply = await said(app, ["/投诉 ", at(TARGET)], OWNER, role="owner")
    entry_id = int(re.match(r"✅ #(\d+) ", reply).group(1))
    reply = await said(app, f"/申诉 #{entry_id} 不是我", TARGET, card="张三")
    assert reply.startswith("✅"), reply
    return entry_id


_PREPARED: dict[str, object] = {}


@pytest.fixture
async def appealed_entry(app: App) -> int:
    """`two_teams_with_an_appeal`, chatted once per session and then restored from a
    snapshot of every table, so a case costs one message. Returns the appealed entry's id."""
    from sqlmodel import SQLModel

    from bot import db

    if not _PREPARED:
        entry_id = await two_teams_with_an_appeal(app)
        snap = await testdb.snapshot(db.engine(), SQLModel.metadata)
        _PREPARED.update(snapshot=snap, entry_id=entry_id)
    else:
        await testdb.restore(db.engine(), SQLModel.metadata, _PREPARED["snapshot"])
    return _PREPARED["entry_id"]  # type: ignore[return-value]


@pytest.fixture
def no_background_posts(monkeypatch: pytest.MonkeyPatch) -> None:
    import plugins.monthly

    monkeypatch.setattr(plugins.monthly, "AUTO_FLUSH", False)


@pytest.mark.usefixtures("no_background_posts")
@pytest.mark.parametrize(("label", "parts", "actor", "allowed", "group"), CASES)
async def test_command_is_allowed_or_refused_by_role_and_refusal_writes_nothing(
    app: App, appealed_entry: int, label: str, parts: list, actor: str, allowed: bool, group: int
):
    entry_id = appealed_entry
    content = [p.format(id=entry_id) if isinstance(p, str) else p for p in parts]
    api = [("upload_group_file", AnyData(), None)] if label == "导出" and allowed else []
    before = await row_counts()
    reply = await said(app, content, group_id=group, api=api, **ACTORS[actor])
    if allowed:
        assert reply, label
        assert not reply.startswith(PERMISSION_REFUSAL), reply
        assert "出错了" not in reply, reply
    else:
        assert reply.startswith(PERMISSION_REFUSAL), reply
        assert "用法" in reply, reply
        audited = label in AUDITED_REFUSALS
        assert await row_counts() == {**before, "AuditLog": before["AuditLog"] + audited}
        if audited:
            row = await last_audit()
            assert (row.action, row.actor) == ("bind.refused", f"qq:{ACTORS[actor]['user_id']}")
            assert row.target == f"qq:{group}"


async def last_audit():
    from bot import db
    from models.tables import AuditLog

    async with db.reading() as s:
        return (
            await s.execute(select(AuditLog).order_by(AuditLog.id.desc()).limit(1))
        ).scalar_one()


async def test_owning_a_group_gives_no_rights_over_another_team(app: App, appealed_entry: int):
    """The takeover of issue 12: the owner of an unrelated group binds it to an existing team
    and then deducts from that team's agents. Refused, nothing bound, the attempt audited on
    the team; the group stays unbound, so the deduction that follows gets silence."""
    stranger = 40001
    before = await row_counts()
    reply = await said(app, "/绑定 客服一组", stranger, group_id=UNBOUND, role="owner")
    assert reply.startswith("❌ 只有超级管理员或「客服一组」的主管可以把群绑定到这个已有团队"), (
        reply
    )
    assert await row_counts() == {**before, "AuditLog": before["AuditLog"] + 1}
    row = await last_audit()
    assert (row.team_id, row.action, row.actor) == (1, "bind.refused", f"qq:{stranger}")
    out = await say(
        app,
        group_event(
            ["/投诉 ", at(TARGET), " 业绩未达标"], stranger, group_id=UNBOUND, role="owner"
        ),
        replies=0,
    )
    assert out == []
    assert await row_counts() == {**before, "AuditLog": before["AuditLog"] + 1}


async def test_a_supervisor_of_the_team_binds_another_group_to_it(app: App, appealed_entry: int):
    reply = await said(app, "/绑定 客服一组", BOSS, group_id=UNBOUND, card="老板")
    assert reply == (
        "✅ 本群已绑定团队「客服一组」（已有团队，共用成员和记录）\n"
        "客服：/软文 链接、/加好友 个数、/朋友圈 即可自报；主管：/扣分 @某人 项目。/帮助 看全部命令"
    )
    deducted = await said(app, ["/投诉 ", at(TARGET)], BOSS, group_id=UNBOUND, card="老板")
    assert deducted.startswith("✅ "), deducted


async def test_admin_is_not_a_supervisor_when_admins_are_supervisors_is_false(
    app: App, appealed_entry: int, monkeypatch: pytest.MonkeyPatch
):
    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_admins_are_supervisors", False)
    before = await row_counts()
    reply = await said(app, ["/投诉 ", at(TARGET)], ADMIN, card="管理员", role="admin")
    assert reply.startswith(PERMISSION_REFUSAL), reply
    assert "用法" in reply, reply
    assert await row_counts() == before


async def test_explicit_supervisor_still_acts_when_admins_are_supervisors_is_false(
    app: App, appealed_entry: int, monkeypatch: pytest.MonkeyPatch
):
    from bot.config import get_config

    monkeypatch.setattr(get_config(), "kpi_admins_are_supervisors", False)
    reply = await said(app, ["/投诉 ", at(TARGET)], BOSS, card="老板")
    assert reply.startswith("✅"), reply
