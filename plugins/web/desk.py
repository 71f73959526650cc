"""The boss's desk (issue 24): the pages that change something — the rubric's what-if and
activation, the team's settings, importing a month's records.

Every action is a POST that declares `ActingDep` (same origin, a session, its CSRF token),
checks the viewer's role for the team (403), runs through `bot.door` — the same functions
the chat commands call — and shows their ❌ text when they refuse (409 for a state such as
a settled month or a file imported before, 400 for input). Settle-like steps (import) have
a confirmation: a first POST shows what will happen, a second one does it.
"""

from __future__ import annotations

import base64
import binascii
import io

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from bot import door
from bot.commands import RESERVED
from bot.config import get_config
from bot.format import yuan
from bot.runtime import commission_base, forget_rules, policy, rubric
from models import dashboard as dash
from models import rubricstore
from models.commission import SetBase, parse_base, set_commission_base
from models.importer import (
    HEADER,
    ImportRequest,
    apply_import,
    check_file,
    content_hash,
    earlier_import,
    refuse_again,
    template_csv,
)
from models.ledger import Refused
from models.periods import current_period, local_now, parse_period, to_local
from models.rubric import RubricError
from models.tables import Team
from models.usecases import pages

from .acts import status_of, web_actor
from .routes import (
    ActingDep,
    ViewerDep,
    confirm,
    forbidden,
    refused,
    render,
    same_origin,
)

router = APIRouter(prefix="/kpi", dependencies=[Depends(same_origin)])

MAX_UPLOAD = 2_000_000


def _when(at) -> str:
    return to_local(at, get_config().tz).strftime("%Y-%m-%d %H:%M")


async def _managed_team(viewer: dash.Viewer, team_id: int) -> Team:
    """The team, if the viewer supervises it (404 / 403: `pages.team_of`)."""
    ask = pages.PageRead(viewer, team_id)
    return await door.read(lambda s: pages.team_of(s, ask))


async def _upload(act, field: str = "file") -> tuple[bytes, str] | None:
    f = act.form.get(field)
    if not isinstance(f, UploadFile) or not f.filename:
        return None
    data = await f.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise Refused(f"文件太大（最多 {MAX_UPLOAD // 1_000_000} MB）")
    return data, f.filename


# ---- the rubric: what-if and activation -----------------------------------------------------------


async def _draft_text(act) -> tuple[str, str]:
    """(TOML text, its name): an uploaded .toml file, else the editor's text."""
    up = await _upload(act)
    if up is not None:
        data, name = up
        try:
            return data.decode("utf-8-sig"), name
        except UnicodeDecodeError:
            raise Refused(f"考核表 {name} 不是 UTF-8 文本") from None
    text = act.form.get("toml")
    if not isinstance(text, str) or not text.strip():
        raise Refused("请上传 .toml 文件或在编辑框里写考核表")
    return text.replace("\r\n", "\n"), act.text("name", 100) or "网页编辑"


@router.post("/team/{team_id}/rubric/whatif")
async def rubric_whatif(request: Request, act: ActingDep, team_id: int) -> Response:
    """Score a month (settled or not) under a draft and show every agent's old → new total,
    grade and pay; nothing changes. A draft that would not load at start is refused with
    the start's message."""
    team = await _managed_team(act.viewer, team_id)
    tz = get_config().tz
    period = parse_period(act.text("month", 20), tz) or current_period(tz)
    try:
        text, name = await _draft_text(act)
        draft = rubricstore.check_draft(text, name, set(RESERVED))
    except (Refused, RubricError) as e:
        return refused(request, act.viewer, f"考核表错误：{e}", 400, team=team, period=period)
    w = await door.read(
        lambda s: rubricstore.what_if(s, team_id, period, draft, rubric(), commission_base())
    )
    now = current_period(tz)
    return render(
        request,
        "whatif.html",
        viewer=act.viewer,
        team=team,
        period=period,
        w=w,
        text=text,
        draft_name=name,
        now=now,
        yuan=yuan,
    )


@router.post("/team/{team_id}/rubric/activate")
async def rubric_activate(request: Request, act: ActingDep, team_id: int) -> Response:
    """Keep the draft and activate it from the chosen month (superusers: the rubric is every
    team's; never a settled month, 409)."""
    team = await _managed_team(act.viewer, team_id)
    tz = get_config().tz
    if not act.viewer.superuser:
        return refused(
            request,
            act.viewer,
            "只有超级管理员可以启用考核表（考核表对所有团队生效）",
            403,
            team=team,
        )
    start = parse_period(act.text("from", 20), tz)
    if start is None:
        return refused(
            request, act.viewer, "请选择从哪个月开始启用（例如 2026-12）", 400, team=team
        )
    try:
        text, name = await _draft_text(act)
        rubricstore.check_draft(text, name, set(RESERVED))
    except (Refused, RubricError) as e:
        return refused(request, act.viewer, f"考核表错误：{e}", 400, team=team)
    v = act.viewer

    def work(s):
        row = rubricstore.save_draft(s, text, name, v.key, v.name, set(RESERVED))
        return rubricstore.activate(s, row.id, start, v.key, v.name, superuser=v.superuser)

    try:
        row = await door.write(None, work)
        forget_rules()  # this process's replies follow the new version at once
    except Refused as e:
        return refused(request, act.viewer, str(e), status_of(str(e)), team=team)
    return render(
        request,
        "message.html",
        viewer=act.viewer,
        team=team,
        period=start,
        title="已启用",
        message=f"✅ 考核表「{row.name}」（第 {row.id} 版）从 {start} 起生效；已结算的月份不变。",
    )


# ---- team settings ---------------------------------------------------------------------------


@router.get("/team/{team_id}/settings")
async def settings_page(request: Request, viewer: ViewerDep, team_id: int) -> Response:
    period = current_period(get_config().tz)
    ask, p = pages.PageRead(viewer, team_id, period), policy()
    page = await door.read(lambda s: pages.settings(s, ask, p))
    return render(
        request,
        "settings.html",
        viewer=viewer,
        team=page.team,
        period=period,
        base=page.base,
        default=commission_base(),
        history=page.history,
        groups=page.groups,
        reminder=page.team.reminder_time,
        default_reminder=get_config().kpi_daily_reminder,
        when=_when,
    )


@router.post("/team/{team_id}/settings/base")
async def set_base(request: Request, act: ActingDep, team_id: int) -> Response:
    """The team's commission base from the current month on (as `/提成基数`)."""
    team = await _managed_team(act.viewer, team_id)
    period = current_period(get_config().tz)
    v = act.viewer
    try:
        req = SetBase(team_id, web_actor(v, team_id), parse_base(act.text("base", 40)))
        p = policy()
        done = await door.write(team_id, lambda s: set_commission_base(s, req, p))
        forget_rules()
    except Refused as e:
        return refused(request, v, str(e), status_of(str(e)), team=team, period=period)
    return render(
        request,
        "message.html",
        viewer=v,
        team=team,
        period=period,
        title="已保存",
        message=done.reply,
    )


# ---- importing a month's records --------------------------------------------------------------


@router.get("/team/{team_id}/import")
async def import_page(request: Request, viewer: ViewerDep, team_id: int) -> Response:
    team = await _managed_team(viewer, team_id)
    return render(
        request,
        "import.html",
        viewer=viewer,
        team=team,
        period=current_period(get_config().tz),
        header=",".join(HEADER),
    )


@router.get("/import/template.csv")
async def template_download(viewer: ViewerDep) -> Response:
    if not viewer.superuser and not viewer.supervises:
        raise forbidden()
    return Response(
        template_csv(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": "attachment; filename*=UTF-8''%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.csv"
        },
    )


@router.get("/import/template.xlsx")
async def template_download_xlsx(viewer: ViewerDep) -> Response:
    if not viewer.superuser and not viewer.supervises:
        raise forbidden()
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "导入"
    ws.append(list(HEADER))
    ws.append(["张三", "迟到", 1, "2026-11-03", "堵车"])
    out = io.BytesIO()
    wb.save(out)
    return Response(
        out.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": "attachment; filename*=UTF-8''%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
        },
    )


@router.post("/team/{team_id}/import")
async def import_file(request: Request, act: ActingDep, team_id: int) -> Response:
    """First POST (the file): a preview with every row's result or error, and — when every
    row is good — a button that posts the same content again with `confirm=yes`; that one
    imports all rows as one unit of work, or none."""
    team = await _managed_team(act.viewer, team_id)
    cfg = get_config()
    today = local_now(cfg.tz).date()
    v = act.viewer
    back = f"/kpi/team/{team_id}/import"
    try:
        if act.confirmed:
            try:
                data = base64.b64decode(act.text("data", 4 * MAX_UPLOAD), validate=True)
            except (binascii.Error, ValueError):
                raise Refused("导入内容不完整，请重新上传文件") from None
            name = act.text("filename", 200) or "导入.csv"
            if content_hash(data) != act.text("sha256", 64):
                raise Refused("导入内容与预览不一致，请重新上传文件")
        else:
            up = await _upload(act)
            if up is None:
                raise Refused("请选择要导入的 .xlsx 或 .csv 文件")
            data, name = up
        digest = content_hash(data)
        before = await door.read(lambda s: earlier_import(s, team_id, digest))
        if before is not None:
            raise refuse_again(before, _when(before.created_at))
        if act.confirmed:
            req = ImportRequest(team_id, data, name, v.key, v.user_id, v.name, today)
            done = await door.write(team_id, lambda s: apply_import(s, req, rubric(), _when))
            return render(
                request,
                "message.html",
                viewer=v,
                team=team,
                period=current_period(cfg.tz),
                title="已导入",
                message=f"✅ 已导入 {len(done.entry_ids)} 条记录（第 {done.batch_id} 次导入，文件 {name}）",
            )
        rows = await door.read(
            lambda s: check_file(
                s, team_id, data, name, rubric(), actor_user_id=v.user_id, today=today
            )
        )
    except Refused as e:
        return refused(request, v, str(e), status_of(str(e)), team=team, back=back)
    bad = [r for r in rows if r.error]
    return confirm(
        request,
        act,
        "导入预览",
        [
            f"文件 {name}：{len(rows)} 行，{len(rows) - len(bad)} 行可以导入"
            + (
                f"，{len(bad)} 行有错误（改好后重新上传）"
                if bad
                else "。确认后全部导入，任何一行失败则都不导入。"
            )
        ],
        template="import_preview.html",
        fields=[("data", base64.b64encode(data).decode()), ("filename", name), ("sha256", digest)],
        ok=not bad,
        rows=rows,
        team=team,
        period=current_period(cfg.tz),
        back=back,
        button=f"确认导入 {len(rows)} 行",
    )


def install(app) -> None:
    app.include_router(router)
