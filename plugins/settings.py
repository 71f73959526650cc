"""Team settings in chat: `/提成基数 8000` (issue 24), the same use case as the dashboard's
team settings page (`models.commission.set_commission_base`)."""

from __future__ import annotations

from bot.commands import COMMANDS, plugin_meta, usages
from bot.context import Ctx
from bot.dispatch import Call, kpi_command
from bot.parse import Args
from bot.runtime import forget_rules
from bot.targets import actor_of
from models.commission import BaseSet, SetBase, parse_base, set_commission_base
from models.ledger import Refused

__plugin_meta__ = plugin_meta("团队设置", "提成基数：按团队设置，从本月起生效", usages("base"))


@kpi_command(COMMANDS["base"])
def base_cmd(ctx: Ctx, args: Args) -> Call:
    if not args.words:
        raise Refused("请写提成基数（元），例如 /提成基数 8000；写“默认”恢复 KPI_COMMISSION_BASE")
    request = SetBase(ctx.team_id, actor_of(ctx), parse_base(" ".join(args.words)))
    return Call(set_commission_base, request, _reply)


def _reply(done: BaseSet) -> str:
    forget_rules()  # this process's replies follow the new base at once
    return done.reply
