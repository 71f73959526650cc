"""The monthly cycle (SPEC §4): settle last month at KPI_MONTHLY_CRON, post it exactly
once, catch up after downtime; /月报 /结算 /重开 /重发 /导出.

One module per job: `schedule` (when months are due), `settling` (the settlement
driver), `outbox` (sending the posts, alerts), `post` (what a post says); this module
registers the jobs and the commands, whose rules are the use cases of
`models.usecases.monthly`.

Module state (it must be): `AUTO_FLUSH` (tests turn it off and call `flush_posts`
themselves), `_background` (the running background sends, kept from being collected).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from nonebot import get_driver, logger, require

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot.commands import COMMANDS, plugin_meta, usages  # noqa: E402
from bot.config import get_config  # noqa: E402
from bot.context import Ctx  # noqa: E402
from bot.dispatch import Call, Later, kpi_command  # noqa: E402
from bot.format import chunk, ranking_lines, rows_of  # noqa: E402
from bot.parse import Args  # noqa: E402
from bot.privacy import pay_hint, sees_pay  # noqa: E402
from bot.replies import Part, Reply  # noqa: E402
from bot.runtime import commission_base, rubric  # noqa: E402
from bot.send import upload_group_file  # noqa: E402
from models.export import build_workbook  # noqa: E402
from models.ledger import Refused  # noqa: E402
from models.periods import current_period, parse_period, shift_period  # noqa: E402
from models.usecases import scores  # noqa: E402
from models.usecases.exports import Export, ExportRead, export  # noqa: E402
from models.usecases.monthly import (  # noqa: E402
    ReopenRequest,
    Requeued,
    ResendRequest,
    Settled,
    SettleRequest,
    reopen_month,
    resend_posts,
    settle_month,
)

from .outbox import flush_posts, tell_superusers  # noqa: E402
from .post import change_lines, expired_parts, report_messages, totals_text  # noqa: E402
from .schedule import due_periods, monthly_trigger, scheduled_time  # noqa: E402
from .settling import settle_due  # noqa: E402

__all__ = [
    "change_lines",
    "due_periods",
    "flush_posts",
    "monthly_job",
    "report_messages",
    "scheduled_time",
    "settle_due",
    "tell_superusers",
]

__plugin_meta__ = plugin_meta(
    "月度结算",
    "每月 1 日自动结算上月并播报；预览、手动结算、重开、导出",
    usages("monthly", "settle", "reopen", "resend", "export"),
)

JOB_ID = "kpi-monthly-settlement"


async def monthly_job() -> None:
    """The scheduled job (and the catch-up at start): settle what is due, then post."""
    try:
        await settle_due()
    finally:
        await flush_posts()


driver = get_driver()


@driver.on_startup
async def _start() -> None:
    scheduler.add_job(
        monthly_job,
        monthly_trigger(),
        id=JOB_ID,
        replace_existing=True,
        misfire_grace_time=24 * 3600,
        coalesce=True,
        max_instances=1,
    )
    scheduler.add_job(
        flush_posts, "interval", seconds=60, id="kpi-post-retry", replace_existing=True
    )
    if scheduler.running:
        await settle_due()  # catch-up; the posts wait until a bot for the group connects


AUTO_FLUSH = True  # tests turn this off and call flush_posts() themselves
_background: set[asyncio.Task] = set()


def flush_soon(delay: float = 0.0) -> None:
    """Send pending posts in the background (after a bot connects, after /结算)."""
    if not AUTO_FLUSH:
        return

    async def run() -> None:
        await asyncio.sleep(delay)
        await flush_posts()

    task = asyncio.create_task(run())
    _background.add(task)
    task.add_done_callback(_background.discard)


@driver.on_bot_connect
async def _on_connect(bot) -> None:
    flush_soon(1.0)


# ---- commands ----------------------------------------------------------------------------------


def _month(args: Args, default: str) -> str:
    if not args.words:
        return default
    p = parse_period(args.words[0], get_config().tz)
    if p is None:
        raise Refused(f"月份 {args.words[0]} 无效，可写 2026-11、202611、本月、上月")
    return p


@kpi_command(COMMANDS["monthly"])
def preview(ctx: Ctx, args: Args) -> Call:
    period = _month(args, current_period(get_config().tz))
    team = ctx.team.name

    def reply(p: scores.Preview) -> list[str]:
        rub = p.rubric
        state = "已结算" if p.settled else "预览，未结算"
        lines = [f"📊 「{team}」{period} 月报（{state}）"]
        pay = sees_pay(ctx)
        lines += (
            ranking_lines(rub, rows_of(p.ranking), pay=pay)
            if p.ranking
            else ["还没有需要考核的成员"]
        )
        paid = any(x.score.fines or x.score.commission is not None for x in p.ranking)
        if not pay and paid and (hint := pay_hint(ctx, f"/月报 {period}")):
            lines.append(hint)
        lines.append(totals_text(p.counts, rub))
        if ids := p.appeal_entry_ids:
            lines.append(f"待处理申诉 {len(ids)} 条：" + " ".join(f"#{i}" for i in ids))
        return chunk([*lines, *p.link_lines])

    request = scores.RankRead(ctx.team_id, period, rubric(), commission_base())
    return Call(scores.preview, request, reply)


@kpi_command(COMMANDS["settle"])
def settle_cmd(ctx: Ctx, args: Args) -> Call:
    cfg = get_config()
    now_period = current_period(cfg.tz)
    period = _month(args, shift_period(now_period, -1))
    request = SettleRequest(
        ctx.team_id,
        ctx.actor,
        period,
        now_period,
        rubric(),
        cfg.kpi_commission_base,
        cfg.kpi_monthly_dm,
    )
    return Call(settle_month, request, _settled)


def _settled(done: Settled) -> Later:
    cfg = get_config()
    period = done.period
    kind = "更正" if done.correction else "结算"
    reply: list[Part] = [f"✅ {period} 已{kind}，{done.members} 人，月报马上发到群里"]
    if done.correction:
        pay = cfg.kpi_pay_public  # the reply is read by the whole group
        reply.append("\n" + "\n".join(change_lines(done.changes, period, pay)))
    if done.expired:
        expired = [(e.entry_id, e.user_id, e.name) for e in done.expired]
        reply += ["\n", *expired_parts(expired)]
    return _posting_soon(reply if len(reply) > 1 else reply[0])


def _posting_soon(reply: Reply) -> Later:
    """Reply, and send the queued posts once the transaction that queued them is committed."""

    async def flush_then_reply() -> Reply:
        flush_soon(0.5)
        return reply

    return Later(flush_then_reply)


@kpi_command(COMMANDS["reopen"])
def reopen_cmd(ctx: Ctx, args: Args) -> Call:
    if not args.words:
        raise Refused("请写要重开的月份")
    request = ReopenRequest(ctx.team_id, ctx.actor, _month(args, ""))
    return Call(reopen_month, request, _reopened)


def _reopened(period: str) -> str:
    return f"✅ {period} 已重开，可以补录或撤销；改完发 /结算 {period} 会播报更正"


@kpi_command(COMMANDS["resend"])
def resend_cmd(ctx: Ctx, args: Args) -> Call:
    """A superuser checked the group and the held post is not there: send it again."""
    period = _month(args, "") or None
    request = ResendRequest(ctx.team_id, ctx.team.name, ctx.actor, period)
    return Call(resend_posts, request, _requeued)


def _requeued(done: Requeued) -> Later:
    months = "、".join(done.periods)
    return _posting_soon(f"✅ {months} 的月报已重新排队（{done.posts} 条），马上发出")


@kpi_command(COMMANDS["export"])
def export_cmd(ctx: Ctx, args: Args) -> Call:
    cfg = get_config()
    period = _month(args, current_period(cfg.tz))
    request = ExportRead(ctx.team_id, ctx.team.name, period, rubric(), commission_base())
    binding, superuser = ctx.binding, ctx.is_superuser

    def reply(done: Export) -> Later:
        name = f"{done.book.team_name}-{period}-绩效.xlsx"

        async def build_and_upload() -> str:  # file and network work, after the session closed
            data = await asyncio.to_thread(build_workbook, done.rubric, done.book, cfg.tz)
            path = await asyncio.to_thread(save_export, name, data)
            said = f"✅ 已导出 {period} 绩效表（{done.people} 人，{done.count} 条记录）"
            where = f"：{path.resolve()}" if superuser else ""
            if done.shows_pay and not cfg.kpi_pay_public:  # every member can open group files
                return (
                    f"{said}。表里有提成和罚款，不公开，所以没有上传群文件："
                    f"发 /后台 在网页下载{where and '；也已保存在服务器' + where}"
                )
            try:
                uploaded = await upload_group_file(binding, name, data)
            except Exception as e:
                logger.warning(f"upload_group_file failed: {e!r}")
                uploaded = False
            if uploaded:
                return f"{said}，文件已上传到群文件"
            return f"{said}，无法上传群文件，已保存在服务器{where or '，请找超级管理员取'}"

        return Later(build_and_upload)

    return Call(export, request, reply)


def save_export(name: str, data: bytes) -> Path:
    folder = get_config().kpi_data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name.replace("/", "_")
    path.write_bytes(data)
    return path
