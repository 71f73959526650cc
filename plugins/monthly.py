"""The monthly cycle: settle last month at KPI_MONTHLY_CRON, post it exactly once, catch up
after downtime; /月报 /结算 /重开 /导出 (SPEC §4)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from nonebot import get_driver, logger, require
from nonebot.exception import ActionFailed

require("nonebot_plugin_apscheduler")
from nonebot_plugin_apscheduler import scheduler  # noqa: E402

from bot import db  # noqa: E402
from bot.commands import COMMANDS, plugin_meta, usages  # noqa: E402
from bot.config import get_config  # noqa: E402
from bot.context import Ctx  # noqa: E402
from bot.dispatch import Later, kpi_command  # noqa: E402
from bot.format import Row, chunk, ranking_lines, ranking_table, rows_of, score_card  # noqa: E402
from bot.identity import superuser_ids  # noqa: E402
from bot.parse import Args  # noqa: E402
from bot.replies import Mention, Part, Picture, Reply  # noqa: E402
from bot.runtime import commission_base, rubric  # noqa: E402
from bot.send import NoBotOnline, send_group, send_private, upload_group_file  # noqa: E402
from models.appeals import open_appeals  # noqa: E402
from models.export import export_month  # noqa: E402
from models.ledger import (  # noqa: E402
    Refused,
    member_entries,
    month_counts,
    settlement_of,
)
from models.periods import (  # noqa: E402
    UTC,
    current_period,
    parse_period,
    period_bounds,
    period_of,
    shift_period,
    utcnow,
)
from models.roster import (  # noqa: E402
    all_teams,
    anyone_scored,
    binding_of,
    bindings_of,
    member_of,
)
from models.settlement import (  # noqa: E402
    Change,
    changes_of,
    claim_post,
    due_posts,
    expired_with,
    finish_post,
    hold_post,
    hold_stuck_posts,
    member_score,
    month_scores,
    release_post,
    reopen,
    requeue_held,
    rubric_of,
    settle,
    settled_scores,
)
from models.tables import (  # noqa: E402
    Appeal,
    GroupBinding,
    Member,
    Post,
    SettledScore,
    Settlement,
    Team,
)

__plugin_meta__ = plugin_meta(
    "月度结算",
    "每月 1 日自动结算上月并播报；预览、手动结算、重开、导出",
    usages("monthly", "settle", "reopen", "resend", "export"),
)

JOB_ID = "kpi-monthly-settlement"
POST_ROWS = 100  # a group post lists the top 100; the workbook has everyone
IMAGE_ROWS = 50  # the image shows the top 50


def monthly_trigger() -> CronTrigger:
    cfg = get_config()
    return CronTrigger.from_crontab(cfg.kpi_monthly_cron, timezone=cfg.tz)


def scheduled_time(period: str) -> datetime:
    """When the month `period` is due: the first cron fire at or after the next month began."""
    cfg = get_config()
    first, _ = period_bounds(shift_period(period, 1))
    start = datetime(first.year, first.month, first.day, tzinfo=cfg.tz)
    fire = monthly_trigger().get_next_fire_time(None, start)
    return fire or start


def due_periods(team: Team, now: datetime) -> list[str]:
    """Months of a team whose scheduled settlement time has passed (oldest first)."""
    tz = get_config().tz
    out = []
    period = period_of(team.created_at, tz)
    last = shift_period(period_of(now.astimezone(UTC).replace(tzinfo=None), tz), -1)
    while period <= last:
        if scheduled_time(period) <= now:
            out.append(period)
        period = shift_period(period, 1)
    return out


async def settle_due() -> list[tuple[Team, str]]:
    """Settle every team's due, never-settled month. Reopened months wait for a person."""
    now = utcnow().replace(tzinfo=UTC)
    done = []
    async with db.reading() as s:
        teams = await all_teams(s)
    for team in teams:
        for period in due_periods(team, now):
            async with db.reading() as s:
                if await settlement_of(s, team.id, period) is not None:
                    continue
            async with db.writing() as s:
                result = await settle(
                    s, rubric(), team.id, period, "system", get_config().kpi_commission_base
                )
                if result.created:
                    _queue_dms(s, team.id, period, result)
            if result.created:
                logger.info(f"settled {team.name} {period}: {len(result.ranking)} members")
                done.append((team, period))
    return done


def _queue_dms(s, team_id: int, period: str, result) -> None:
    if not get_config().kpi_monthly_dm:
        return
    for r in result.ranking:
        s.add(
            Post(
                team_id=team_id,
                period=period,
                revision=result.settlement.revision,
                platform=r.member.platform,
                group_id=f"dm:{r.member.user_id}",
            )
        )


# ---- the report ----------------------------------------------------------------------------


def _stored_rows(scores: list[SettledScore], rub) -> list[Row]:
    rows = []
    for sc in sorted(scores, key=lambda x: (x.rank, x.name)):
        cats = json.loads(sc.categories)
        rows.append(
            Row(
                sc.rank,
                sc.name,
                [Fraction(cats.get(c.key, "0")) for c in rub.categories],
                Fraction(sc.total),
                sc.grade,
                None if sc.commission_cents is None else Fraction(sc.commission_cents, 100),
                Fraction(sc.fine_cents, 100),
            )
        )
    return rows


async def _totals_line(s, team_id: int, period: str, rub) -> str:
    """`当月共 N 条记录，客户投诉 3 次`: the rubric's `count_as` labels say what is counted."""
    counts = await month_counts(s, team_id, period)
    line = f"当月共 {sum(counts.values())} 条记录"
    tallies: dict[str, int] = {}
    for item in rub.items:
        if item.count_as:
            tallies[item.count_as] = tallies.get(item.count_as, 0) + counts.get(item.key, 0)
    return line + "".join(f"，{label} {n} 次" for label, n in tallies.items())


def _picture(title: str, rub, rows: list[Row], footer: str, pay: bool) -> Picture | None:
    from bot.render import render_ranking

    heads, cells = ranking_table(rub, rows, pay=pay)
    try:
        png = render_ranking(title, heads, cells, footer, get_config().kpi_font or None)
    except Exception as e:
        logger.warning(f"ranking image failed: {e!r}")
        return None
    return Picture(png) if png else None


def change_lines(changes: list[Change], period: str, pay: bool) -> list[str]:
    """A correction, agent by agent, old → new (SPEC §4); pay only where pay is shown."""
    if not changes:
        return ["更正内容：与原月报相比，没有人的总分或提成变化"]
    out = ["更正内容："]
    for c in changes:
        if c.old_total is None:
            out.append(f"· {c.name} 新计入，总分 {c.new_total}")
            continue
        if c.new_total is None:
            out.append(f"· {c.name} 不再计入（原总分 {c.old_total}）")
            continue
        parts = [f"总分 {c.old_total} → {c.new_total}"] if c.total_changed else []
        if pay and c.old_pay != c.new_pay:
            parts.append(f"提成 {c.old_pay or '无'} → {c.new_pay or '无'}")
        if pay and c.old_fines != c.new_fines:
            parts.append(f"罚款 {c.old_fines} → {c.new_fines}")
        if not pay and c.pay_changed:
            parts.append(f"提成有变动（本人发 /我的绩效 {period} 查看）")
        out.append(f"· {c.name} " + "，".join(parts))
    return out


def expired_parts(expired: list[tuple[Appeal, Member]]) -> list[Part]:
    """`⏰ N 条申诉随结算过期（未处理）：@张三 #12 …`: each agent @-ed (SPEC §4)."""
    if not expired:
        return []
    parts: list[Part] = [f"⏰ {len(expired)} 条申诉未处理，随本月结算过期："]
    for appeal, member in expired:
        parts += [Mention(member.user_id), f"#{appeal.entry_id} "]
    return parts


async def report_messages(s, team: Team, settlement: Settlement) -> list[list[Part]]:
    """The monthly post: title, what a correction changed, the ranking, the month's totals,
    the appeals that expired with it, how to see details, an image."""
    rub = rubric_of(settlement, rubric())
    scores = await settled_scores(s, settlement.id)
    rows = _stored_rows(scores, rub)
    period = settlement.period
    title = f"📊 「{team.name}」{period} 月度绩效" + ("【更正】" if settlement.revision > 1 else "")
    totals = await _totals_line(s, team.id, period, rub)
    if settlement.appeals_accepted:
        totals += f"，申诉受理 {settlement.appeals_accepted} 条"
    shown = rows[:POST_ROWS]
    pay = get_config().kpi_pay_public  # everyone reads the group (SPEC §4 "pay is private")
    lines = [title]
    if settlement.revision > 1:
        lines += change_lines(await changes_of(s, settlement), period, pay)
    lines += ranking_lines(rub, shown, pay=pay)
    if len(rows) > len(shown):
        lines.append(f"……其余 {len(rows) - len(shown)} 人的名次请用 /导出 查看完整表格")
    lines += [totals, f"发 /我的绩效 {period} 查看自己的明细"]
    messages: list[list[Part]] = [[m] for m in chunk(lines)]
    expired = expired_parts(await expired_with(s, settlement))
    if expired:
        messages[-1] += ["\n", *expired]
    pic = None
    if rows:
        pic = _picture(title.removeprefix("📊 "), rub, shown[:IMAGE_ROWS], totals, pay)
    if pic is not None:
        messages[-1].append(pic)
    return messages


async def _dm_message(
    s, team: Team, settlement: Settlement, platform: str, user_id: str
) -> list[Part]:
    member = await member_of(s, team.id, platform, user_id)
    if member is None:
        raise RuntimeError(f"{platform}:{user_id} 不是团队成员")
    rub, score = await member_score(
        s, team.id, member.id, settlement.period, rubric(), commission_base()
    )
    entries = await member_entries(s, team.id, member.id, settlement.period)
    return [score_card(rub, member, settlement.period, score, entries)]


_flush_lock = asyncio.Lock()


async def _prepare(post: Post) -> tuple[GroupBinding, str | None, list[list[Part]]]:
    """Where a post goes (the binding whose bot sends it, a user id for a DM) and its messages."""
    async with db.reading() as s:
        team = await s.get(Team, post.team_id)
        settlement = await settlement_of(s, post.team_id, post.period)
        if post.group_id.startswith("dm:"):
            uid = post.group_id[3:]
            same = [b for b in await bindings_of(s, post.team_id) if b.platform == post.platform]
            if not same:
                raise NoBotOnline(f"团队没有 {post.platform} 的群")
            return same[0], uid, [await _dm_message(s, team, settlement, post.platform, uid)]
        binding = await binding_of(s, post.platform, post.group_id)
        if binding is None or binding.team_id != post.team_id:
            raise RuntimeError("群已解绑")
        return binding, None, await report_messages(s, team, settlement)


async def flush_posts() -> int:
    """Send every due post, each claimed first; returns how many went out. What is
    guaranteed (never twice without a person deciding) is in `models.settlement`."""
    sent = 0
    async with _flush_lock:
        async with db.writing() as s:
            held = await hold_stuck_posts(s)
        for post in held:
            await tell_superusers(post)
        async with db.reading() as s:
            posts = await due_posts(s)
        for post in posts:
            async with db.writing() as s:
                if not await claim_post(s, post):
                    continue
            started = accepted = 0
            messages: list[list[Part]] = []
            held_now = False
            try:
                binding, uid, messages = await _prepare(post)
                for parts in messages:
                    started += 1
                    if uid is None:
                        await send_group(binding, parts)
                    else:
                        await send_private(binding, uid, parts)
                    accepted += 1
            except Exception as e:
                logger.warning(f"post #{post.id} to {post.group_id} failed: {e!r}")
                surely_not_sent = accepted == 0 and (
                    not started or isinstance(e, NoBotOnline | ActionFailed)
                )
                async with db.writing() as s:
                    if not surely_not_sent:
                        why = f"已发出 {accepted}/{len(messages)} 条后出错：{e!r}"
                        held_now = await hold_post(s, post.id, why)
                    elif isinstance(e, NoBotOnline):
                        await release_post(s, post.id)
                    else:
                        await finish_post(s, post.id, repr(e))
                if held_now:
                    await tell_superusers(post)
                continue
            async with db.writing() as s:
                await finish_post(s, post.id, None)
            sent += 1
    return sent


async def tell_superusers(post: Post) -> None:
    """A held post: every superuser gets a private message saying what to check and how to
    re-send it (through a bot of the post's platform; logged when none can)."""
    async with db.reading() as s:
        team = await s.get(Team, post.team_id)
        same = [b for b in await bindings_of(s, post.team_id) if b.platform == post.platform]
        dm = post.group_id.startswith("dm:")
        member = await member_of(s, post.team_id, post.platform, post.group_id[3:]) if dm else None
    where = (
        f"私信给 {member.name if member else post.group_id[3:]}"
        if dm
        else f"发往群 {post.group_id}"
    )
    text = (
        f"⚠️ 「{team.name}」{post.period} 月报{where} 时中断，不确定是否已经发出。"
        f"为免重复，机器人不会自动重发。请到{'对方' if dm else '群里'}确认：没收到就在"
        f"「{team.name}」的群里发 /重发 {post.period}"
    )
    logger.warning(text)
    if not same:
        return
    for uid in superuser_ids(post.platform):
        try:
            await send_private(same[0], uid, [text])
        except Exception as e:
            logger.warning(f"telling superuser {uid} about post #{post.id} failed: {e!r}")


async def monthly_job() -> None:
    """The scheduled job (and the catch-up at start): settle what is due, then post."""
    try:
        await settle_due()
    finally:
        await flush_posts()


# ---- scheduling ------------------------------------------------------------------------------

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
async def preview(ctx: Ctx, args: Args) -> list[str]:
    period = _month(args, current_period(get_config().tz))
    s = ctx.s
    rub, ranking, settled = await month_scores(s, ctx.team_id, period, rubric(), commission_base())
    totals = await _totals_line(s, ctx.team_id, period, rub)
    appeals = await open_appeals(s, ctx.team_id, period)
    state = "已结算" if settled and settled.status == "settled" else "预览，未结算"
    lines = [f"📊 「{ctx.team.name}」{period} 月报（{state}）"]
    lines += ranking_lines(rub, rows_of(ranking), pay=True) if ranking else ["还没有需要考核的成员"]
    lines.append(totals)
    if appeals:
        lines.append(f"待处理申诉 {len(appeals)} 条：" + " ".join(f"#{e.id}" for _, e in appeals))
    return chunk(lines)


@kpi_command(COMMANDS["settle"])
async def settle_cmd(ctx: Ctx, args: Args) -> str | None:
    tz = get_config().tz
    now_period = current_period(tz)
    period = _month(args, shift_period(now_period, -1))
    if period >= now_period:
        raise Refused(f"{period} 还没结束，不能结算（只能结算已结束的月份）")
    s = ctx.s
    if not await anyone_scored(s, ctx.team_id, period):
        raise Refused(f"{period} 没有需要考核的成员，无需结算")
    result = await settle(
        s, rubric(), ctx.team_id, period, ctx.actor, get_config().kpi_commission_base
    )
    if result.created:
        _queue_dms(s, ctx.team_id, period, result)
    if not result.created:
        raise Refused(f"{period} 已结算过，不会重复播报；如需更正请超级管理员 /重开 {period}")
    kind = "更正" if result.correction else "结算"
    reply: list[Part] = [f"✅ {period} 已{kind}，{len(result.ranking)} 人，月报马上发到群里"]
    if result.correction:
        pay = get_config().kpi_pay_public  # the reply is read by the whole group
        reply.append("\n" + "\n".join(change_lines(result.changes, period, pay)))
    if result.expired:
        expired = [(a, await s.get(Member, a.member_id)) for a, _ in result.expired]
        reply += ["\n", *expired_parts(expired)]
    return _posting_soon(reply if len(reply) > 1 else reply[0])


def _posting_soon(reply: Reply) -> Later:
    """Reply, and send the queued posts once the transaction that queued them is committed."""

    async def flush_then_reply() -> Reply:
        flush_soon(0.5)
        return reply

    return Later(flush_then_reply)


@kpi_command(COMMANDS["reopen"])
async def reopen_cmd(ctx: Ctx, args: Args) -> str | None:
    if not args.words:
        raise Refused("请写要重开的月份")
    period = _month(args, "")
    s = ctx.s
    await reopen(s, ctx.team_id, period, ctx.actor)
    return f"✅ {period} 已重开，可以补录或撤销；改完发 /结算 {period} 会播报更正"


@kpi_command(COMMANDS["resend"])
async def resend_cmd(ctx: Ctx, args: Args) -> str | None:
    """A superuser checked the group and the held post is not there: send it again."""
    period = _month(args, "") or None
    s = ctx.s
    posts = await requeue_held(s, ctx.team_id, period, ctx.actor)
    if not posts:
        which = f" {period} " if period else ""
        raise Refused(f"「{ctx.team.name}」没有{which}需要重发的月报（中断或发送失败的才需要）")
    months = "、".join(sorted({p.period for p in posts}))
    return _posting_soon(f"✅ {months} 的月报已重新排队（{len(posts)} 条），马上发出")


@kpi_command(COMMANDS["export"])
async def export_cmd(ctx: Ctx, args: Args) -> Later:
    cfg = get_config()
    period = _month(args, current_period(cfg.tz))
    data, people, count = await export_month(
        ctx.s, rubric(), commission_base(), ctx.team, period, cfg.tz
    )
    name = f"{ctx.team.name}-{period}-绩效.xlsx"

    async def save_and_upload() -> str:  # file and network work, after the session closed
        path = await asyncio.to_thread(save_export, name, data)
        try:
            uploaded = await upload_group_file(ctx.binding, name, data)
        except Exception as e:
            logger.warning(f"upload_group_file failed: {e!r}")
            uploaded = False
        done = f"✅ 已导出 {period} 绩效表（{people} 人，{count} 条记录）"
        if uploaded:
            return f"{done}，文件已上传到群文件"
        where = f"：{path.resolve()}" if ctx.is_superuser else "，请找超级管理员取"
        return f"{done}，无法上传群文件，已保存在服务器{where}"

    return Later(save_and_upload)


def save_export(name: str, data: bytes) -> Path:
    folder = get_config().kpi_data_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name.replace("/", "_")
    path.write_bytes(data)
    return path
