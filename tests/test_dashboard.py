"""SPEC §5a: the web dashboard — one-time login from chat, who sees what, the pages' numbers."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import re
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path

import httpx
import nonebot
import pytest
from nonebot.adapters.onebot.v11.exception import ActionFailed
from nonebug import App
from openpyxl import load_workbook
from PIL import Image
from sqlalchemy import select

from bot import db
from bot.config import get_config
from models.periods import set_clock
from models.tables import Entry, Team, WebLogin
from tests.utils import (
    GROUP,
    OTHER_GROUP,
    OWNER,
    SUPER,
    at,
    bind,
    group_event,
    plain,
    private_event,
    said,
    say,
)

SHANGHAI = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=SHANGHAI)
ZHANG, LI, WANG, BOSS, OUTSIDER = 30001, 30002, 30003, 10003, 30099
LINK = re.compile(r"(http://\S+/kpi/login/(\S+))")


@pytest.fixture(autouse=True)
def frozen_clock(fresh_db: Path) -> None:
    set_clock(NOW)


class Recorder(dict):
    """Matches any API payload and keeps it (the private message with the link)."""

    def __init__(self, sink: list[dict]):
        super().__init__()
        self.sink = sink

    def __eq__(self, other: object) -> bool:
        self.sink.append(other)  # type: ignore[arg-type]
        return True

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]


ORIGIN = "http://127.0.0.1:8080"  # the dashboard's own origin (HOST:PORT by default)


def client(cookie: str | None = None) -> httpx.AsyncClient:
    """A browser on the dashboard's pages: its POSTs carry the page's Origin."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=nonebot.get_app()),
        base_url="http://testserver",
        cookies={"kpi_session": cookie} if cookie else None,
        headers={"Origin": ORIGIN},
    )


NOT_FRIEND = ActionFailed(status="failed", retcode=100, message="not friend")


async def dashboard_in_group(
    app: App, user_id: int, outcomes: list[object], role: str = "member"
) -> tuple[list[str], list[dict]]:
    """`/后台` in the group; each private send attempt gets the next outcome (a result or an
    exception). Returns (the group replies, the private messages' payloads)."""
    from nonebot.adapters.onebot.v11 import Adapter, Bot

    from tests.utils import BOT_ID, Capture

    out: list[str] = []
    sent: list[dict] = []
    async with app.test_matcher() as ctx:
        bot = ctx.create_bot(base=Bot, adapter=ctx.create_adapter(base=Adapter), self_id=BOT_ID)
        event = group_event("/后台", user_id, card="张三", role=role)
        ctx.receive_event(bot, event)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                ctx.should_call_api("send_private_msg", Recorder([]), exception=outcome)
            else:
                ctx.should_call_api("send_private_msg", Recorder(sent), result=outcome)
        ctx.should_call_send(event, Capture(out), result={"message_id": 3})
    return [plain(m) for m in out], sent


async def link_in_private(app: App, user_id: int) -> str:
    reply = plain((await say(app, private_event("/后台", user_id)))[0])
    m = LINK.search(reply)
    assert reply.startswith("✅ "), reply
    assert m, reply
    return m.group(1)


async def login(app: App, user_id: int) -> httpx.AsyncClient:
    c = client()
    url = await link_in_private(app, user_id)
    r = await c.post(url.removeprefix("http://127.0.0.1:8080"))
    assert r.status_code == 303, r.text
    return c


async def team_a(app: App) -> None:
    """客服一组 (GROUP): 张三, 李四 report, BOSS is an explicit supervisor; 客服二组: 王五."""
    await bind(app, GROUP, "客服一组")
    await bind(app, OTHER_GROUP, "客服二组")
    for n in range(4):
        await said(app, f"/软文 https://example.com/z{n}", ZHANG, card="张三")
    for n in range(8):
        await said(app, f"/软文 https://example.com/l{n}", LI, card="李四")
    await said(app, "/加好友 60", LI, card="李四")
    await said(app, ["/投诉 ", at(ZHANG), " 客户说态度差"], OWNER, role="owner")
    await said(app, ["/扣分 ", at(LI), " 迟到 2 堵车"], OWNER, role="owner")
    await said(
        app,
        ["/主管 ", at(BOSS)],
        OWNER,
        role="owner",
        api=[("get_group_member_info", {"group_id": GROUP, "user_id": BOSS}, {"card": "王主管"})],
    )
    await said(app, "/朋友圈", WANG, group_id=OTHER_GROUP, card="王五")


async def ids() -> dict[str, int]:
    async with db.reading() as s:
        teams = {t.name: t.id for t in (await s.execute(select(Team))).scalars()}
        from models.tables import Member

        members = {m.name: m.id for m in (await s.execute(select(Member))).scalars()}
    return teams | members


class Table(HTMLParser):
    """The cells of the table with the given id, as text."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.rows, self.cell = table_id, False, [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join(self.cell.split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def table(html: str, table_id: str) -> list[list[str]]:
    p = Table(table_id)
    p.feed(html)
    return p.rows


# ---- login ---------------------------------------------------------------------------------------


async def test_private_link_logs_in_once_with_a_strict_httponly_cookie(app: App):
    await team_a(app)
    c = client()
    url = await link_in_private(app, ZHANG)
    path = url.removeprefix("http://127.0.0.1:8080")
    assert (await c.get("/kpi/")).status_code == 401
    page = await c.get(path)  # a link preview or URL scanner only sees the button
    assert page.status_code == 200
    assert "进入后台" in page.text
    r = await c.post(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/kpi/"
    cookie = r.headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Max-Age=43200", "Path=/kpi"):
        assert flag.lower() in cookie.lower(), cookie
    assert "secure" not in cookie.lower()
    home = await c.get("/kpi/", follow_redirects=True)
    assert home.status_code == 200
    assert "客服一组" in home.text
    assert "张三" in home.text
    again = await client().post(path)
    assert again.status_code == 410
    assert "/后台" in again.text
    assert "已经用过" in again.text


async def test_only_the_hash_of_the_token_is_stored(app: App):
    await team_a(app)
    token = LINK.search(await link_in_private(app, ZHANG)).group(2)
    async with db.reading() as s:
        rows = list((await s.execute(select(WebLogin))).scalars())
    assert len(token) >= 32  # 24 random bytes, 192 bits
    assert [r.token_hash for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert all(token not in str(v) for r in rows for v in r.model_dump().values())


async def test_link_expires_after_ten_minutes(app: App):
    await team_a(app)
    url = await link_in_private(app, ZHANG)
    set_clock(NOW + timedelta(minutes=10, seconds=1))
    r = await client().post(url.removeprefix("http://127.0.0.1:8080"))
    assert r.status_code == 410
    assert "请在聊天里重新发送 /后台" in r.text


async def test_two_browsers_opening_one_link_at_once_get_one_session(app: App):
    await team_a(app)
    path = (await link_in_private(app, ZHANG)).removeprefix("http://127.0.0.1:8080")
    results = await asyncio.gather(*(client().post(path) for _ in range(5)))
    assert sorted(r.status_code for r in results) == [303, 410, 410, 410, 410]


async def test_forged_tampered_expired_or_logged_out_cookies_are_not_a_session(app: App):
    await team_a(app)
    c = await login(app, ZHANG)
    good = c.cookies["kpi_session"]
    for bad in ("abc", good[:-2] + ("AA" if not good.endswith("AA") else "BB"), good + "x"):
        r = await client(bad).get("/kpi/")
        assert r.status_code == 401, bad
        assert "/后台" in r.text
    from itsdangerous import URLSafeTimedSerializer

    forged = URLSafeTimedSerializer("not-the-key", salt="kpi-dashboard-session").dumps({"id": 1})
    assert (await client(forged).get("/kpi/")).status_code == 401
    set_clock(NOW + timedelta(hours=12, minutes=1))
    assert (await c.get("/kpi/")).status_code == 401
    set_clock(NOW)
    assert (await c.get("/kpi/", follow_redirects=True)).status_code == 200
    page = (await c.get("/kpi/logout")).text
    token = re.search(r'name="csrf" value="([0-9a-f]{64})"', page).group(1)
    out = await c.post("/kpi/logout", data={"csrf": token})
    assert "已退出" in out.text
    assert (await client(good).get("/kpi/")).status_code == 401


async def test_in_a_group_the_link_goes_by_private_message_and_never_to_the_group(app: App):
    await team_a(app)
    replies, sent = await dashboard_in_group(app, ZHANG, [{"message_id": 1}])
    assert replies == ["✅ 登录链接已私聊发给你（10 分钟内有效，只能用一次）"]
    assert sent[0]["user_id"] == ZHANG
    assert "group_id" not in sent[0]
    assert LINK.search(str(sent[0]["message"]))


async def test_not_a_friend_gets_the_link_through_a_temporary_session(app: App):
    await team_a(app)
    replies, sent = await dashboard_in_group(app, ZHANG, [NOT_FRIEND, {"message_id": 2}])
    assert replies[0].startswith("✅ 登录链接已私聊发给你")
    assert sent[0]["group_id"] == GROUP
    assert LINK.search(str(sent[0]["message"]))


async def test_when_no_private_message_gets_through_the_group_is_told_to_add_the_bot(app: App):
    await team_a(app)
    replies, _ = await dashboard_in_group(app, ZHANG, [NOT_FRIEND, NOT_FRIEND])
    assert replies[0].startswith("❌ 私聊发送失败：请先加机器人为好友，再私聊机器人发 /后台")
    assert "http" not in replies[0]
    async with db.reading() as s:
        assert list((await s.execute(select(WebLogin))).scalars()) == []


async def test_someone_in_no_team_gets_no_link(app: App):
    await team_a(app)
    reply = plain((await say(app, private_event("/后台", OUTSIDER)))[0])
    assert reply.startswith("❌ 你还不在任何团队里")
    assert "http" not in reply


async def test_superuser_gets_a_link_in_private_chat_without_being_on_a_team(app: App):
    await team_a(app)
    c = await login(app, SUPER)
    home = await c.get("/kpi/")
    assert "客服一组" in home.text
    assert "客服二组" in home.text


async def test_dashboard_switched_off_refuses_the_command(app: App, monkeypatch):
    await team_a(app)
    monkeypatch.setattr(get_config(), "kpi_web_enabled", False)
    reply = plain((await say(app, private_event("/后台", ZHANG)))[0])
    assert reply.startswith("❌ 网页后台没有开启"), reply


def test_login_tokens_are_hidden_in_the_access_log():
    from plugins.web import HideLoginTokens

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/kpi/login/SeCrEtToKeN123?x=1", "1.1", 303),
        None,
    )
    assert HideLoginTokens().filter(record)
    assert "SeCrEtToKeN123" not in record.getMessage()
    assert "/kpi/login/***?x=1" in record.getMessage()


# ---- who sees what ---------------------------------------------------------------------------------


async def test_who_sees_what(app: App):
    await team_a(app)
    i = await ids()
    a, b = i["客服一组"], i["客服二组"]
    zhang, li, wang = i["张三"], i["李四"], i["王五"]
    async with db.writing() as s:
        e = (await s.execute(select(Entry).where(Entry.member_id == zhang))).scalars().first()
        folder = get_config().kpi_data_dir / "evidence"
        folder.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4), "blue").save(folder / "z.png")  # served: it is an image
        e.image_path = str(folder / "z.png")
        zhang_entry = e.id
    pages = {
        "team A": f"/kpi/team/{a}",
        "team B": f"/kpi/team/{b}",
        "zhang": f"/kpi/team/{a}/member/{zhang}",
        "li": f"/kpi/team/{a}/member/{li}",
        "wang": f"/kpi/team/{b}/member/{wang}",
        "wang via A": f"/kpi/team/{a}/member/{wang}",
        "entries A": f"/kpi/team/{a}/entries",
        "audit A": f"/kpi/team/{a}/audit",
        "appeals A": f"/kpi/team/{a}/appeals",
        "rubric A": f"/kpi/team/{a}/rubric",
        "export A": f"/kpi/team/{a}/export",
        "entries B": f"/kpi/team/{b}/entries",
        "evidence zhang": f"/kpi/evidence/{zhang_entry}",
        "no team": "/kpi/team/999",
    }
    expected = {
        SUPER: dict.fromkeys(pages, 200) | {"wang via A": 404, "no team": 404},
        BOSS: {
            "team A": 200,
            "team B": 403,
            "zhang": 200,
            "li": 200,
            "wang": 403,
            "wang via A": 404,
            "entries A": 200,
            "audit A": 200,
            "appeals A": 200,
            "rubric A": 200,
            "export A": 200,
            "entries B": 403,
            "evidence zhang": 200,
            "no team": 404,
        },
        ZHANG: {
            "team A": 200,
            "team B": 403,
            "zhang": 200,
            "li": 403,
            "wang": 403,
            "wang via A": 404,
            "entries A": 403,
            "audit A": 403,
            "appeals A": 403,
            "rubric A": 200,
            "export A": 403,
            "entries B": 403,
            "evidence zhang": 200,
            "no team": 404,
        },
        LI: {
            "team A": 200,
            "team B": 403,
            "zhang": 403,
            "li": 200,
            "wang": 403,
            "wang via A": 404,
            "entries A": 403,
            "audit A": 403,
            "appeals A": 403,
            "rubric A": 200,
            "export A": 403,
            "entries B": 403,
            "evidence zhang": 403,
            "no team": 404,
        },
    }
    seen = {}
    for who in expected:
        c = await login(app, who)
        seen[who] = {name: (await c.get(path)).status_code for name, path in pages.items()}
    assert seen == expected


async def test_an_agent_sees_the_ranking_but_not_the_supervisors_panels(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    agent = await (await login(app, ZHANG)).get(f"/kpi/team/{a}")
    boss = await (await login(app, BOSS)).get(f"/kpi/team/{a}")
    assert "李四" in agent.text
    assert "李四" in boss.text
    for panel in ("今天还没报的人", "下载 Excel", "/entries"):
        assert panel in boss.text, panel
        assert panel not in agent.text, panel


async def test_group_owner_asking_in_the_group_supervises_that_team_only(app: App):
    await team_a(app)
    _, sent = await dashboard_in_group(app, OWNER, [{"message_id": 1}], role="owner")
    path = LINK.search(str(sent[0]["message"])).group(1).removeprefix("http://127.0.0.1:8080")
    c = client()
    assert (await c.post(path)).status_code == 303
    i = await ids()
    from nonebot.adapters.onebot.v11 import Adapter, Bot

    from bot.grouprole import forget_roles
    from tests.utils import BOT_ID

    forget_roles()
    async with app.test_api() as api:  # the platform is asked whether they still own it
        api.create_bot(base=Bot, adapter=api.create_adapter(base=Adapter), self_id=BOT_ID)
        api.should_call_api(
            "get_group_member_info",
            {"group_id": GROUP, "user_id": OWNER, "no_cache": True},
            {"user_id": OWNER, "role": "owner"},
        )
        assert (await c.get(f"/kpi/team/{i['客服一组']}/entries")).status_code == 200
        assert (await c.get(f"/kpi/team/{i['客服二组']}")).status_code == 403
    forget_roles()


async def test_evidence_outside_the_data_folder_is_never_served(app: App, tmp_path: Path):
    await team_a(app)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"secret")
    data = get_config().kpi_data_dir
    async with db.writing() as s:
        rows = list((await s.execute(select(Entry).order_by(Entry.id))).scalars())
        rows[0].image_path = str(outside)
        rows[1].image_path = str(data / "evidence" / ".." / ".." / outside.name)
        rows[2].image_path = "/etc/passwd"
        ids_ = [r.id for r in rows[:3]]
    c = await login(app, SUPER)
    for entry_id in ids_:
        r = await c.get(f"/kpi/evidence/{entry_id}")
        assert r.status_code == 404
        assert b"secret" not in r.content
    assert (await c.get("/kpi/evidence/..%2F..%2Fetc%2Fpasswd")).status_code in (404, 422)
    assert (await c.get("/kpi/static/../../bot/config.py")).status_code == 404


async def test_a_stored_file_that_is_not_an_image_is_never_served(app: App):
    """Evidence saved before the safe fetcher may hold what an internal address answered
    (issue 20 #5): only a file Pillow reads as an image is served, with its real type."""
    await team_a(app)
    folder = get_config().kpi_data_dir / "evidence"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "leak.img").write_bytes(b"internal secret")
    (folder / "leak.png").write_bytes(b"internal secret")
    Image.new("RGB", (4, 4), "red").save(folder / "real.img", format="PNG")
    async with db.writing() as s:
        rows = list((await s.execute(select(Entry).order_by(Entry.id))).scalars())
        for row, name in zip(rows, ("leak.img", "leak.png", "real.img"), strict=False):
            row.image_path = str(folder / name)
        ids_ = [r.id for r in rows[:3]]
    c = await login(app, SUPER)
    for entry_id in ids_[:2]:
        r = await c.get(f"/kpi/evidence/{entry_id}")
        assert r.status_code == 404
        assert b"secret" not in r.content
    r = await c.get(f"/kpi/evidence/{ids_[2]}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "image/png"


# ---- the numbers ---------------------------------------------------------------------------------


async def test_team_page_shows_the_same_ranking_as_the_rank_command(app: App):
    """Hand-computed: 李四 8/8 articles (2) + 60/60 friends (2), late ×2 (hr 8): 8+50+30+4 = 92.0
    A; 张三 4/8 articles (1), one complaint (business 47): 10+47+30+1 = 88.0 B."""
    await team_a(app)
    a = (await ids())["客服一组"]
    page = await (await login(app, BOSS)).get(f"/kpi/team/{a}")
    rows = table(page.text, "ranking")
    assert rows == [
        ["名次", "姓名", "人事", "业务", "订单", "推广", "总分", "等级"],
        ["1", "李四", "8", "50", "30", "4", "92.0", "A"],
        ["2", "张三", "10", "47", "30", "1", "88.0", "B"],
    ]
    rank = plain(await said(app, "/排行", ZHANG, card="张三"))
    assert rank.splitlines()[2:] == [
        f"{r[0]}. {r[1]} {'/'.join(r[2:6])} {' '.join(r[6:])}" for r in rows[1:]
    ]
    assert "未结算" in page.text
    assert "今天还没报的人" in page.text
    assert "<svg" in page.text
    assert "业务绩效 47/50" in page.text


async def test_agent_page_lists_entries_with_evidence_who_and_why_and_a_trend(app: App):
    await team_a(app)
    i = await ids()
    revoke = plain(await said(app, "/撤回", ZHANG, card="张三"))
    assert revoke.startswith("✅ 已撤回")
    c = await login(app, ZHANG)
    page = await c.get(f"/kpi/team/{i['客服一组']}/member/{i['张三']}")
    rows = table(page.text, "entries")
    assert len(rows) == 1 + 5
    complaint = next(r for r in rows if "客户投诉" in r[2])
    assert complaint[3] == "−3"
    assert "客户说态度差" in complaint[4]
    assert complaint[5] == "用户10001"
    assert any("已撤销" in r[5] for r in rows)
    assert "https://example.com/z0" in page.text
    assert "总分 <b>87.8</b>" in page.text  # 3/8 articles after the undo: 10+47+30+0.75
    assert page.text.count('class="dot"') == 1
    assert "2026-11 87.8" in page.text


async def test_entries_filter_by_item_person_logger_revoked_and_paginate(app: App):
    await team_a(app)
    for n in range(55):  # 20 articles a day at most
        set_clock(NOW - timedelta(days=n // 20))
        await said(app, f"/软文 https://example.com/many{n}", WANG, card="王五")
    i = await ids()
    c = await login(app, BOSS)
    base = f"/kpi/team/{i['客服一组']}/entries"
    first = table((await c.get(base)).text, "entries")
    assert len(first) == 1 + 50
    second = await c.get(base, params={"page": "2"})
    assert len(table(second.text, "entries")) == 1 + 20  # 15 + 55 entries in all
    only = table((await c.get(base, params={"member": str(i["张三"])})).text, "entries")
    assert {r[2] for r in only[1:]} == {"张三"}
    assert len(only) == 1 + 5
    logged = table((await c.get(base, params={"by": f"qq:{OWNER}"})).text, "entries")
    assert sorted(r[3] for r in logged[1:]) == ["业务绩效·客户投诉", "人事考核·迟到"]
    friends = table((await c.get(base, params={"item": "friends"})).text, "entries")
    assert [r[2] for r in friends[1:]] == ["李四"]
    await said(app, "/撤销 #1 重复", OWNER, role="owner")
    revoked = table((await c.get(base, params={"revoked": "yes"})).text, "entries")
    assert [r[0] for r in revoked[1:]] == ["#1"]


async def test_audit_and_appeals_are_filterable(app: App):
    await team_a(app)
    i = await ids()
    await said(app, "/申诉 #14 我没有", ZHANG, card="张三")
    await said(app, "/撤销 #15 堵车不算", OWNER, role="owner")
    c = await login(app, BOSS)
    a = i["客服一组"]
    revokes = table(
        (await c.get(f"/kpi/team/{a}/audit", params={"action": "entry.revoke"})).text, "audit"
    )
    assert [r[1:3] for r in revokes[1:]] == [["用户10001", "撤销"]]
    assert "（#15），原因：堵车不算" in revokes[1][3]  # a sentence, as /审计 says it (issue 23)
    joins = table((await c.get(f"/kpi/team/{a}/audit", params={"action": "join"})).text, "audit")
    sentences = " ".join(r[3] for r in joins[1:])
    assert "张三" in sentences, sentences
    assert "李四" in sentences, sentences
    assert "qq:" not in sentences, sentences
    assert all(r[2] == "入职" for r in joins[1:])
    appeals = table(
        (await c.get(f"/kpi/team/{a}/appeals", params={"status": "open"})).text, "appeals"
    )
    assert appeals[1][:2] == ["#14", "张三"]
    assert appeals[1][3] == "我没有"
    closed = table(
        (await c.get(f"/kpi/team/{a}/appeals", params={"status": "rejected"})).text, "appeals"
    )
    assert closed[1:] == [["没有申诉。"]]


async def test_settled_month_shows_its_stored_rubric_and_status(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    set_clock(datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI))
    assert plain(await said(app, "/结算 2026-11", OWNER, role="owner")).startswith("✅")
    c = await login(app, BOSS)
    team = await c.get(f"/kpi/team/{a}", params={"month": "2026-11"})
    assert 'id="status">已结算' in team.text
    rub = await c.get(f"/kpi/team/{a}/rubric", params={"month": "2026-11"})
    assert "本月已结算，按结算时的考核表" in rub.text
    live = await c.get(f"/kpi/team/{a}/rubric", params={"month": "2026-12"})
    assert "当前生效的考核表" in live.text


async def test_workbook_download_is_the_export_of_the_month(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    r = await (await login(app, BOSS)).get(f"/kpi/team/{a}/export", params={"month": "2026-11"})
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    wb = load_workbook(io.BytesIO(r.content))
    *summary, totals = [[c.value for c in row] for row in wb["汇总"].iter_rows(min_row=3)]
    assert [(row[1], row[7], row[8]) for row in summary] == [("李四", 92, "A"), ("张三", 88, "B")]
    assert totals[1] == "合计（2 人）"
    assert wb["明细"].max_row == 1 + 15
