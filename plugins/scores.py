"""Reading scores: /我的绩效 /排行 (everyone), /绩效 /明细 (supervisors) (SPEC §3)."""

from bot.commands import COMMANDS, plugin_meta, self_report_examples, usages
from bot.config import get_config
from bot.context import Ctx
from bot.dispatch import Call, kpi_command
from bot.format import chunk, entry_line, ranking_lines, rows_of, score_card
from bot.parse import Args
from bot.privacy import pay_hint, sees_pay
from bot.runtime import commission_base, rubric, rubric_now
from bot.targets import where_of
from models.appeals import APPEAL_STATE
from models.ledger import Refused
from models.periods import looks_like_period
from models.usecases import scores as uc

__plugin_meta__ = plugin_meta(
    "绩效查询", "自己的绩效、团队排行、某人的绩效与明细", usages("me", "rank", "score", "detail")
)


def month_arg(words: list[str]) -> str:
    """The month named in `words` (default: this month in KPI_TIMEZONE)."""
    return uc.month_of(words, get_config().tz)


def card_text(ctx: Ctx, c: uc.Card) -> str:
    pay = sees_pay(ctx, c.member.id)
    card = score_card(c.rubric, c.member, c.period, c.score, c.entries, pay=pay)
    if not pay and (c.score.fines or c.score.commission is not None):
        own = ctx.member is not None and ctx.member.id == c.member.id
        command = f"/我的绩效 {c.period}" if own else f"/绩效 {c.member.name} {c.period}"
        if hint := pay_hint(ctx, command, own=own):
            card += "\n" + hint
    if ctx.extra.get("other_teams"):
        card += f"\n（你还在另外 {ctx.extra['other_teams']} 个团队，请在对应群里查看）"
    return card


@kpi_command(COMMANDS["me"])
def me(ctx: Ctx, args: Args) -> Call:
    period = month_arg(args.words)
    if ctx.member is None:
        if ctx.is_supervisor:
            raise Refused("你是主管，不参与考核；查看成员请用 /绩效 @某人")
        first = self_report_examples(rubric_now())[0]
        raise Refused(f"你还没有任何记录。报一次推广（如 {first}）就会自动登记")
    if ctx.member.role == "supervisor":
        raise Refused("你是主管，不参与考核；查看成员请用 /绩效 @某人")
    request = uc.CardRead(ctx.team_id, ctx.member.id, period, rubric(), commission_base())
    return Call(uc.card, request, lambda c: card_text(ctx, c))


@kpi_command(COMMANDS["rank"])
def rank(ctx: Ctx, args: Args) -> Call:
    period = month_arg(args.words)
    team = ctx.team.name

    def reply(r: uc.Ranking) -> list[str] | str:
        ranking = r.ranking
        if not ranking:
            return f"「{team}」{period} 还没有人上榜"
        pay = sees_pay(ctx)
        lines = [f"🏆 「{team}」{period} 排行", *ranking_lines(r.rubric, rows_of(ranking), pay=pay)]
        paid = any(x.score.fines or x.score.commission is not None for x in ranking)
        me = ctx.member.id if ctx.member is not None else None
        if not pay and paid and (hint := pay_hint(ctx, f"/排行 {period}")):
            lines.append(hint)
        elif not pay and paid and any(x.member.id == me for x in ranking):
            lines.append(f"提成不公开，私聊我发 /我的绩效 {period} 查看自己的")
        return chunk(lines)

    return Call(uc.ranking, uc.RankRead(ctx.team_id, period, rubric(), commission_base()), reply)


def _target(ctx: Ctx, args: Args) -> uc.TargetRead:
    return uc.TargetRead(where_of(ctx), tuple(args.tokens), rubric(), commission_base())


@kpi_command(COMMANDS["score"])
def score(ctx: Ctx, args: Args) -> Call:
    """A supervisor's `/绩效 @某人`; anyone else's `/绩效 [月份]` is their own (SPEC §3
    "What people type": an agent's `/绩效` without a target is `/我的绩效`)."""
    if not ctx.is_supervisor:
        others = [u for u in args.mentions if u != ctx.user_id]
        quoted = ctx.quoted_user_id not in (None, ctx.user_id)
        if others or quoted or not all(looks_like_period(w) for w in args.words):
            raise Refused("只有本团队的主管可以这样做；看自己的绩效请发 /绩效 或 /我的绩效")
        return me(ctx, args)
    return Call(uc.card_of, _target(ctx, args), lambda c: card_text(ctx, c))


@kpi_command(COMMANDS["detail"])
def detail(ctx: Ctx, args: Args) -> Call:
    tz = get_config().tz

    def reply(d: uc.NamedDetails) -> list[str] | str:
        member, period, entries = d.member, d.period, d.details.entries
        if not entries:
            return f"{member.name} {period} 没有记录"
        revoked = sum(1 for e in entries if e.revoked_at)
        head = f"🗂 {member.name} {period} 明细 {len(entries)} 条" + (
            f"（其中已撤销 {revoked} 条）" if revoked else ""
        )
        rub, states = d.details.rubric, d.details.appeals
        lines = (
            entry_line(rub, e, tz, appeal=APPEAL_STATE.get(states.get(e.id, ""))) for e in entries
        )
        return chunk([head, *lines])

    return Call(uc.details_of, _target(ctx, args), reply)
