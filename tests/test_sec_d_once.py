"""Issue 20 finding 9 and build 8-9 (SPEC §5 "Several processes"): every message is
claimed before it is answered, reads and refusals too, so one message delivered to two
processes is answered once; a message that ended in 「出错了」 is handled again when it comes
again; a process that remembers a group as unbound (or served by another account) reads the
binding again before it stays silent.

A second process is simulated by forgetting this process's memory of handled messages
(`dispatch.forget_deliveries`): the database is all the two processes share."""

from __future__ import annotations

import io

import pytest
from nonebot.adapters.onebot.v11 import Adapter, Bot
from nonebug import App
from openpyxl import load_workbook

from tests.utils import (
    BOT_ID,
    GROUP,
    OWNER,
    Capture,
    bind,
    entries,
    group_event,
    next_id,
    plain,
    said,
    say,
)

ZHANG = 30001


async def claims() -> int:
    from sqlalchemy import func, select

    from bot import db
    from models.tables import ProcessedMessage

    async with db.reading() as s:
        return (await s.execute(select(func.count()).select_from(ProcessedMessage))).scalar_one()


def as_second_process() -> None:
    from bot import dispatch

    dispatch.forget_deliveries()


@pytest.mark.parametrize(
    ("content", "starts"),
    [
        ("/软文 没有链接", "❌ 自建渠道软文需要附上链接"),  # a refused write
        ("/我的绩效", "📋 张三"),  # a read
        ("/我的绩效 9999-99", "❌"),  # a refused read
        ("/排行", ""),  # a read of the whole team
    ],
)
async def test_a_message_delivered_to_two_processes_is_answered_once(
    app: App, content: str, starts: str
):
    await bind(app)
    assert (await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅")
    mid = next_id()
    before = await claims()
    [first] = await say(app, group_event(content, ZHANG, card="张三", message_id=mid))
    assert plain(first).startswith(starts), first
    assert await claims() == before + 1
    as_second_process()
    await say(app, group_event(content, ZHANG, card="张三", message_id=mid), replies=0)
    assert await claims() == before + 1


async def test_a_refused_write_claims_after_its_rollback_and_writes_nothing_else(app: App):
    await bind(app)
    mid = next_id()
    link = "https://example.com/once"
    assert (await said(app, f"/软文 {link}", ZHANG, card="张三")).startswith("✅ #1")
    [refused] = await say(app, group_event(f"/软文 {link}", ZHANG, message_id=mid))
    assert refused.startswith("❌ 该链接已在 #1 记录过"), refused
    as_second_process()
    await say(app, group_event(f"/软文 {link}", ZHANG, message_id=mid), replies=0)
    assert len(await entries()) == 1


async def test_a_write_that_failed_is_handled_again_when_sent_again(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    import models.usecases.selfreport as selfreport

    await bind(app)
    real, calls = selfreport.log_self_report, []

    def failing_once(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database went away")
        return real(*args, **kw)

    monkeypatch.setattr(selfreport, "log_self_report", failing_once)
    mid = next_id()
    [failed] = await say(app, group_event("/朋友圈", ZHANG, card="张三", message_id=mid))
    assert failed.startswith("❌ 出错了"), failed
    assert await claims() == 1  # /绑定's
    [done] = await say(app, group_event("/朋友圈", ZHANG, card="张三", message_id=mid))
    assert done.startswith("✅ #1 "), done
    assert len(await entries()) == 1


async def test_a_read_that_failed_after_its_claim_withdraws_it_and_is_handled_again(
    app: App, monkeypatch: pytest.MonkeyPatch
):
    """/导出 reads, claims, then saves and uploads the file (a `Later`): a failure there ends
    in 「出错了」, and the claim is withdrawn so the same message is exported when sent again."""
    import plugins.monthly

    await bind(app)
    assert (await said(app, "/朋友圈", ZHANG, card="张三")).startswith("✅")
    real, calls = plugins.monthly.save_export, []

    def failing_once(name: str, data: bytes):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        return real(name, data)

    monkeypatch.setattr(plugins.monthly, "save_export", failing_once)
    before = await claims()
    event = group_event("/导出", OWNER, role="owner", message_id=next_id())
    [failed] = await say(app, event)
    assert failed.startswith("❌ 出错了"), failed
    assert await claims() == before
    files: list[str] = []
    [done] = await say(
        app,
        group_event("/导出", OWNER, role="owner", message_id=event.message_id),
        api=[
            ("upload_group_file", {"group_id": GROUP, "file": Capture(files), "name": Any()}, None)
        ],
    )
    assert done.startswith("✅ 已导出"), done
    assert await claims() == before + 1


class Any(str):
    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


# ---- the binding cache ------------------------------------------------------------------------


async def bind_elsewhere(self_id: str = BOT_ID) -> None:
    """`/绑定` as another process does it: in the database, not in this process's cache."""
    from bot import db
    from models.roster import bind_group, new_team

    async with db.writing() as s:
        team = await new_team(s, "客服一组", f"qq:{OWNER}")
        await bind_group(s, team, "qq", str(GROUP), "OneBot V11", self_id, f"qq:{OWNER}")


async def test_a_group_bound_by_another_process_is_answered_at_once(app: App):
    await say(app, group_event("/朋友圈", ZHANG, card="张三"), replies=0)  # unbound: silent
    await bind_elsewhere()
    reply = await said(app, "/朋友圈", ZHANG, card="张三")
    assert reply.startswith("✅ #1 "), reply


async def test_a_group_moved_to_this_account_by_another_process_is_answered_at_once(app: App):
    from sqlalchemy import update

    from bot import db
    from models.tables import GroupBinding

    await bind_elsewhere(self_id="88888")
    await say(app, group_event("/朋友圈", ZHANG, card="张三"), replies=0)  # served elsewhere
    async with db.writing() as s:
        await s.execute(update(GroupBinding).values(self_id=BOT_ID))
    reply = await said(app, "/朋友圈", ZHANG, card="张三")
    assert reply.startswith("✅ #1 "), reply


async def test_export_writes_a_control_character_of_an_old_note_safely(app: App):
    """Issue 20 finding 10: a `\\x07` stored in a note (before notes were cleaned) made
    /导出 fail for the whole team; a note typed as a formula stays text."""
    from sqlalchemy import update

    from bot import db
    from models.tables import Entry, Member

    await bind(app)
    assert (await said(app, "/朋友圈 第一条", ZHANG, card="张三")).startswith("✅")
    assert (await said(app, "/朋友圈 第二条", ZHANG, card="张三")).startswith("✅")
    async with db.writing() as s:
        await s.execute(update(Entry).where(Entry.id == 1).values(note="响\x07铃"))
        await s.execute(update(Entry).where(Entry.id == 2).values(note="=1+1"))
        await s.execute(update(Member).values(name="张\x1b三"))
    files: list[str] = []
    out: list[str] = []
    async with app.test_matcher() as ctx:
        adapter = ctx.create_adapter(base=Adapter)
        bot = ctx.create_bot(base=Bot, adapter=adapter, self_id=BOT_ID)
        event = group_event("/导出", OWNER, role="owner")
        ctx.receive_event(bot, event)
        ctx.should_call_api(
            "upload_group_file", {"group_id": GROUP, "file": Capture(files), "name": Any()}, None
        )
        ctx.should_call_send(event, Capture(out), {"message_id": 1})
    assert out[0].startswith("✅ 已导出"), out
    import base64

    wb = load_workbook(io.BytesIO(base64.b64decode(files[0].removeprefix("base64://"))))
    notes = [row[9] for row in wb["明细"].iter_rows(min_row=2, values_only=True)]
    assert notes == ["响铃", "=1+1"]
    assert wb["明细"]["J3"].data_type == "s"
    assert wb["汇总"]["B3"].value == "张三"
