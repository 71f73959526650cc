"""What the monthly post says: title, a correction's changes, the ranking, the month's
totals, the appeals that expired with it, an image; and an agent's own breakdown (DM).
Words only: what they say is read by `models.usecases.posts.post_of`."""

from __future__ import annotations

from fractions import Fraction

from nonebot import logger

from bot.config import get_config
from bot.format import Row, chunk, ranking_lines, ranking_table, score_card
from bot.replies import Part, Picture, at
from models.settlement import Change
from models.usecases.posts import DirectPost, GroupPost, StoredRow

POST_ROWS = 100  # a group post lists the top 100; the workbook has everyone
IMAGE_ROWS = 50  # the image shows the top 50


def _stored_rows(scores: list[StoredRow], rub) -> list[Row]:
    return [
        Row(
            sc.rank,
            sc.name,
            [Fraction(sc.categories.get(c.key, "0")) for c in rub.categories],
            Fraction(sc.total),
            sc.grade,
            None if sc.commission_cents is None else Fraction(sc.commission_cents, 100),
            Fraction(sc.fine_cents, 100),
        )
        for sc in scores
    ]


def totals_text(counts: dict[str, int], rub) -> str:
    """`当月共 N 条记录，客户投诉 3 次` of the month's counts (item key → entries): the
    rubric's `count_as` labels say what is counted."""
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


def expired_parts(expired: list[tuple[int, str | None, str]]) -> list[Part]:
    """`⏰ N 条申诉随结算过期（未处理）：@张三 #12 …`: each agent @-ed (SPEC §4);
    `expired` is (entry id, the agent's account on the group's platform or None, name)."""
    if not expired:
        return []
    parts: list[Part] = [f"⏰ {len(expired)} 条申诉未处理，随本月结算过期："]
    for entry_id, user_id, name in expired:
        parts += [at(user_id, name), f"#{entry_id} "]
    return parts


def report_messages(p: GroupPost) -> list[list[Part]]:
    """The monthly post: title, what a correction changed, the ranking, the month's totals,
    the appeals that expired with it, how to see details, an image."""
    rub = p.rubric
    rows = _stored_rows(p.rows, rub)
    period = p.period
    title = f"📊 「{p.team_name}」{period} 月度绩效" + ("【更正】" if p.revision > 1 else "")
    totals = totals_text(p.counts, rub)
    if p.appeals_accepted:
        totals += f"，申诉受理 {p.appeals_accepted} 条"
    shown = rows[:POST_ROWS]
    pay = get_config().kpi_pay_public  # everyone reads the group (SPEC §4 "pay is private")
    lines = [title]
    if p.revision > 1:
        lines += change_lines(p.changes, period, pay)
    lines += ranking_lines(rub, shown, pay=pay)
    if len(rows) > len(shown):
        lines.append(f"……其余 {len(rows) - len(shown)} 人的名次请用 /导出 查看完整表格")
    if p.checked is not None:  # SPEC §4: the post counts what was checked and revoked
        lines.append(f"🔎 {p.checked}")
    lines += [totals, f"发 /我的绩效 {period} 查看自己的明细"]
    messages: list[list[Part]] = [[m] for m in chunk(lines)]
    expired = expired_parts(p.expired)
    if expired:
        messages[-1] += ["\n", *expired]
    pic = None
    if rows:
        pic = _picture(title.removeprefix("📊 "), rub, shown[:IMAGE_ROWS], totals, pay)
    if pic is not None:
        messages[-1].append(pic)
    return messages


def dm_message(p: DirectPost) -> list[Part]:
    """An agent's own breakdown of a settled month (KPI_MONTHLY_DM)."""
    c = p.card
    assert c is not None
    return [score_card(c.rubric, c.member, c.period, c.score, c.entries)]
