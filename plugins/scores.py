"""Reading scores: /我的绩效 /排行 (everyone), /绩效 /明细 (supervisors) (SPEC §3)."""

from bot.commands import COMMANDS, plugin_meta, self_report_examples, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import kpi_command
from bot.format import chunk, entry_line, ranking_lines, rows_of, score_card
from bot.parse import Args
from bot.runtime import commission_base, month_rules, rubric
from bot.targets import resolve_targets
from models.appeals import APPEAL_STATE, appeal_states
from models.ledger import Refused, member_entries
from models.periods import current_period, looks_like_period, parse_period
from models.settlement import member_score, month_scores
from models.tables import Member

__plugin_meta__ = plugin_meta(
    "绩效查询", "自己的绩效、团队排行、某人的绩效与明细", usages("me", "rank", "score", "detail")
)


def month_arg(words: list[str]) -> str:
    """The month named in `words` (default: this month in KPI_TIMEZONE)."""
    tz = get_config().tz
    for w in words:
        if (p := parse_period(w, tz)) is not None:
            return p
    if words:
        raise Refused(f"月份 {words[0]} 无效，可写 2026-11、202611、十一月、本月、上月")
    return current_period(tz)


def sees_pay(ctx: Ctx, member_id: int | None = None) -> bool:
    """Pay is private (SPEC §4): everyone's with KPI_PAY_PUBLIC, else a supervisor's view,
    or an agent's own."""
    if get_config().kpi_pay_public or ctx.is_supervisor:
        return True
    return member_id is not None and ctx.member is not None and ctx.member.id == member_id


async def card_for(ctx: Ctx, member: Member, period: str) -> str:
    s = ctx.s
    rub, score = await member_score(s, ctx.team_id, member.id, period, rubric(), commission_base())
    entries = await member_entries(s, ctx.team_id, member.id, period)
    card = score_card(rub, member, period, score, entries, pay=sees_pay(ctx, member.id))
    if ctx.extra.get("other_teams"):
        card += f"\n（你还在另外 {ctx.extra['other_teams']} 个团队，请在对应群里查看）"
    return card


@kpi_command(COMMANDS["me"])
async def me(ctx: Ctx, args: Args) -> str:
    period = month_arg(args.words)
    if ctx.member is None:
        if ctx.is_supervisor:
            raise Refused("你是主管，不参与考核；查看成员请用 /绩效 @某人")
        first = self_report_examples(rubric())[0]
        raise Refused(f"你还没有任何记录。报一次推广（如 {first}）就会自动登记")
    if ctx.member.role == "supervisor":
        raise Refused("你是主管，不参与考核；查看成员请用 /绩效 @某人")
    return await card_for(ctx, ctx.member, period)


@kpi_command(COMMANDS["rank"])
async def rank(ctx: Ctx, args: Args) -> list[str] | str:
    period = month_arg(args.words)
    s = ctx.s
    rub, ranking, _ = await month_scores(s, ctx.team_id, period, rubric(), commission_base())
    if not ranking:
        return f"「{ctx.team.name}」{period} 还没有人上榜"
    pay = sees_pay(ctx)
    lines = [f"🏆 「{ctx.team.name}」{period} 排行", *ranking_lines(rub, rows_of(ranking), pay=pay)]
    paid = any(r.score.commission is not None for r in ranking)
    me = ctx.member.id if ctx.member is not None else None
    if not pay and paid and any(r.member.id == me for r in ranking):
        lines.append(f"提成不公开，发 /我的绩效 {period} 查看自己的")
    return chunk(lines)


async def _one_target(ctx: Ctx, args: Args) -> tuple[Member, list[str]]:
    s = ctx.s
    targets, used = await resolve_targets(ctx, s, args.tokens, register=False, allow_left=True)
    if len(targets) != 1:
        raise Refused("请 @ 一个人（或写 QQ 号、姓名）")
    return targets[0], [t.text for t in args.tokens[used:] if t.mention is None]


@kpi_command(COMMANDS["score"])
async def score(ctx: Ctx, args: Args) -> str:
    """A supervisor's `/绩效 @某人`; anyone else's `/绩效 [月份]` is their own (SPEC §3
    "What people type": an agent's `/绩效` without a target is `/我的绩效`)."""
    if not ctx.is_supervisor:
        others = [u for u in args.mentions if u != ctx.user_id]
        quoted = ctx.quoted_user_id not in (None, ctx.user_id)
        if others or quoted or not all(looks_like_period(w) for w in args.words):
            raise Refused("只有本团队的主管可以这样做；看自己的绩效请发 /绩效 或 /我的绩效")
        return await me(ctx, args)
    member, rest = await _one_target(ctx, args)
    return await card_for(ctx, member, month_arg(rest))


@kpi_command(COMMANDS["detail"])
async def detail(ctx: Ctx, args: Args) -> list[str] | str:
    member, rest = await _one_target(ctx, args)
    period = month_arg(rest)
    s = ctx.s
    rub, _ = await month_rules(s, ctx.team_id, period)
    entries = await member_entries(s, ctx.team_id, member.id, period)
    if not entries:
        return f"{member.name} {period} 没有记录"
    tz = get_config().tz
    revoked = sum(1 for e in entries if e.revoked_at)
    head = f"🗂 {member.name} {period} 明细 {len(entries)} 条" + (
        f"（其中已撤销 {revoked} 条）" if revoked else ""
    )
    states = await appeal_states(s, ctx.team_id, period, member.id)
    lines = (entry_line(rub, e, tz, appeal=APPEAL_STATE.get(states.get(e.id, ""))) for e in entries)
    return chunk([head, *lines])
