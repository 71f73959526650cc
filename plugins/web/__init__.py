"""The boss's dashboard (SPEC §5a): `/后台` sends a one-time login link by private message;
the pages are served by the bot's own FastAPI app under `/kpi/`."""

from __future__ import annotations

import logging
import re

from nonebot import get_app, get_driver, logger

from bot import door
from bot.commands import COMMANDS, plugin_meta, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import Call, Later, kpi_command
from bot.parse import Args
from bot.platforms import private_hint
from bot.runtime import policy
from bot.send import send_direct
from models.ledger import Refused
from models.usecases.base import Actor
from models.usecases.weblink import Link, LinkRequest, Withdraw, dashboard_link, withdraw

__plugin_meta__ = plugin_meta("网页后台", "一次性登录链接，网页查看团队绩效", usages("dashboard"))

LOGIN_PATH = "/kpi/login/"
_TOKEN_IN_PATH = re.compile(re.escape(LOGIN_PATH) + r"[^\s\"?/]*")


def base_url() -> str:
    """KPI_WEB_BASE_URL, or http://HOST:PORT of the bot's own server."""
    conf = get_driver().config
    host = str(conf.host)
    host = f"[{host}]" if ":" in host else host  # an IPv6 address
    return get_config().kpi_web_base_url or f"http://{host}:{conf.port}"


def base_url_warning() -> str | None:
    """With HOST=0.0.0.0 (or ::) and no KPI_WEB_BASE_URL, login links would read
    http://0.0.0.0:PORT, which no phone can open, and the same-origin check would refuse
    every login from the address people do open: say so at start."""
    host = str(get_driver().config.host)
    if get_config().kpi_web_base_url or host not in ("0.0.0.0", "::", ""):
        return None
    return (
        f"HOST={host} 但没有设置 KPI_WEB_BASE_URL：后台登录链接会是 {base_url()}，手机打不开；"
        "请把 KPI_WEB_BASE_URL 设为大家打开的地址（如 http://192.168.1.5:8080） / set "
        "KPI_WEB_BASE_URL to the address browsers open"
    )


class HideLoginTokens(logging.Filter):
    """Uvicorn's access log prints each request path; a login path carries the token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and LOGIN_PATH in a for a in record.args
        ):
            record.args = tuple(
                _TOKEN_IN_PATH.sub(LOGIN_PATH + "***", a) if isinstance(a, str) else a
                for a in record.args
            )
        if isinstance(record.msg, str) and LOGIN_PATH in record.msg:
            record.msg = _TOKEN_IN_PATH.sub(LOGIN_PATH + "***", record.msg)
        return True


_filter = HideLoginTokens()


def hide_tokens_in_access_log() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "uvicorn"):
        log = logging.getLogger(name)
        if _filter not in log.filters:
            log.addFilter(_filter)


@kpi_command(COMMANDS["dashboard"])
def dashboard(ctx: Ctx, args: Args) -> Call:
    if not get_config().kpi_web_enabled:
        raise Refused("网页后台没有开启（KPI_WEB_ENABLED=false）")
    # Asked in a group as its owner or admin: that team, for as long as the platform keeps
    # saying so (re-checked at every page, SPEC §5a).
    group_team = ctx.team_id if ctx.team is not None and ctx.manages_group else None
    team = ctx.team.id if ctx.team is not None else None
    actor = Actor(ctx.platform, ctx.user_id, ctx.sender_name, ctx.is_superuser)
    request = LinkRequest(actor, ctx.adapter.replace(" ", ""), team, group_team)
    bot, user_id, group_id = ctx.bot, ctx.user_id, ctx.group_id

    def reply(link: Link) -> str | Later:
        url = f"{base_url()}{LOGIN_PATH}{link.token}"
        text = f"🔑 网页后台登录链接（10 分钟内有效，只能用一次，请勿转发）：\n{url}"
        if group_id is None:
            return f"✅ {text}"

        async def send_privately() -> str:  # the link is committed; the group never sees it
            try:
                await send_direct(bot, user_id, [text], via_group=group_id)
            except Exception as e:
                logger.info(f"dashboard link not delivered privately: {type(e).__name__}")
                gone = Withdraw(link.login_id)
                await door.write(team, lambda s: withdraw(s, gone, policy()))
                raise Refused(f"私聊发送失败：{private_hint(bot)}") from None
            return "✅ 登录链接已私聊发给你（10 分钟内有效，只能用一次）"

        return Later(send_privately)

    return Call(dashboard_link, request, reply)


def _mount() -> None:
    """The security headers on the whole app; the pages under `/kpi/` unless switched off."""
    enabled = get_config().kpi_web_enabled
    try:
        app = get_app()
    except Exception:  # a driver without a FastAPI app (e.g. ~none)
        if enabled:
            logger.warning(
                "网页后台需要 FastAPI 驱动，未启用 / the dashboard needs the FastAPI driver"
            )
        return
    from .routes import install, install_headers

    install_headers(app)
    if not enabled:
        return
    install(app)
    hide_tokens_in_access_log()

    @get_driver().on_startup
    async def _announce() -> None:
        hide_tokens_in_access_log()  # uvicorn configures its loggers when it starts
        logger.opt(colors=True).info(
            f"网页后台 / dashboard: <y>{base_url()}/kpi/</y>（发 /后台 获取登录链接）"
        )
        if warning := base_url_warning():
            logger.warning(warning)


_mount()
