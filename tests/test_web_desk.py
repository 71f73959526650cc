"""The boss's desk over HTTP (issue 24): the rubric's what-if and activation, the team's
commission base, importing a month's records — and each refusal: an agent, another team's
supervisor, no CSRF token, a foreign Origin, a settled month."""

from __future__ import annotations

import re

import httpx
from nonebug import App
from sqlalchemy import func, select

from bot import db
from models.tables import AuditLog, CommissionBase, Entry, ImportBatch, Member, RubricVersion
from tests.test_dashboard import (  # noqa: F401  (frozen_clock: the suite's November)
    BOSS,
    LI,
    ZHANG,
    frozen_clock,
    ids,
    login,
    table,
    team_a,
)
from tests.test_import import csv_file
from tests.test_rubric_web_store import HARSH, settle
from tests.utils import SUPER, at, plain, said

EVIL = {"Origin": "https://evil.example"}


async def token(c: httpx.AsyncClient, page: str = "/kpi/") -> str:
    html = (await c.get(page, follow_redirects=True)).text
    return re.search(r'name="csrf" value="([0-9a-f]{64})"', html).group(1)


async def count(model, *where) -> int:
    async with db.reading() as s:
        return (await s.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


# ---- every action's gate ---------------------------------------------------------------------


async def test_every_action_refuses_without_the_token_from_elsewhere_and_for_the_wrong_person(
    app: App,
):
    await team_a(app)
    a, b = (await ids())["客服一组"], (await ids())["客服二组"]
    boss, agent = await login(app, BOSS), await login(app, ZHANG)
    t_boss, t_agent = await token(boss), await token(agent)
    actions = [
        (f"/kpi/team/{a}/rubric/whatif", {"toml": HARSH, "month": "2026-11"}, None),
        (f"/kpi/team/{a}/rubric/activate", {"toml": HARSH, "from": "2026-12"}, None),
        (f"/kpi/team/{a}/settings/base", {"base": "8000"}, None),
        (
            f"/kpi/team/{a}/import",
            {},
            {"file": ("a.csv", csv_file(("张三", "迟到", 1, "2026-11-03", "")))},
        ),
    ]
    for path, data, files in actions:
        no_token = await boss.post(path, data=data, files=files)
        assert no_token.status_code == 403, path
        assert "页面已过期" in no_token.text
        wrong = await boss.post(
            path, data=data | {"csrf": t_agent}, files=files
        )  # another session's
        assert wrong.status_code == 403, path
        foreign = await boss.post(path, data=data | {"csrf": t_boss}, files=files, headers=EVIL)
        assert foreign.status_code == 403, path
        assert "请求来源不对" in foreign.text
        as_agent = await agent.post(path, data=data | {"csrf": t_agent}, files=files)
        assert as_agent.status_code == 403, path
        other_team = path.replace(f"/team/{a}/", f"/team/{b}/")
        assert (
            await boss.post(other_team, data=data | {"csrf": t_boss}, files=files)
        ).status_code == 403
    assert await count(RubricVersion) == 0
    assert await count(CommissionBase) == 0
    assert await count(ImportBatch) == 0
    for page in ("settings", "import"):
        assert (await agent.get(f"/kpi/team/{a}/{page}")).status_code == 403
        assert (await boss.get(f"/kpi/team/{b}/{page}")).status_code == 403


# ---- the rubric ------------------------------------------------------------------------------


async def test_what_if_shows_old_and_new_for_everyone_and_changes_nothing(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    page = await boss.get(f"/kpi/team/{a}/rubric")
    assert 'id="toml-text"' in page.text
    entries = await count(Entry)
    r = await boss.post(
        f"/kpi/team/{a}/rubric/whatif",
        data={"csrf": await token(boss), "month": "2026-11"},
        files={"file": ("迟到加重.toml", HARSH.encode())},
    )
    assert r.status_code == 200, r.text
    assert table(r.text, "whatif") == [
        ["姓名", "总分", "等级"],
        ["张三", "88.0 → 88.0", "B → B"],
        ["李四", "92.0 → 88.0", "A → B"],
    ]
    assert "<b>1</b> 人的总分、等级或提成会变" in r.text
    assert "没有改动任何数据" in r.text
    assert 'id="activate"' not in r.text  # a supervisor tries; only a superuser activates
    assert await count(Entry) == entries
    assert await count(RubricVersion) == 0


async def test_a_broken_draft_gets_the_start_message(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    broken = HARSH.replace('category = "hr"', 'category = "nope"', 1)
    r = await boss.post(
        f"/kpi/team/{a}/rubric/whatif", data={"csrf": await token(boss), "toml": broken}
    )
    assert r.status_code == 400
    assert "❌ 考核表错误：考核表 网页编辑：项目 late：未知分类 nope" in r.text


async def test_a_superuser_activates_from_a_month_and_a_settled_month_is_refused(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    root = await login(app, SUPER)
    t = await token(root)
    r = await root.post(f"/kpi/team/{a}/rubric/whatif", data={"csrf": t, "toml": HARSH})
    assert 'id="activate"' in r.text
    ok = await root.post(
        f"/kpi/team/{a}/rubric/activate", data={"csrf": t, "toml": HARSH, "from": "2026-12"}
    )
    assert ok.status_code == 200, ok.text
    assert "从 2026-12 起生效" in ok.text
    dec = await root.get(f"/kpi/team/{a}/rubric", params={"month": "2026-12"})
    nov = await root.get(f"/kpi/team/{a}/rubric", params={"month": "2026-11"})
    late = re.compile(r'<td>迟到</td>\s*<td class="num">(-?\d+)/次')
    assert late.search(dec.text).group(1) == "-3"
    assert late.search(nov.text).group(1) == "-1"
    assert "2026-12 起" in dec.text  # the versions list
    await settle(app, "2026-11")
    late = await root.post(
        f"/kpi/team/{a}/rubric/activate", data={"csrf": t, "toml": HARSH, "from": "2026-11"}
    )
    assert late.status_code == 409
    assert "❌ 2026-11 已结算（客服一组），不能从这个月启用新考核表" in late.text


# ---- the commission base -----------------------------------------------------------------------


async def test_a_supervisor_sets_the_base_on_the_page_and_chat_sees_it(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/settings")
    bad = await boss.post(f"/kpi/team/{a}/settings/base", data={"csrf": t, "base": "八千"})
    assert bad.status_code == 400
    assert "❌ 提成基数要写金额（元），例如 /提成基数 8000；“八千” 不是金额" in bad.text
    ok = await boss.post(f"/kpi/team/{a}/settings/base", data={"csrf": t, "base": "8000"})
    assert ok.status_code == 200
    assert "✅ 客服一组 的提成基数从 2026-11 起为 ¥8000（原为 无）" in ok.text
    settings = await boss.get(f"/kpi/team/{a}/settings")
    assert "¥8000" in table(settings.text, "base-history")[1][1]
    ranking = table((await boss.get(f"/kpi/team/{a}")).text, "ranking")
    assert ranking[0][-1] == "提成"
    assert ranking[1][-1] == "¥7360.00"  # 李四 92.0 × 8000 / 100
    audit = plain(await said(app, "/审计", BOSS))
    assert "把提成基数改为 ¥8000（2026-11 起）" in audit


async def test_the_chat_command_sets_the_base_for_a_supervisor_only(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    refused = plain(await said(app, "/提成基数 8000", ZHANG, card="张三"))
    assert refused.startswith("❌")
    assert await count(CommissionBase) == 0
    assert plain(await said(app, "/提成基数 abc", BOSS)).startswith("❌ 提成基数要写金额")
    ok = plain(await said(app, "/提成基数 6000", BOSS))
    assert ok.startswith("✅ 客服一组 的提成基数从 2026-11 起为 ¥6000")
    boss = await login(app, BOSS)
    assert "¥6000" in (await boss.get(f"/kpi/team/{a}/settings")).text


# ---- importing ------------------------------------------------------------------------------


async def test_import_previews_every_row_then_imports_all_once(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/import")
    data = csv_file(
        ("张三", "迟到", 2, "2026-11-03", "堵车"), (str(LI), "早退", 1, "2026-11-04", "")
    )
    entries = await count(Entry)
    preview = await boss.post(
        f"/kpi/team/{a}/import", data={"csrf": t}, files={"file": ("考勤.csv", data)}
    )
    assert preview.status_code == 200
    rows = table(preview.text, "preview")
    assert rows[1][:4] == ["2", "张三", "迟到", "2"]
    assert rows[2][1:3] == ["李四", "早退"]
    assert 'id="confirm"' in preview.text
    assert await count(Entry) == entries  # a preview writes nothing
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', preview.text))
    assert fields["confirm"] == "yes"
    no_token = await boss.post(f"/kpi/team/{a}/import", data={**fields, "csrf": ""})
    assert no_token.status_code == 403
    done = await boss.post(f"/kpi/team/{a}/import", data=fields)
    assert done.status_code == 200, done.text
    assert "✅ 已导入 2 条记录（第 1 次导入，文件 考勤.csv）" in done.text
    assert await count(Entry) == entries + 2
    assert await count(AuditLog, AuditLog.action == "import") == 1
    audit = plain(await said(app, "/审计", BOSS))  # the roster name, as the group card now
    async with db.reading() as s:
        boss_name = (
            await s.execute(select(Member.name).where(Member.user_id == str(BOSS)))
        ).scalar_one()
    assert f"{boss_name} 在网页导入了 2 条记录（文件 考勤.csv）" in audit
    assert "迟到 ×2" in plain(await said(app, ["/明细 ", at(ZHANG)], BOSS))
    again = await boss.post(
        f"/kpi/team/{a}/import", data={"csrf": t}, files={"file": ("又一次.csv", data)}
    )
    assert again.status_code == 409
    assert "❌ 这个文件已经导入过（第 1 次导入" in again.text
    assert (await boss.post(f"/kpi/team/{a}/import", data=fields)).status_code == 409
    assert await count(Entry) == entries + 2


async def test_a_preview_with_errors_offers_no_import_and_a_settled_month_is_an_error(app: App):
    await team_a(app)
    a = (await ids())["客服一组"]
    boss = await login(app, BOSS)
    t = await token(boss, f"/kpi/team/{a}/import")
    data = csv_file(("张三", "迟到", 1, "2026-11-03", ""), ("赵六", "迟到", 1, "2026-11-03", ""))
    preview = await boss.post(
        f"/kpi/team/{a}/import", data={"csrf": t}, files={"file": ("考勤.csv", data)}
    )
    assert 'id="confirm"' not in preview.text
    assert "❌ 团队里没有“赵六”" in preview.text
    await settle(app, "2026-11")
    settled = await boss.post(
        f"/kpi/team/{a}/import",
        data={"csrf": t},
        files={"file": ("考勤.csv", csv_file(("张三", "迟到", 1, "2026-11-03", "")))},
    )
    assert "❌ 2026-11 已结算，不能再修改" in settled.text
    assert 'id="confirm"' not in settled.text
