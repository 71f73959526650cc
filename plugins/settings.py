"""Team settings in chat: `/提成基数 8000` (issue 24), the same use case as the dashboard's
team settings page (`models.commission.set_commission_base`)."""

from __future__ import annotations

from bot.commands import COMMANDS, plugin_meta, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import kpi_command
from bot.parse import Args
from models.commission import SetBase, parse_base, set_commission_base
from models.ledger import Refused
from models.periods import current_period

__plugin_meta__ = plugin_meta("团队设置", "提成基数：按团队设置，从本月起生效", usages("base"))


@kpi_command(COMMANDS["base"])
def base_cmd(ctx: Ctx, args: Args) -> str:
    if not args.words:
        raise Refused("请写提成基数（元），例如 /提成基数 8000；写“默认”恢复 KPI_COMMISSION_BASE")
    cfg = get_config()
    req = SetBase(
        ctx.team_id,
        ctx.actor,
        ctx.sender_name,
        parse_base(" ".join(args.words)),
        current_period(cfg.tz),
        ctx.is_supervisor,
        "私聊" if ctx.group_id is None else "群聊",
    )
    return set_commission_base(ctx.tx, req, cfg.kpi_commission_base).reply
