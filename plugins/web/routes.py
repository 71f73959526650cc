"""The dashboard's pages under `/kpi/` (SPEC §5a). Each page declares who is looking
(`ViewerDep`, rights read from the roster and the platform at this request, SPEC §2) before
it reads anything, then reads through `bot.door.read` with one page function of
`models.usecases.pages` (which also checks that the viewer may see the team or member:
`models.dashboard.Unseen`, answered 404 or 403) and renders a template. Login sessions are
written through `bot.door.write` (no team's data: team None).

Nothing changes on a GET. Every POST under `/kpi/` must come from the dashboard's own origin
(`same_origin`); every action also declares `ActingDep`: a session and that session's CSRF
token in the form, or 403 before anything is read. Every response the app serves, ours or
NoneBot's, carries `SECURITY_HEADERS` (`SecurityHeaders`).
"""

from __future__ import annotations

import asyncio
import hmac
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, MutableHeaders
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot import door
from bot.config import get_config
from bot.evidence import MEDIA_TYPES, image_kind
from bot.format import entry_points, item_name, ranking_table, rows_of, yuan
from bot.grouprole import manages_a_group
from bot.identity import is_superuser, note_sighting
from bot.runtime import policy, rubric
from models import dashboard as dash
from models.export import build_workbook
from models.identity import shown_account, shown_group
from models.ledger import Refused
from models.periods import current_period, local_now, parse_period, shift_period, to_local
from models.scoring import fmt_money, fmt_points, fmt_signed, fmt_total
from models.tables import WebLogin
from models.usecases import pages
from models.weblogin import (
    SESSION_TTL,
    csrf_matches,
    csrf_token,
    end_login,
    session_cookie,
    session_of,
    started_session,
)
from models.words import MAX_NOTE, note_of

from .charts import category_chart, trend_chart
from .tables import missing_items, rank_classes, ranking_rows, whatif_rows

HERE = Path(__file__).parent
COOKIE = "kpi_session"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(
    points=fmt_points,
    total=fmt_total,
    money=fmt_money,
    signed=fmt_signed,
    yuan=yuan,
    zip=zip,
)
templates.env.globals.update(
    item_name=item_name,
    entry_points=entry_points,
    missing_items=missing_items,
    whatif_rows=whatif_rows,
    account=lambda m: shown_account(m.platform, m.user_id),
    group_label=lambda g: shown_group(g.platform, g.group_id),
    acts_on=True,  # the forms of the actions of plugins.web.acts
)

# `same-origin`, not `no-referrer`: with `no-referrer` a browser sends `Origin: null` on a
# form POST, and the login could not prove where it came from; other sites still get no
# referrer, so no dashboard address leaves it.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class PageError(Exception):
    """A page the person may not or cannot see: rendered as a short Chinese page."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(title)
        self.status, self.title, self.message = status, title, message


def forbidden() -> PageError:
    return PageError(403, "没有权限", "这一页不属于你能查看的范围（主管看本团队，客服看自己）。")


def not_found(what: str = "页面") -> PageError:
    return PageError(404, "找不到", f"{what}不存在。")


NOT_LOGGED_IN = PageError(
    401, "请先登录", "请在聊天里向机器人发送 /后台，打开私聊收到的一次性链接即可登录。"
)
CROSS_SITE = PageError(
    403, "请求来源不对", "这个操作只能在绩效后台自己的页面上进行。请重新打开后台再试。"
)


def render(request: Request, name: str, http_status: int = 200, **context) -> Response:
    context.setdefault("viewer", None)
    return templates.TemplateResponse(request, name, context, status_code=http_status)


# ---- every request ---------------------------------------------------------------------------


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every HTTP response of the app (SPEC §5a): pages, files,
    redirects, FastAPI's 404/405/422 and NoneBot's own routes. An exception that escapes
    before a response began is answered here with a 500 carrying them too (then re-raised,
    so the server still logs it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers[name] = value
            await send(message)

        try:
            await self.app(scope, receive, with_headers)
        except Exception:
            if started:
                raise
            if scope.get("path", "").startswith("/kpi/"):
                title, text = "出错了", "这一页暂时打不开，请稍后再试。"
                page = render(Request(scope), "message.html", 500, title=title, message=text)
            else:
                page = PlainTextResponse("Internal Server Error", status_code=500)
            await page(scope, receive, with_headers)
            raise


def origin_of(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL (default port filled in), else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    port = port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{parts.hostname.lower()}:{port}"


def _base_url() -> str:
    from . import base_url

    return base_url()


async def same_origin(request: Request) -> None:
    """Every request that may change something (any method but GET, HEAD, OPTIONS), the
    login and the logout included, must come from a page of the dashboard itself: its
    `Origin` (or, only when there is none, its `Referer`) is the origin of KPI_WEB_BASE_URL
    (default http://HOST:PORT). Otherwise 403 and nothing changes (SPEC §5a, login CSRF)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    sent = request.headers.get("origin") or request.headers.get("referer")
    own = origin_of(_base_url())
    if own is None or not sent or origin_of(sent) != own:
        raise CROSS_SITE


def over_https(request: Request) -> bool:
    """The browser reached us over https: the request itself, a proxy's
    `X-Forwarded-Proto: https`, or a KPI_WEB_BASE_URL that is https (the cookie is then
    `Secure`)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (
        request.url.scheme == "https"
        or forwarded == "https"
        or _base_url().lower().startswith("https://")
    )


router = APIRouter(prefix="/kpi", dependencies=[Depends(same_origin)])


# ---- session -----------------------------------------------------------------------------------


def _superuser(login: WebLogin) -> bool:
    return is_superuser(login.platform, login.user_id)


async def current_viewer(request: Request) -> dash.Viewer:
    """Who is looking, with rights as they are now (SPEC §2, §5a): the roster at this
    request, and for a link asked for as a group owner or admin, the platform's answer
    now (`bot.grouprole`; no answer, no such right). The platform is asked outside any
    database session."""
    cfg = get_config()
    today = local_now(cfg.tz).date()
    ask = pages.LookRead(request.cookies.get(COOKIE), today, cfg.kpi_admins_are_supervisors)
    found = await door.read(lambda s: pages.looking(s, ask))
    if found is None:
        raise NOT_LOGGED_IN
    login, key = found.login, found.key
    await note_sighting(login.platform, login.user_id)  # a bare SUPERUSERS id, elsewhere
    superuser = _superuser(login)
    if not found.groups:
        return replace(found.viewer, superuser=superuser, csrf=csrf_token(key, login.id))
    admin = await manages_a_group(found.groups, login.user_id)
    viewer = await door.read(
        lambda s: dash.viewer_of(s, login, superuser, today, group_admin=admin)
    )
    return replace(viewer, csrf=csrf_token(key, login.id))


ViewerDep = Annotated[dash.Viewer, Depends(current_viewer)]


# ---- actions: every state-changing request ------------------------------------------------------

BAD_TOKEN = PageError(
    403, "页面已过期", "这个表单不是从你现在的后台页面提交的（或页面已过期）。请刷新页面再试。"
)


@dataclass(frozen=True)
class Acting:
    """A state-changing POST that passed every check before the action's own: the
    same-origin check (the router's), a session, and the session's CSRF token in the form
    (field `csrf`). `confirmed`: the form is the second step of a confirmation."""

    viewer: dash.Viewer
    form: FormData

    def text(self, name: str, limit: int = MAX_NOTE, what: str = "填写的内容") -> str:
        """A field as typed; one longer than `limit` is refused with the limit, as chat
        refuses an over-long note (`models.words.note_of`), never cut (SPEC §3)."""
        v = self.form.get(name)
        if not isinstance(v, str):
            return ""
        try:
            return note_of(v, limit=limit, what=what) or ""
        except Refused as e:
            raise PageError(400, "没有执行", f"❌ {e}") from None

    def texts(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    @property
    def confirmed(self) -> bool:
        return self.form.get("confirm") == "yes"


async def acting(request: Request, viewer: ViewerDep) -> Acting:
    """Reads the form and checks its CSRF token against the session's: missing or wrong →
    403 and nothing changes (SPEC §5a)."""
    form = await request.form()
    if not hmac.compare_digest(viewer.csrf.encode(), str(form.get("csrf") or "").encode()):
        raise BAD_TOKEN
    return Acting(viewer, form)


ActingDep = Annotated[Acting, Depends(acting)]


def refused(request: Request, viewer: dash.Viewer, text: str, status: int, **context) -> Response:
    """A refused action: the page shows the ❌ text the chat command gives."""
    text = text if text.startswith("❌") else f"❌ {text}"
    return render(
        request, "message.html", status, viewer=viewer, title="没有执行", message=text, **context
    )


def confirm(
    request: Request,
    act: Acting,
    title: str,
    lines: list[str],
    *,
    button: str = "确认",
    template: str = "confirm.html",
    fields: list[tuple[str, str]] | None = None,
    **context,
) -> Response:
    """The first step of settle, reopen and import: what will happen, and a button that
    posts the form again (`fields`, by default the same text fields) with `confirm=yes`
    and the token."""
    if fields is None:
        fields = [
            (k, v)
            for k, v in act.form.multi_items()
            if isinstance(v, str) and k not in ("csrf", "confirm")
        ]
    context.setdefault("ok", True)
    return render(
        request,
        template,
        viewer=act.viewer,
        title=title,
        lines=lines,
        fields=fields,
        action=str(request.url.path),
        button=button,
        **context,
    )


def _period(month: str | None) -> str:
    tz = get_config().tz
    return (parse_period(month, tz) if month else None) or current_period(tz)


def _months(period: str) -> dict:
    now = current_period(get_config().tz)
    return {
        "period": period,
        "prev": shift_period(period, -1),
        "next": shift_period(period, 1) if period < now else None,
        "now": now,
    }


def _when(at) -> str:
    return to_local(at, get_config().tz).strftime("%m-%d %H:%M") if at else ""


templates.env.filters["when"] = _when


# ---- login / logout -------------------------------------------------------------------------------


@router.get("/login/{token}", response_class=HTMLResponse)
async def login_page(request: Request, token: str) -> Response:
    """A confirm button, not an automatic login: link previews and QQ's URL scanner fetch
    the link without a person, and must not use it up."""
    return render(request, "login.html", action=str(request.url.path))


@router.post("/login/{token}")
async def login(request: Request, token: str) -> Response:
    """The tap on 「进入后台」: uses the link once and starts the session. The cookie is
    HttpOnly, SameSite=Strict (the tap and its redirect are same-site, so the session
    starts), and Secure whenever the browser came over https (SPEC §5a)."""
    started = await door.write(None, lambda s: started_session(s, token))
    if started is None:
        raise PageError(
            410,
            "登录链接已失效",
            "这个链接已经用过、已过期（10 分钟）或不正确。请在聊天里重新发送 /后台 获取新链接。",
        )
    resp = RedirectResponse("/kpi/", status_code=303)
    resp.set_cookie(
        COOKIE,
        session_cookie(started[1], started[0]),
        max_age=int(SESSION_TTL.total_seconds()),
        path="/kpi",
        httponly=True,
        samesite="strict",
        secure=over_https(request),
    )
    return resp


@router.get("/logout", response_class=HTMLResponse)
async def logout_page(request: Request) -> Response:
    """A GET never changes anything: it offers the 「退出」 button (with the session's token)."""
    cookie = request.cookies.get(COOKIE)
    found = await door.read(lambda s: session_of(s, cookie))
    return render(request, "logout.html", csrf=csrf_token(found[1], found[0].id) if found else "")


@router.post("/logout", response_class=HTMLResponse)
async def logout(request: Request) -> Response:
    """Ends the session; the form carries the session's token (a session that is already
    over has nothing left to end)."""
    cookie = request.cookies.get(COOKIE)
    found = await door.read(lambda s: session_of(s, cookie))
    if found is not None:
        login, key = found
        if not csrf_matches(key, login.id, (await request.form()).get("csrf")):
            raise BAD_TOKEN
        await door.write(None, lambda s: end_login(s, login.id))
    resp = render(
        request,
        "message.html",
        title="已退出",
        message="已退出网页后台。需要时在聊天里发送 /后台 重新获取链接。",
    )
    resp.delete_cookie(
        COOKIE, path="/kpi", httponly=True, samesite="strict", secure=over_https(request)
    )
    return resp


# ---- pages -----------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, viewer: ViewerDep) -> Response:
    teams = await door.read(lambda s: pages.home(s, pages.PageRead(viewer)))
    if len(teams) == 1 and not viewer.superuser:
        return RedirectResponse(f"/kpi/team/{teams[0].id}", status_code=303)
    return render(request, "home.html", viewer=viewer, teams=teams)


@router.get("/team/{team_id}", response_class=HTMLResponse)
async def team_page(
    request: Request, viewer: ViewerDep, team_id: int, month: str | None = None
) -> Response:
    period = _period(month)
    cfg, p = get_config(), policy()
    page = await door.read(lambda s: pages.team(s, pages.PageRead(viewer, team_id, period), p))
    tm = page.month
    manage, me = viewer.manages(team_id), viewer.agent_in.get(team_id)
    heads, cells = ranking_table(tm.rubric, rows_of(tm.ranking), pay=cfg.kpi_pay_public or manage)
    classes = rank_classes(heads, len(tm.rubric.categories))
    return render(
        request,
        "team.html",
        viewer=viewer,
        team=page.team,
        tm=tm,
        manage=manage,
        me=me,
        heads=heads,
        classes=classes,
        rows=ranking_rows(
            tm.ranking,
            cells,
            team_id=team_id,
            period=period,
            linked=manage,
            me=me,
            text_columns=frozenset({heads.index("等级")}),
            classes=classes,
        ),
        chart=category_chart(tm.rubric, tm.ranking),
        flags=page.flags,
        held=page.held,
        **_months(period),
    )


@router.get("/team/{team_id}/member/{member_id}", response_class=HTMLResponse)
async def member_page(
    request: Request, viewer: ViewerDep, team_id: int, member_id: int, month: str | None = None
) -> Response:
    ask = pages.MemberRead(viewer, team_id, member_id, _period(month))
    p = policy()
    page = await door.read(lambda s: pages.member(s, ask, p))
    return render(
        request,
        "member.html",
        viewer=viewer,
        team=page.team,
        mm=page.month,
        manage=viewer.manages(team_id),
        own=viewer.agent_in.get(team_id) == member_id,
        chart=trend_chart(page.month.trend),
        appeal_status=dash.APPEAL_STATUS,
        **_months(ask.period),
    )


def _int(v: str | None) -> int | None:
    return int(v) if v and v.isdigit() and len(v) < 12 else None


def _page_links(request: Request, page: dash.Page) -> dict:
    def at(n: int) -> str:
        params = dict(request.query_params) | {"page": str(n)}
        return f"{request.url.path}?{urlencode(params)}"

    return {
        "prev_page": at(page.page - 1) if page.page > 1 else None,
        "next_page": at(page.page + 1) if page.page < page.pages else None,
    }


@router.get("/team/{team_id}/entries", response_class=HTMLResponse)
async def entries_page(
    request: Request,
    viewer: ViewerDep,
    team_id: int,
    month: str | None = None,
    item: str | None = None,
    member: str | None = None,
    by: str | None = None,
    revoked: str | None = None,
    page: str | None = None,
) -> Response:
    period = _period(month)
    f = dash.EntryFilter(
        period,
        item or None,
        _int(member),
        by or None,
        revoked if revoked in ("yes", "no") else None,
    )
    ask = pages.EntriesRead(viewer, team_id, f, _int(page) or 1)
    p = policy()
    found = await door.read(lambda s: pages.entries(s, ask, p))
    return render(
        request,
        "entries.html",
        viewer=viewer,
        team=found.team,
        rub=found.rubric,
        f=f,
        result=found.result,
        people=found.people,
        loggers=found.loggers,
        names=found.names,
        **_page_links(request, found.result),
        **_months(period),
    )


@router.get("/team/{team_id}/audit", response_class=HTMLResponse)
async def audit_page(
    request: Request,
    viewer: ViewerDep,
    team_id: int,
    month: str | None = None,
    action: str | None = None,
    page: str | None = None,
) -> Response:
    period = _period(month)
    action = action if action in dash.AUDIT_ACTIONS else None
    rub = rubric()
    names = {i.key: item_name(rub, i.key) for i in rub.items}  # as /审计 names them
    ask = pages.AuditRead(viewer, team_id, period, action, _int(page) or 1, names)
    p = policy()
    found = await door.read(lambda s: pages.audit(s, ask, p))
    return render(
        request,
        "audit.html",
        viewer=viewer,
        team=found.team,
        result=found.result,
        action=action,
        actions=dash.AUDIT_ACTIONS,
        actors=found.actors,
        sentences=found.sentences,
        **_page_links(request, found.result),
        **_months(period),
    )


@router.get("/team/{team_id}/appeals", response_class=HTMLResponse)
async def appeals_page(
    request: Request,
    viewer: ViewerDep,
    team_id: int,
    month: str | None = None,
    status: str | None = None,
) -> Response:
    period = _period(month)
    status = status if status in dash.APPEAL_STATUS else None
    ask = pages.AppealsRead(viewer, team_id, period, status)
    p = policy()
    found = await door.read(lambda s: pages.appeals(s, ask, p))
    return render(
        request,
        "appeals.html",
        viewer=viewer,
        team=found.team,
        rub=found.rubric,
        rows=found.rows,
        names=found.names,
        closers=found.closers,
        status=status,
        statuses=dash.APPEAL_STATUS,
        **_months(period),
    )


@router.get("/team/{team_id}/rubric", response_class=HTMLResponse)
async def rubric_page(
    request: Request, viewer: ViewerDep, team_id: int, month: str | None = None
) -> Response:
    period = _period(month)
    p = policy()
    found = await door.read(lambda s: pages.rubric(s, pages.PageRead(viewer, team_id, period), p))
    return render(
        request,
        "rubric.html",
        viewer=viewer,
        team=found.team,
        rub=found.rubric,
        base=found.base,
        versions=found.versions,
        manage=viewer.manages(team_id),
        settled=found.settled,
        who_logs=found.rubric.who_logs,
        **_months(period),
    )


@router.get("/team/{team_id}/export")
async def export(
    request: Request, viewer: ViewerDep, team_id: int, month: str | None = None
) -> Response:
    """The workbook `/导出` sends, for the same team and month."""
    period = _period(month)
    p = policy()
    found = await door.read(lambda s: pages.export(s, pages.PageRead(viewer, team_id, period), p))
    data = build_workbook(found.export.rubric, found.export.book, get_config().tz)
    name = f"{found.team.name}-{period}-绩效.xlsx"
    return Response(
        data,
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@router.get("/evidence/{entry_id}")
async def evidence(request: Request, viewer: ViewerDep, entry_id: int) -> Response:
    entry = await door.read(lambda s: pages.evidence(s, pages.EvidenceRead(viewer, entry_id)))
    path = dash.evidence_file(entry, get_config().kpi_data_dir)
    # Only a file that is an image is served (SPEC §6): one stored before the safe fetcher
    # may hold whatever an internal address answered.
    kind = await asyncio.to_thread(image_kind, path) if path is not None else None
    if path is None or kind is None:
        raise not_found("图片")
    return FileResponse(path, media_type=MEDIA_TYPES[kind])


# ---- wiring -------------------------------------------------------------------------------------------


async def _page_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return render(request, "message.html", exc.status, title=exc.title, message=exc.message)


async def _unseen(request: Request, exc: Exception) -> Response:
    """A page read's `dashboard.Unseen`: 403 for what the viewer may not see, else 404."""
    assert isinstance(exc, dash.Unseen)
    return await _page_error(request, forbidden() if exc.forbidden else not_found(exc.what))


def install(app: FastAPI) -> None:
    from . import acts, desk

    app.include_router(router)
    desk.install(app)
    acts.install(app)
    app.mount("/kpi/static", StaticFiles(directory=str(HERE / "static")), name="kpi-static")
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(dash.Unseen, _unseen)


def install_headers(app: FastAPI) -> None:
    """`SecurityHeaders` on the whole app, once (also when the dashboard is off)."""
    if not any(m.cls is SecurityHeaders for m in app.user_middleware):
        app.add_middleware(SecurityHeaders)
