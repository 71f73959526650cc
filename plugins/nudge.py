"""Daily nudges: the reminder at KPI_DAILY_REMINDER (or the team's /提醒), and /未报 (SPEC §4)."""

from __future__ import annotations

from datetime import datetime

from nonebot import get_driver, logger, require

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot import door  # noqa: E402
from bot.commands import COMMANDS, plugin_meta, self_report_examples, usages  # noqa: E402
from bot.config import get_config, parse_hhmm  # noqa: E402
from bot.context import Ctx  # noqa: E402
from bot.dispatch import Call, kpi_command  # noqa: E402
from bot.parse import Args  # noqa: E402
from bot.replies import Part, at  # noqa: E402
from bot.runtime import in_force, policy, rubric_now  # noqa: E402
from bot.send import send_group  # noqa: E402
from bot.targets import actor_of  # noqa: E402
from models.ledger import Refused  # noqa: E402
from models.periods import local_now, parse_day  # noqa: E402
from models.roster import teams as all_teams  # noqa: E402
from models.tables import Team  # noqa: E402
from models.usecases.reads import MissingRead, missing  # noqa: E402
from models.usecases.roster import (  # noqa: E402
    ReminderSet,
    RemindRequest,
    claim_due_reminder,
    set_reminder,
)

__plugin_meta__ = plugin_meta(
    "每日提醒", "每天定时 @ 还没报的客服；/未报 随时查看", usages("missing", "remind")
)


def reminder_time(team: Team) -> tuple[int, int] | None:
    """The team's reminder time: its /提醒 setting, else KPI_DAILY_REMINDER; None = off."""
    value = team.reminder_time or get_config().kpi_daily_reminder
    if value in (None, "off"):
        return None
    return parse_hhmm(value)


def gap_text(gaps) -> str:
    return "还差 " + "、".join(str(g) for g in gaps[:2]) if gaps else "本月目标已完成，记得继续报"


async def remind_due(now: datetime | None = None) -> int:
    """Send today's reminder in every team whose time is now. Returns how many groups got one.

    A reminder whose minute has passed is skipped, not sent late.
    """
    cfg = get_config()
    now = now or local_now(cfg.tz)
    if now.weekday() not in cfg.reminder_days:
        return 0
    sent = 0
    for team in await door.read(all_teams):
        if reminder_time(team) != (now.hour, now.minute):
            continue
        today = now.date()
        due = await door.write(
            team.id,
            lambda s, team_id=team.id, day=today: claim_due_reminder(
                s, team_id, day, in_force(s, team_id, policy())
            ),
        )
        if due is None or not due.missing:
            continue
        how = f"发 {'、'.join(self_report_examples(rubric_now()))} 即可自报"
        for b in due.groups:
            handles = due.accounts.get(b.platform, {})  # a linked member's account there
            parts: list[Part] = ["⏰ 今天还没报的同事：\n"]
            for member, gaps in due.missing:
                parts += [at(handles.get(member.id), member.name), f"{gap_text(gaps)}\n"]
            parts.append(how)
            try:
                await send_group(b, parts)
                sent += 1
            except Exception as e:
                logger.warning(f"reminder to {b.group_id} failed: {e!r}")
    return sent


@get_driver().on_startup
async def _schedule() -> None:
    scheduler.add_job(
        remind_due,
        "cron",
        minute="*",
        second=5,
        timezone=get_config().tz,
        id="kpi-daily-reminder",
        replace_existing=True,
        misfire_grace_time=50,
        coalesce=True,
    )


@kpi_command(COMMANDS["missing"])
def missing_cmd(ctx: Ctx, args: Args) -> Call:
    tz = get_config().tz
    day = parse_day(args.words[0], tz) if args.words else local_now(tz).date()
    if day is None:
        raise Refused(f"日期 {args.words[0]} 无效，可写 2026-11-28、11-28、今天、昨天")

    def reply(missing) -> str:
        if not missing:
            return f"✅ {day} 大家都报过了"
        lines = [f"📋 {day} 还没报的 {len(missing)} 人："]
        lines += [f"{m.name}：{gap_text(gaps)}" for m, gaps in missing]
        return "\n".join(lines)

    return Call(missing, MissingRead(ctx.team_id, day), reply)


@kpi_command(COMMANDS["remind"])
def remind_cmd(ctx: Ctx, args: Args) -> Call:
    word = args.words[0] if args.words else ""
    if word in ("关闭", "off", "关"):
        value = "off"
    elif (hhmm := parse_hhmm(word)) is not None:
        value = f"{hhmm[0]:02d}:{hhmm[1]:02d}"
    else:
        raise Refused("请写提醒时间 HH:MM（如 17:30）或“关闭”")
    return Call(set_reminder, RemindRequest(ctx.team_id, actor_of(ctx), value), _reminder_set)


def _reminder_set(done: ReminderSet) -> str:
    if done.value == "off":
        return "✅ 本团队的每日提醒已关闭"
    days = get_config().kpi_reminder_days
    return f"✅ 每天 {done.value} 提醒还没报的同事（{days}）"
