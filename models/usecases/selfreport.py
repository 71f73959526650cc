"""Agents' own records: a self-report (`/软文 /加好友 …`, `/报 <项目>`) and `/撤回`
(SPEC §3 Agents).

    self_report(s, ReportRequest) -> Reported   the hot path: one plain function, one hop
    undo(s, UndoRequest)          -> Undone
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction

from sqlalchemy.orm import Session

from ..ledger import Refused, get_entry, last_entry_by
from ..ledger import revoke as revoke_entry
from ..links import MAX_LINK, normalize_url, too_long
from ..periods import day_bounds_utc, period_of, utcnow
from ..reports import SelfReport, log_self_report, read_checks
from ..roster import MemberRow, register, rename_member
from ..rubric import Item
from ..scoring import MemberScore
from ..words import first_url, looks_numeric, note_of, parse_int
from .base import Actor, Policy, Word
from .marks import score_in_month

DEFAULT_MAX_QUANTITY = 1000


@dataclass(frozen=True)
class ReportRequest:
    team_id: int
    actor: Actor  # `name`: the group card now (a member's stored name follows it, SPEC §2)
    words: tuple[Word, ...]  # after the command
    item_key: str | None = None  # the command's item; None: `/报`, the item is the first word
    image_url: str | None = None  # the first picture sent with it (evidence)
    image_file: str | None = None
    source: str | None = None  # the chat message's key


@dataclass(frozen=True)
class Reported:
    entry_id: int
    item: Item
    quantity: int
    done: int  # the item's quantity this month, this report included
    score: MemberScore
    url: str | None = None  # the link as reported, for its snapshot (SPEC §4)


def member_for_report(
    s: Session, team_id: int, actor: Actor, today, found: MemberRow | None
) -> MemberRow:
    """The speaker as an agent of the team (`found`: their membership as read), registered
    on their first report (SPEC §2), with their stored name following their group card;
    Refused if they left or supervise."""
    m = found
    if m is None:
        return register(s, team_id, actor.platform, actor.user_id, actor.name, today, actor.key)
    if actor.name and actor.name != m.name and actor.name != actor.user_id:
        rename_member(s, m.id, actor.name)
        m = replace(m, name=actor.name)
    if m.left_on is not None:  # /离职 ends membership from that day
        raise Refused(f"你已于 {m.left_on} 离职，如需重新入职请联系主管 /入职")
    if m.role == "supervisor":
        raise Refused("主管不参与自报考核；如需参与请先 /取消主管")
    return m


def self_report(s: Session, req: ReportRequest, policy: Policy) -> Reported:
    """Evidence rule, then membership, duplicate link, daily cap, the entry (SPEC §3)."""
    p = policy
    rub = p.rubric
    words = list(req.words)
    via_report = req.item_key is None
    if via_report:
        if not words or words[0].mention:
            raise Refused("请写上项目，例如 /报 软文 https://…")
        word = words[0].text
        item = rub.find_item(word)
        if item is None or rub.who_logs(item) != "self":
            valid = "、".join(i.label for i in rub.self_items())
            why = (
                f"“{word}”不是可自报的项目" if item is None else f"{item.name}由主管登记，不能自报"
            )
            raise Refused(f"{why}。可自报：{valid}")
        words = words[1:]
    else:
        item = rub.item(req.item_key)
        assert item is not None
    text = " ".join(w.text for w in words if w.mention is None)
    link = url = None
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
        quantity, rest = _read_quantity(item, words, optional=False)
        note = " ".join(w.text for w in rest)
    elif via_report:
        quantity, rest = _read_quantity(item, words, optional=True)
        note = " ".join(w.text for w in rest)
    else:
        note = text
    note = note_of(note)

    now = utcnow()
    today = p.today
    period = period_of(now, p.tz)
    day = day_bounds_utc(today, p.tz)
    account = (req.actor.platform, req.actor.user_id)
    checks = read_checks(s, req.team_id, account, item.key, link, period, day)
    member = member_for_report(s, req.team_id, req.actor, today, checks.member)
    report = SelfReport(
        team_id=req.team_id,
        member_id=member.id,
        member_name=member.name,
        item=item,
        quantity=quantity,
        link=link,
        note=note,
        image_url=req.image_url,
        image_file=req.image_file,
        period=period,
        at=now,
        actor=req.actor.key,
        source=req.source or "",
        channel=req.actor.channel,
    )
    logged = log_self_report(s, rub, report, p.commission_base, checks)
    return Reported(logged.entry_id, item, quantity, logged.done, logged.score, url)


def _read_quantity(item: Item, words: list[Word], *, optional: bool) -> tuple[int, list[Word]]:
    plain = [w for w in words if w.mention is None]
    n = parse_int(plain[0].text) if plain else None
    low = item.min_quantity
    high = item.max_quantity or DEFAULT_MAX_QUANTITY
    if n is None and plain and looks_numeric(plain[0].norm):  # `1.5`: a number, not whole
        raise Refused(f"{item.label}数量必须是 {low}–{high} 的整数，收到 {plain[0].text}")
    if n is None:
        if optional:
            return 1, plain
        raise Refused(f"请写上{item.label}的数量（{item.unit}数）")
    if not low <= n <= high:
        raise Refused(f"{item.label}数量必须是 {low}–{high} 的整数，收到 {plain[0].text}")
    return n, plain[1:]


# ---- /撤回 -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UndoRequest:
    team_id: int
    actor: Actor
    entry_id: int | None = None  # None: the actor's newest entry


@dataclass(frozen=True)
class Undone:
    entry_id: int
    item: Item | None  # None: an item no longer in the rubric
    score: MemberScore
    done: int | Fraction | None  # the item's quantity this month now, for an item with a target


def undo(s: Session, req: UndoRequest, policy: Policy) -> Undone:
    """An agent takes back their own entry within KPI_UNDO_MINUTES (SPEC §3)."""
    p = policy
    if req.entry_id is None:
        entry = last_entry_by(s, req.team_id, req.actor.key)
        if entry is None:
            raise Refused("你还没有可撤回的记录")
    else:
        entry = get_entry(s, req.entry_id)
        if entry is None or entry.team_id != req.team_id:
            raise Refused(f"找不到 #{req.entry_id}")
        if entry.created_by != req.actor.key:
            raise Refused(f"#{req.entry_id} 不是你报的，只能撤回自己的记录")
    age = utcnow() - entry.created_at
    if age.total_seconds() > p.undo_minutes * 60:
        raise Refused(
            f"#{entry.id} 已超过 {p.undo_minutes} 分钟，不能自己撤回了，请主管 /撤销 #{entry.id}"
        )
    revoke_entry(s, entry, req.actor.key, req.actor.name, "本人撤回", req.actor.channel)
    score = score_in_month(s, p, req.team_id, entry.member_id, entry.period)
    item = p.rubric.item(entry.item_key)
    done = score.item(item.key).quantity if item is not None and item.target is not None else None
    return Undone(entry.id, item, score, done)
