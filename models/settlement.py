"""Settling a month exactly once, reopening it, and the outbox of monthly posts (SPEC §4).

A (team, month) is claimed by a row with a unique key before anything is posted. Each
group's post (and each monthly DM) is a `Post` row; what is guaranteed about it:

- **Never sent twice by the bot on its own.** A sender claims a post (pending → sending)
  in one conditional UPDATE before sending, and only a *pending* post is ever claimed, so
  two bot processes on one database, a restart or a retry cannot both send it.
- **Retried only when it surely did not go out.** A failure before any of its messages was
  accepted (no bot online, the implementation refusing the send, the group unbound) puts it
  back to pending, retried with backoff up to MAX_ATTEMPTS, then `failed`.
- **Held when its fate is unknown.** A post still `sending` after SENDING_LEASE (the
  process died between sending and `finish_post`) or a send that broke after a message went
  out, or with an uncertain error (a timeout), becomes `unknown`: never re-sent
  automatically; superusers are told to check the group and `/重发` it (`requeue_held`).

So a month is posted at most once unless a person decides otherwise, and a post that may
be missing is always reported to a person rather than silently dropped or duplicated.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .ledger import (
    Ranked,
    Refused,
    categories_json,
    month_ranking,
    month_score,
    settlement_row,
)
from .periods import utcnow
from .roster import Agent, audit
from .rubric import Rubric, parse_rubric
from .scoring import CategoryScore, ItemScore, MemberScore, round_half_up
from .tables import (
    Appeal,
    AuditLog,
    Entry,
    GroupBinding,
    Member,
    Post,
    SettledScore,
    Settlement,
)

MAX_ATTEMPTS = 8
SENDING_LEASE = timedelta(minutes=10)
INSERT_BATCH = 1000  # settled rows per INSERT: a 10,000-agent month is never one big list


@dataclass
class Change:
    """An agent whose shown total or pay moved between two settlements of one month, as
    shown (None: not scored in that version; pay None: no commission base)."""

    member_id: int
    name: str
    old_total: str | None
    new_total: str | None
    old_pay: str | None
    new_pay: str | None
    old_fines: str
    new_fines: str

    @property
    def total_changed(self) -> bool:
        return self.old_total != self.new_total

    @property
    def pay_changed(self) -> bool:
        return (self.old_pay, self.old_fines) != (self.new_pay, self.new_fines)


@dataclass
class SettleResult:
    settlement: Settlement
    created: bool  # False: it was already settled, nothing changed
    correction: bool
    ranking: list[Ranked]
    expired: list[tuple[Appeal, Entry]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)


def _shown(total: Fraction | str | None) -> str | None:
    return None if total is None else str(round_half_up(Fraction(total), 1))


def _cents(cents: int | None) -> str | None:
    return None if cents is None else f"¥{round_half_up(Fraction(cents, 100), 2)}"


def _change(mid: int, o: dict | None, n: dict | None) -> Change | None:
    """`o` and `n` are settled rows (as `_settled_row` makes them) of one agent, or None."""

    def shown(row: dict | None) -> tuple[str | None, str | None, str]:
        if row is None:
            return None, None, ""
        return _shown(row["total"]), _cents(row["commission_cents"]), _cents(row["fine_cents"])

    (ot, op, of), (nt, np, nf) = shown(o), shown(n)
    c = Change(mid, (n or o or {}).get("name", ""), ot, nt, op, np, of, nf)
    return c if c.total_changed or c.pay_changed else None


def changes_between(before: dict[int, dict], new: list[dict]) -> list[Change]:
    """Each agent of `new` whose shown total, commission or fines differ from the stored
    row of the previous settlement (SPEC §4: a 【更正】 post says what changed); the rows
    compared are taken out of `before`, so what is left there was dropped."""
    out = []
    for row in new:
        if (c := _change(row["member_id"], before.pop(row["member_id"], None), row)) is not None:
            out.append(c)
    return out


def _settled_row(settlement_id: int, r: Ranked) -> dict:
    return {
        "settlement_id": settlement_id,
        "member_id": r.member.id,
        "name": r.member.name,
        "rank": r.rank,
        "categories": categories_json(r.score),
        "total": str(r.score.total),
        "grade": r.score.grade,
        "fine_cents": int(r.score.fines * 100),
        # Half up, as every display of it (SPEC §1): Python's round() would go to even.
        "commission_cents": None
        if r.score.commission is None
        else int(round_half_up(r.score.commission, 2) * 100),
    }


def base_cents(base: Decimal | None) -> int | None:
    return None if base is None else int((base * 100).to_integral_value())


def base_of(settlement: Settlement) -> Decimal | None:
    c = settlement.commission_base_cents
    return None if c is None else Decimal(c) / 100


def rubric_of(settlement: Settlement, current: Rubric) -> Rubric:
    """The rubric a settled month was scored with (its snapshot), not the file of today."""
    if settlement.rubric_version == current.version:
        return current
    return parse_rubric(settlement.rubric_text, f"#{settlement.period} 结算快照")


def rules_in_force(
    session: Session, team_id: int, period: str, current: Rubric, base: Decimal | None
) -> tuple[Rubric, Decimal | None]:
    """The rubric and commission base a team's month is scored with: its snapshot once
    settled, else the rubric version in force for the month (activated on the dashboard;
    `current`, the file's, when none) and the team's base for it (`/提成基数`; `base`,
    KPI_COMMISSION_BASE, when none) — `models.rubricstore.month_rules_for`."""
    from .rubricstore import month_rules_for  # it reads settlements: imported when used

    rubric, team_base, _ = month_rules_for(session, team_id, period, current, base)
    return rubric, team_base


def stored_score(
    rubric: Rubric, sc: SettledScore, items: dict[str, list[ItemScore]] | None = None
) -> MemberScore:
    """A member's settled month as stored: category points, total, grade, fines and
    commission from the settled row; `items` (from the entries) only say what was done."""
    cats = json.loads(sc.categories)
    items = items or {}
    return MemberScore(
        [
            CategoryScore(
                c.key, c.name, Fraction(c.max), Fraction(cats.get(c.key, "0")), items.get(c.key, [])
            )
            for c in rubric.categories
        ],
        Fraction(sc.total),
        sc.grade,
        Fraction(sc.fine_cents, 100),
        None if sc.commission_cents is None else Fraction(sc.commission_cents, 100),
    )


LiveRanking = Callable[[Session, Rubric, int, str, Decimal | None], list[Ranked]]


def settled_ranking(session: Session, settlement: Settlement, rubric: Rubric) -> list[Ranked]:
    """A settled month's ranking as stored (rank, totals, pay; SPEC §4)."""
    rows = session.execute(
        select(SettledScore, Member)
        .join(Member, Member.id == SettledScore.member_id)
        .where(SettledScore.settlement_id == settlement.id)
        .order_by(SettledScore.rank, SettledScore.name, SettledScore.member_id)
    ).all()
    return [
        Ranked(sc.rank, Agent(m.id, sc.name, m.platform, m.user_id), stored_score(rubric, sc))
        for sc, m in rows
    ]


def month_scores(
    session: Session,
    team_id: int,
    period: str,
    current: Rubric,
    base: Decimal | None,
    live: LiveRanking = month_ranking,
) -> tuple[Rubric, list[Ranked], Settlement | None]:
    """The month's rules, ranking and settlement row as everyone reads them (SPEC §4 "a
    settled month is read from its stored scores"): a settled month from its stored rows
    (rank, totals, pay) with its snapshot's rubric, so an entry changed after settlement
    cannot make chat, the workbook and the web show two totals; an open or reopened month
    live from its entries under the rules in force for it (`rules_in_force`), scored by
    `live` (`ledger.month_ranking`; the dashboard passes its kept scores,
    `models.dashboard.live_ranking`). `/排行`, `/月报` and the team page read it."""
    st = settlement_row(session, team_id, period)
    if st is None or st.status != "settled":
        rubric, base = rules_in_force(session, team_id, period, current, base)
        return rubric, live(session, rubric, team_id, period, base), st
    rubric = rubric_of(st, current)
    return rubric, settled_ranking(session, st, rubric), st


def member_score(
    session: Session,
    team_id: int,
    member_id: int,
    period: str,
    current: Rubric,
    base: Decimal | None,
) -> tuple[Rubric, MemberScore]:
    """One member's month as everyone reads it (`/我的绩效`, `/绩效`, the agent page): the
    stored row once settled (the item quantities beside it still come from the entries),
    else live, under the month's rules (`rules_in_force`)."""
    rubric, base = rules_in_force(session, team_id, period, current, base)
    live = month_score(session, rubric, team_id, member_id, period, base)
    st = settlement_row(session, team_id, period)
    if st is None or st.status != "settled":
        return rubric, live
    sc = session.execute(
        select(SettledScore).where(
            SettledScore.settlement_id == st.id, SettledScore.member_id == member_id
        )
    ).scalar_one_or_none()
    if sc is None:
        return rubric, live
    return rubric, stored_score(rubric, sc, {c.key: c.items for c in live.categories})


def settle(
    session: Session,
    rubric: Rubric,
    team_id: int,
    period: str,
    actor: str,
    base: Decimal | None,
    channel: str = "群聊",
) -> SettleResult:
    """Settle (team, month) in the caller's write transaction (`bot.door.write`, which
    holds the team's lock: no entry of the month can commit between the scores read here
    and the commit); idempotent. `channel`: where the actor acted, for the audit row."""
    s = settlement_row(session, team_id, period)
    if s is not None and s.status == "settled":
        return SettleResult(s, False, False, [])
    rubric, base = rules_in_force(session, team_id, period, rubric, base)
    correction = s is not None
    now = utcnow()
    if s is None:
        s = Settlement(
            team_id=team_id,
            period=period,
            rubric_version=rubric.version,
            rubric_text=rubric.text,
            settled_at=now,
            settled_by=actor,
            commission_base_cents=base_cents(base),
        )
        try:
            with session.begin_nested():  # flushes pending objects first: add inside
                session.add(s)
                session.flush()
        except IntegrityError:  # another process settled it first
            s = settlement_row(session, team_id, period)
            return SettleResult(s, False, False, [])
    previous: dict[int, dict] = {}
    if correction:
        previous = {
            sc.member_id: {
                "name": sc.name,
                "total": sc.total,
                "commission_cents": sc.commission_cents,
                "fine_cents": sc.fine_cents,
            }
            for sc in settled_scores_of(session, s.id)
        }
        s.status = "settled"
        s.revision += 1
        s.rubric_version = rubric.version
        s.rubric_text = rubric.text
        s.settled_at = now
        s.settled_by = actor
        s.commission_base_cents = base_cents(base)
        session.execute(delete(SettledScore).where(SettledScore.settlement_id == s.id))
        session.flush()

    ranking = month_ranking(session, rubric, team_id, period, base)
    changes: list[Change] = []
    for i in range(0, len(ranking), INSERT_BATCH):
        rows = [_settled_row(s.id, r) for r in ranking[i : i + INSERT_BATCH]]
        if correction:
            changes += changes_between(previous, rows)
        session.execute(insert(SettledScore), rows)
    changes += [c for mid, o in previous.items() if (c := _change(mid, o, None)) is not None]
    s.appeals_accepted, expired = _close_appeals(session, team_id, period, now)
    bindings = session.scalars(select(GroupBinding).where(GroupBinding.team_id == team_id))
    for b in bindings if ranking else []:  # nobody to report on
        session.add(
            Post(
                team_id=team_id,
                period=period,
                revision=s.revision,
                platform=b.platform,
                group_id=b.group_id,
            )
        )
    audit(
        session,
        team_id,
        actor,
        "settle",
        period,
        None,
        {
            "revision": s.revision,
            "rubric": rubric.version,
            "members": len(ranking),
            **({"changes": [asdict(c) for c in changes]} if correction else {}),
        },
        channel,
    )
    session.flush()
    return SettleResult(s, True, correction, ranking, expired, changes)


def _close_appeals(
    session: Session, team_id: int, period: str, now: datetime
) -> tuple[int, list[tuple[Appeal, Entry]]]:
    """Expire the month's open appeals; return how many were accepted and the ones that
    expired now (SPEC §4: `/结算` and the post name them)."""
    rows = session.execute(
        select(Appeal, Entry)
        .join(Entry, Entry.id == Appeal.entry_id)
        .where(Appeal.team_id == team_id, Entry.period == period)
        .order_by(Appeal.id)
    )
    accepted, expired = 0, []
    for appeal, entry in rows.all():
        if appeal.status == "open":
            appeal.status, appeal.closed_at = "expired", now
            appeal.closed_by, appeal.close_reason = "system", "月份已结算"
            expired.append((appeal, entry))
        accepted += appeal.status == "accepted"
    return accepted, expired


def changes_of(session: Session, settlement: Settlement) -> list[Change]:
    """What a correction changed, as recorded in the audit row of its settlement."""
    rows = session.execute(
        select(AuditLog)
        .where(
            AuditLog.team_id == settlement.team_id,
            AuditLog.action == "settle",
            AuditLog.target == settlement.period,
        )
        .order_by(AuditLog.id.desc())
    )
    for row in rows.scalars():
        after = json.loads(row.after or "{}")
        if after.get("revision") == settlement.revision:
            return [Change(**c) for c in after.get("changes", [])]
    return []


def reopen(
    session: Session, team_id: int, period: str, actor: str, channel: str = "群聊"
) -> Settlement:
    s = settlement_row(session, team_id, period)
    if s is None or s.status != "settled":
        raise Refused(f"{period} 还没有结算，无需重开")
    s.status = "reopened"
    before, after = {"status": "settled"}, {"status": "reopened"}
    audit(session, team_id, actor, "reopen", period, before, after, channel)
    return s


def settled_scores_of(session: Session, settlement_id: int) -> list[SettledScore]:
    rows = session.execute(select(SettledScore).where(SettledScore.settlement_id == settlement_id))
    return list(rows.scalars())


# ---- outbox ---------------------------------------------------------------------------------


def due_posts(session: Session) -> list[Post]:
    """Pending posts whose next attempt is due (a `sending` one is never due again)."""
    now = utcnow()
    rows = session.execute(
        select(Post)
        .where(
            Post.status == "pending",
            (Post.next_attempt_at.is_(None)) | (Post.next_attempt_at <= now),
        )
        .order_by(Post.id)
    )
    return list(rows.scalars().all())


def claim_post(session: Session, post: Post) -> bool:
    """pending → sending, atomically; False if someone else has it."""
    res = session.execute(
        update(Post)
        .where(Post.id == post.id, Post.status == "pending")
        .values(status="sending", claimed_at=utcnow())
    )
    return res.rowcount == 1


def hold_post(session: Session, post_id: int, why: str) -> bool:
    """sending → unknown: it may have reached the group, so it is not retried by itself.
    True if this call held it (so exactly one process tells the superusers)."""
    res = session.execute(
        update(Post)
        .where(Post.id == post_id, Post.status == "sending")
        .values(status="unknown", last_error=why[:500])
    )
    return res.rowcount == 1


def hold_stuck_posts(session: Session) -> list[Post]:
    """Hold every post left `sending` past its lease; return the ones this call held."""
    cutoff = utcnow() - SENDING_LEASE
    rows = session.execute(
        select(Post).where(Post.status == "sending", Post.claimed_at < cutoff).order_by(Post.id)
    )
    held = []
    for post in rows.scalars().all():
        if hold_post(session, post.id, "发送中断（进程在发送时退出）"):
            session.refresh(post)
            held.append(post)
    return held


def _held(team_id: int, period: str | None):
    """The team's posts `/重发` sends again: held (`unknown`) and `failed` ones (of one
    month, or all)."""
    q = select(Post).where(Post.team_id == team_id, Post.status.in_(("unknown", "failed")))
    return q if period is None else q.where(Post.period == period)


def held_posts(session: Session, team_id: int, period: str) -> int:
    """How many of the month's posts `/重发` would send again (the dashboard offers
    「重发月报」 only then)."""
    q = _held(team_id, period).with_only_columns(func.count())
    return session.execute(q).scalar_one()


def requeue_held(
    session: Session, team_id: int, period: str | None, actor: str, channel: str = "群聊"
) -> list[Post]:
    """`/重发`: a person checked the group; held (`unknown`) and `failed` posts of the team
    (of one month, or all) go back to pending with fresh attempts."""
    posts = list((session.execute(_held(team_id, period).order_by(Post.id))).scalars().all())
    for post in posts:
        before = post.status
        post.status, post.attempts, post.next_attempt_at = "pending", 0, None
        audit(session, team_id, actor, "post.resend", f"#{post.id}", before, "pending", channel)
    return posts


def finish_post(session: Session, post_id: int, error: str | None) -> None:
    post = session.get(Post, post_id)
    if post is None:
        return
    now = utcnow()
    if error is None:
        post.status, post.sent_at, post.last_error = "sent", now, None
        return
    post.attempts += 1
    post.last_error = error[:500]
    if post.attempts >= MAX_ATTEMPTS:
        post.status = "failed"
    else:
        post.status = "pending"
        post.next_attempt_at = now + timedelta(seconds=min(3600, 30 * 2**post.attempts))


def release_post(session: Session, post_id: int) -> None:
    """No bot is online for the group: leave the post pending, not failed."""
    post = session.get(Post, post_id)
    if post is not None and post.status == "sending":
        post.status = "pending"
