"""Agents self-report promotion work: /软文 /付费软文 /自媒体 /加好友 /朋友圈 (from the rubric),
/报 for any self-report item, /撤回 (SPEC §3 Agents)."""

from bot.commands import COMMANDS, Cmd, plugin_meta, rubric_commands, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import Later, kpi_command
from bot.evidence import fetch_later
from bot.format import cat_line
from bot.linkcheck import snapshot_later
from bot.parse import Args, Token, first_url, note_of, parse_entry_id, parse_int
from bot.runtime import rubric
from bot.targets import ensure_self
from models.ledger import Refused, entry_by_id, last_entry_by, member_month_score, revoke
from models.links import MAX_LINK, normalize_url, too_long
from models.periods import day_bounds_utc, local_now, period_of, utcnow
from models.reports import SelfReport, log_self_report
from models.rubric import Item

DEFAULT_MAX_QUANTITY = 1000


def _read_quantity(item: Item, tokens: list[Token], *, optional: bool) -> tuple[int, list[Token]]:
    words = [t for t in tokens if t.mention is None]
    n = parse_int(words[0].text) if words else None
    if n is None:
        if optional:
            return 1, words
        raise Refused(f"请写上{item.label}的数量（{item.unit}数）")
    low = item.min_quantity
    high = item.max_quantity or DEFAULT_MAX_QUANTITY
    if not low <= n <= high:
        raise Refused(f"{item.label}数量必须是 {low}–{high} 的整数，收到 {words[0].text}")
    return n, words[1:]


def self_report(ctx: Ctx, item: Item, args: Args, *, via_report: bool = False) -> str | Later:
    """Log one self-report: evidence rule, duplicate link, daily cap, then the entry.

    The hot path: a plain function of `ctx.tx`, run in one hop (`bot.dispatch`)."""
    cfg = get_config()
    tz = cfg.tz
    text = args.text
    link = None
    quantity = 1
    if item.evidence == "link":
        url = first_url(text)
        if url is None:
            raise Refused(f"{item.name}需要附上链接（http:// 或 https:// 开头）")
        try:
            link = normalize_url(url)
        except ValueError as e:
            raise Refused(f"链接格式不对：{url[:60]}") from e
        if too_long(url, link):
            raise Refused(f"链接太长（最多 {MAX_LINK} 个字符），请发短一些的链接")
        note = text.replace(url, " ").strip()
    elif item.evidence == "count":
        quantity, rest = _read_quantity(item, args.tokens, optional=False)
        note = " ".join(t.text for t in rest)
    else:
        quantity, rest = _read_quantity(item, args.tokens, optional=True) if via_report else (1, [])
        note = " ".join(t.text for t in rest) if via_report else text
    note = note_of(note)
    image = args.images[0] if args.images else None

    now = utcnow()
    start, end = day_bounds_utc(local_now(tz).date(), tz)
    member = ensure_self(ctx, ctx.tx)
    report = SelfReport(
        team_id=ctx.team_id,
        member_id=member.id,
        member_name=member.name,
        item=item,
        quantity=quantity,
        link=link,
        note=note,
        image_url=image.url if image else None,
        image_file=image.file if image else None,
        period=period_of(now, tz),
        at=now,
        day_start=start,
        day_end=end,
        actor=ctx.actor,
        source=ctx.message_key,
    )
    logged = log_self_report(ctx.tx, rubric(), report, cfg.kpi_commission_base)
    target = item.target or 0
    reply = (
        f"✅ #{logged.entry_id} {item.name} 已记录"
        f"（本月 {logged.done}/{target}，{cat_line(logged.score, item.category)}）"
    )
    if logged.done - quantity < target <= logged.done:
        reply += f"\n🎉 本月{item.label}目标已完成"
    if link is None and (image is None or not image.url):
        return reply

    async def fetch_then_reply() -> str:  # the entry is committed: its picture may follow
        if image is not None and image.url:
            fetch_later(logged.entry_id, image.url, cfg.kpi_data_dir)
        if link is not None:
            snapshot_later(logged.entry_id, url)
        return reply

    return Later(fetch_then_reply)


def _register(item: Item, cmd: Cmd) -> None:
    @kpi_command(cmd)
    def _handle(ctx: Ctx, args: Args) -> str | Later:
        return self_report(ctx, item, args)


SELF_COMMANDS = [(i, c) for i, c in rubric_commands(rubric()) if c.role != "supervisor"]
for _item, _cmd in SELF_COMMANDS:
    _register(_item, _cmd)


@kpi_command(COMMANDS["report"])
def report(ctx: Ctx, args: Args) -> str | Later:
    rub = rubric()
    if not args.tokens or args.tokens[0].mention:
        raise Refused("请写上项目，例如 /报 软文 https://…")
    word = args.tokens[0].text
    item = rub.find_item(word)
    if item is None or rub.who_logs(item) != "self":
        valid = "、".join(i.label for i in rub.self_items())
        why = f"“{word}”不是可自报的项目" if item is None else f"{item.name}由主管登记，不能自报"
        raise Refused(f"{why}。可自报：{valid}")
    return self_report(ctx, item, Args(args.tokens[1:], args.images), via_report=True)


@kpi_command(COMMANDS["undo"])
async def undo(ctx: Ctx, args: Args) -> str | None:
    cfg = get_config()
    wanted = parse_entry_id(args.words[0]) if args.words else None
    if args.words and wanted is None:
        raise Refused(f"编号应写成 #123，收到 {args.words[0]}")
    s = ctx.s
    if wanted is None:
        entry = await last_entry_by(s, ctx.team_id, ctx.actor)
        if entry is None:
            raise Refused("你还没有可撤回的记录")
    else:
        entry = await entry_by_id(s, wanted)
        if entry is None or entry.team_id != ctx.team_id:
            raise Refused(f"找不到 #{wanted}")
        if entry.created_by != ctx.actor:
            raise Refused(f"#{wanted} 不是你报的，只能撤回自己的记录")
    age = utcnow() - entry.created_at
    if age.total_seconds() > cfg.kpi_undo_minutes * 60:
        raise Refused(
            f"#{entry.id} 已超过 {cfg.kpi_undo_minutes} 分钟，不能自己撤回了，请主管 /撤销 #{entry.id}"
        )
    await revoke(s, entry, ctx.actor, ctx.sender_name, "本人撤回")
    score = await member_month_score(
        s, rubric(), ctx.team_id, entry.member_id, entry.period, cfg.kpi_commission_base
    )
    item = rubric().item(entry.item_key)
    if item is None:
        return f"✅ 已撤回 #{entry.id}"
    progress = (
        f"本月 {score.item(item.key).quantity}/{item.target}，" if item.target is not None else ""
    )
    return f"✅ 已撤回 #{entry.id} {item.name}（{progress}{cat_line(score, item.category)}）"


__plugin_meta__ = plugin_meta(
    "自报推广",
    "客服自报推广工作（软文、加好友、朋友圈…），附链接或截图作证据",
    [*(c.usage for _, c in SELF_COMMANDS), *usages("report", "undo")],
)
