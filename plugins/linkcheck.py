"""Evidence checks: /核查 (re-check a month's links now), /保留 (keep a flagged entry), and
the daily re-check over the month's last KPI_LINKCHECK_DAYS days (SPEC §4)."""

from __future__ import annotations

from nonebot import get_driver, require

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot import door  # noqa: E402
from bot.commands import COMMANDS, plugin_meta, usages  # noqa: E402
from bot.config import get_config, parse_hhmm  # noqa: E402
from bot.context import Ctx  # noqa: E402
from bot.dispatch import Call, Later, kpi_command  # noqa: E402
from bot.format import Several, chunk  # noqa: E402
from bot.linkcheck import AlreadyRunning, Recheck, enabled, recheck_due, recheck_month  # noqa: E402
from bot.parse import Args, note_of, parse_entry_id  # noqa: E402
from bot.runtime import rubric_now  # noqa: E402
from bot.targets import actor_of  # noqa: E402
from models.ledger import Refused  # noqa: E402
from models.linkcheck import KIND_NAMES, Kept, flag_line, pending_flags  # noqa: E402
from models.linkpage import ALIVE, REMOVED, UNKNOWN, VERDICT_NAMES  # noqa: E402
from models.periods import current_period, parse_period  # noqa: E402
from models.usecases.flags import KeepRequest, keep_flagged  # noqa: E402

__plugin_meta__ = plugin_meta(
    "链接核查",
    "结算前核查链接是否被删除、截图或文章是否重复；标记交给主管决定保留或撤销",
    usages("linkcheck", "keep"),
)

JOB_ID = "kpi-linkcheck"
OFF = "链接核查已关闭（KPI_LINKCHECK=false）"


def _item_names() -> dict[str, str]:
    return {i.key: i.name for i in rubric_now().items}


async def _report(result: Recheck) -> str | Several:
    """The `/核查` reply: what was found, and each entry a person should look at."""
    names = _item_names()
    pending = await door.read(lambda s: pending_flags(s, result.team_id, result.period))
    counts = "，".join(f"{VERDICT_NAMES[v]} {result.counts[v]}" for v in (ALIVE, REMOVED, UNKNOWN))
    lines = [f"🔎 {result.period} 核查 {result.checked} 条链接：{counts}"]
    if not pending:
        lines.append("✅ 没有待核实的记录")
        return "\n".join(lines)
    lines.append(f"待核实 {len({f.entry_id for f in pending})} 条：")
    lines += [flag_line(f, names) for f in pending]
    lines.append("保留：/保留 #编号；撤销：/撤销 #编号 原因")
    out = chunk(lines)
    return out[0] if len(out) == 1 else out


@kpi_command(COMMANDS["linkcheck"])
def linkcheck_cmd(ctx: Ctx, args: Args) -> Later:
    if not enabled():
        raise Refused(OFF)
    tz = get_config().tz
    period = parse_period(args.words[0], tz) if args.words else current_period(tz)
    if period is None:
        raise Refused(f"月份 {args.words[0]} 无效，可写 2026-11、202611、十一月、本月、上月")
    if period > current_period(tz):
        raise Refused(f"{period} 还没到，不能核查")
    team_id = ctx.team_id

    async def run() -> str | Several | Refused:  # fetching happens outside any session
        try:
            result = await recheck_month(team_id, period)
        except AlreadyRunning:
            return Refused(f"{period} 正在核查中，请稍后再看")
        if not result.checked:
            return f"{period} 没有需要核查的链接"
        return await _report(result)

    return Later(run)


@kpi_command(COMMANDS["keep"])
def keep_cmd(ctx: Ctx, args: Args) -> Call:
    words = args.words
    entry_id = parse_entry_id(words[0]) if words else None
    if entry_id is None:
        raise Refused("请写要保留的编号，例如 /保留 #123 已核实")
    note = note_of(" ".join(words[1:]), limit=200)
    request = KeepRequest(ctx.team_id, actor_of(ctx), entry_id, note)
    return Call(keep_flagged, request, _kept)


def _kept(kept: Kept) -> str:
    entry_id = kept.entry_id
    kinds = "、".join(KIND_NAMES.get(k, k) for k in kept.kinds)
    return f"✅ 已保留 #{entry_id} {kept.member_name}（{kinds}），照常计分"


@get_driver().on_startup
async def _schedule() -> None:
    cfg = get_config()
    hour, minute = parse_hhmm(cfg.kpi_linkcheck_time) or (6, 0)
    scheduler.add_job(
        recheck_due,
        "cron",
        hour=hour,
        minute=minute,
        timezone=cfg.tz,
        id=JOB_ID,
        replace_existing=True,
        misfire_grace_time=3600,
        coalesce=True,
    )
