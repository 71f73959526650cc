"""Evidence that holds up (SPEC §4 "Evidence checks"): what the link checker found, the flags
it raised, and what people decided. Plain functions of a synchronous `Session`, each one
request in and one result out, run whole as one transaction through `bot.door`.

Rules:
- A check is recorded as it was fetched (`record_checks`); a link found removed flags its
  entry (kind `removed`). The checker never revokes anything.
- Reused evidence flags the later entry of the team, in any month, naming the earlier one:
  the same screenshot (`same_image`, perceptual hashes) or the same article (`same_article`:
  simhash of the page text, or the same final URL after redirects). Revoked entries count
  for nothing: they neither get flags nor are named as the earlier one.
- One flag of a kind per entry. A flag is open until a supervisor keeps the entry (`keep`)
  or revokes it (`/撤销`; the flag then counts as revoked through the entry). Nobody keeps
  their own entry. The agent may appeal a flag once (`appeal_flag`).
- The agent hears of each flag once: `claim_notices` marks flags as told in the same
  transaction that hands them out (`release_notice` if sending failed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .ledger import Refused, ensure_open
from .linkpage import ALIVE, REMOVED, same_article
from .links import normalize_url
from .periods import utcnow
from .rights import refuse_self
from .roster import audit
from .tables import Entry, EvidenceFlag, EvidencePrint, LinkCheck, Member

KIND_NAMES = {"removed": "链接已删除", "same_image": "重复截图", "same_article": "重复文章"}
SAME_IMAGE_BITS = 6
SELF_KEEP = "不能处理自己的记录，请让其他主管处理"
CHECKER = "system:linkcheck"


@dataclass(frozen=True)
class LinkTarget:
    """A link to check: the entry, and the URL as it was reported."""

    entry_id: int
    team_id: int
    period: str
    url: str


@dataclass(frozen=True)
class CheckResult:
    entry_id: int
    kind: str  # snapshot | recheck
    url: str
    verdict: str
    reason: str
    at: datetime
    final_url: str | None = None
    status: int | None = None
    title: str | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class FlagView:
    """A flag with what a person needs to judge it, names and all."""

    flag_id: int
    entry_id: int
    kind: str
    detail: str | None
    earlier_entry_id: int | None
    earlier_member_name: str | None
    member_id: int
    member_name: str
    platform: str
    user_id: str
    item_key: str
    link: str | None
    image_url: str | None
    reported_at: datetime
    period: str
    decision: str | None
    revoked: bool
    appeal_reason: str | None
    created_at: datetime
    checked_at: datetime | None = None  # the entry's latest fetch, else when it was flagged
    image_path: str | None = None  # the stored screenshot (served by the dashboard)
    reported_url: str | None = None  # the link as reported (its first check's), else `link`

    @property
    def kind_name(self) -> str:
        return KIND_NAMES.get(self.kind, self.kind)

    @property
    def state(self) -> str:
        """open | kept | revoked."""
        if self.revoked:
            return "revoked"
        return "kept" if self.decision == "kept" else "open"

    @property
    def why(self) -> str:
        """The flag in a few words: `链接已删除（HTTP 404）`, `重复截图（与 #12 张三 同一张）`."""
        if self.kind == "removed":
            return f"{self.kind_name}（{self.detail}）" if self.detail else self.kind_name
        same = "同一张" if self.kind == "same_image" else "同一篇"
        who = f" {self.earlier_member_name}" if self.earlier_member_name else ""
        return f"{self.kind_name}（与 #{self.earlier_entry_id}{who} {same}）"

    @property
    def revoke_reason(self) -> str:
        """The reason a revoke of the flagged entry starts with (the person may edit it):
        `链接已删除`, `重复截图（与 #12 相同）`."""
        if self.kind == "removed" or self.earlier_entry_id is None:
            return self.kind_name
        return f"{self.kind_name}（与 #{self.earlier_entry_id} 相同）"


@dataclass(frozen=True)
class LinkSummary:
    checked: int
    removed: int
    revoked: int
    flagged: int
    open: int

    @property
    def text(self) -> str:
        """SPEC §4: the monthly post's line."""
        return f"核查 {self.checked} 条链接，已删除 {self.removed} 条，撤销 {self.revoked} 条"


@dataclass(frozen=True)
class Kept:
    entry_id: int
    member_name: str
    kinds: tuple[str, ...]


# ---- what to check ---------------------------------------------------------------------------


def month_links(session: Session, team_id: int, period: str) -> list[LinkTarget]:
    """The month's links that count (entries with a link, not revoked), oldest first, each
    with the URL as reported (its first check's), else the entry's normalised link."""
    first = (
        select(LinkCheck.entry_id, func.min(LinkCheck.id).label("id"))
        .where(LinkCheck.team_id == team_id, LinkCheck.period == period)
        .group_by(LinkCheck.entry_id)
        .subquery()
    )
    q = (
        select(Entry.id, Entry.link, LinkCheck.url)
        .outerjoin(first, first.c.entry_id == Entry.id)
        .outerjoin(LinkCheck, LinkCheck.id == first.c.id)
        .where(
            Entry.team_id == team_id,
            Entry.period == period,
            Entry.link.is_not(None),
            Entry.revoked_at.is_(None),
        )
        .order_by(Entry.id)
    )
    return [LinkTarget(i, team_id, period, url or link) for i, link, url in session.execute(q)]


def teams_with_links(session: Session, period: str) -> list[int]:
    q = (
        select(Entry.team_id)
        .where(Entry.period == period, Entry.link.is_not(None), Entry.revoked_at.is_(None))
        .distinct()
        .order_by(Entry.team_id)
    )
    return list(session.execute(q).scalars())


def entry_team(session: Session, entry_id: int) -> int | None:
    return session.execute(select(Entry.team_id).where(Entry.id == entry_id)).scalar()


# ---- recording -----------------------------------------------------------------------------------


_INSERT_FLAG = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


def _flag(
    session: Session,
    entry: Entry,
    kind: str,
    detail: str | None,
    earlier: int | None = None,
) -> int | None:
    """Flag `entry` (unless it already has a flag of this kind); the new flag's id."""
    insert = _INSERT_FLAG[session.connection().dialect.name]
    stmt = (
        insert(EvidenceFlag.__table__)
        .values(
            entry_id=entry.id,
            team_id=entry.team_id,
            period=entry.period,
            kind=kind,
            detail=detail,
            earlier_entry_id=earlier,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["entry_id", "kind"])
        .returning(EvidenceFlag.__table__.c.id)
    )
    flag_id = session.execute(stmt).scalar()  # None: the entry had a flag of this kind
    if flag_id is None:
        return None
    after = {"kind": kind, "detail": detail, "earlier": earlier}
    audit(session, entry.team_id, CHECKER, "flag.raise", f"#{entry.id}", None, after)
    return flag_id


def _active(session: Session, entry_id: int) -> Entry | None:
    entry = session.get(Entry, entry_id)
    return entry if entry is not None and entry.revoked_at is None else None


Prints = list[tuple[int, str, str | None]]


def _team_prints(session: Session, team_id: int, kind: str) -> Prints:
    """(entry id, value, final URL) of the team's prints of `kind`, entries that count."""
    q = (
        select(EvidencePrint.entry_id, EvidencePrint.value, EvidencePrint.final_url)
        .join(Entry, Entry.id == EvidencePrint.entry_id)
        .where(
            EvidencePrint.team_id == team_id,
            EvidencePrint.kind == kind,
            Entry.revoked_at.is_(None),
        )
        .order_by(EvidencePrint.entry_id)
    )
    return [(i, v, u) for i, v, u in session.execute(q).all()]


def _reuse(
    session: Session,
    entry: Entry,
    kind: str,
    value: str,
    final_url: str | None,
    known: dict[tuple[int, str], Prints] | None = None,
) -> int | None:
    """Store `entry`'s print of `kind` and flag the later of it and any earlier match.
    `known`: the team's prints, read once for a batch of results and kept up to date."""
    exists = session.execute(
        select(EvidencePrint.id).where(
            EvidencePrint.entry_id == entry.id, EvidencePrint.kind == kind
        )
    ).scalar()
    if exists is not None:
        return None
    session.add(
        EvidencePrint(
            entry_id=entry.id,
            team_id=entry.team_id,
            kind=kind,
            value=value,
            final_url=final_url,
            created_at=utcnow(),
        )
    )
    known = {} if known is None else known
    prints = known.get((entry.team_id, kind))
    if prints is None:
        prints = known[(entry.team_id, kind)] = _team_prints(session, entry.team_id, kind)
    else:
        prints.append((entry.id, value, final_url))
    same = same_image if kind == "image" else same_article
    for other_id, other_value, other_url in prints:
        if other_id == entry.id:
            continue
        if not (same(value, other_value) or (final_url and final_url == other_url)):
            continue
        later = entry if other_id < entry.id else session.get(Entry, other_id)
        earlier = min(other_id, entry.id)
        if later is None:
            continue
        return _flag(session, later, f"same_{kind}", None, earlier)
    return None


def record_checks(session: Session, results: Iterable[CheckResult]) -> list[int]:
    """Record fetched checks; the ids of the flags they raised (removed links, and the same
    article behind two entries). Results for entries revoked meanwhile are dropped."""
    raised = []
    known: dict[tuple[int, str], Prints] = {}
    for r in results:
        entry = _active(session, r.entry_id)
        if entry is None:
            continue
        session.add(
            LinkCheck(
                entry_id=entry.id,
                team_id=entry.team_id,
                period=entry.period,
                kind=r.kind,
                url=r.url,
                final_url=r.final_url,
                status=r.status,
                title=r.title,
                fingerprint=r.fingerprint,
                verdict=r.verdict,
                reason=r.reason,
                checked_at=r.at,
            )
        )
        if r.verdict == REMOVED and r.kind == "recheck":
            raised.append(_flag(session, entry, "removed", r.reason))
        if r.verdict == ALIVE and r.fingerprint:
            final = _final_key(r.final_url) if r.final_url else None
            raised.append(_reuse(session, entry, "article", r.fingerprint, final, known))
    session.flush()
    return [f for f in raised if f is not None]


def _final_key(url: str) -> str | None:
    try:
        return normalize_url(url)
    except ValueError:
        return None


def same_image(a: str, b: str) -> bool:
    """Two screenshots are the same when both their perceptual hash and their difference
    hash (16 hex digits each, `bot.evidence.image_print`) differ in at most
    `SAME_IMAGE_BITS` bits: re-encoding and resizing move them a few bits, a different
    picture about half of them."""
    if len(a) != 32 or len(b) != 32:
        return False
    try:
        return all(
            (int(a[i : i + 16], 16) ^ int(b[i : i + 16], 16)).bit_count() <= SAME_IMAGE_BITS
            for i in (0, 16)
        )
    except ValueError:
        return False


def record_image(session: Session, entry_id: int, path: str, value: str | None) -> list[int]:
    """The evidence picture is stored: keep its path and print; the flags that raised."""
    entry = session.get(Entry, entry_id)
    if entry is None:
        return []
    entry.image_path = path
    if value is None or entry.revoked_at is not None:
        return []
    flag = _reuse(session, entry, "image", value, None)
    return [flag] if flag is not None else []


# ---- reading the flags ------------------------------------------------------------------------


def flags_of(
    session: Session,
    team_id: int,
    period: str | None = None,
    *,
    open_only: bool = False,
    ids: Iterable[int] | None = None,
) -> list[FlagView]:
    """The team's flags (of a month), oldest entry first; `open_only`: the 待核实 list."""
    q = (
        select(EvidenceFlag, Entry, Member)
        .join(Entry, Entry.id == EvidenceFlag.entry_id)
        .join(Member, Member.id == Entry.member_id)
        .where(EvidenceFlag.team_id == team_id)
        .order_by(Entry.id, EvidenceFlag.id)
    )
    if period is not None:
        q = q.where(EvidenceFlag.period == period)
    if ids is not None:
        q = q.where(EvidenceFlag.id.in_(list(ids)))
    if open_only:
        q = q.where(EvidenceFlag.decision.is_(None), Entry.revoked_at.is_(None))
    rows = session.execute(q).all()
    earlier_ids = {f.earlier_entry_id for f, _, _ in rows if f.earlier_entry_id is not None}
    earlier_names: dict[int, str] = {}
    if earlier_ids:
        names = select(Entry.id, Member.name).join(Member, Member.id == Entry.member_id)
        earlier_names = dict(session.execute(names.where(Entry.id.in_(earlier_ids))).all())
    entry_ids = {e.id for _, e, _ in rows}
    checked: dict[int, datetime] = {}
    reported: dict[int, str] = {}
    if entry_ids:
        last = (
            select(LinkCheck.entry_id, func.max(LinkCheck.checked_at), func.min(LinkCheck.id))
            .where(LinkCheck.entry_id.in_(entry_ids))
            .group_by(LinkCheck.entry_id)
        )
        firsts = []
        for entry_id, at, first in session.execute(last).all():
            checked[entry_id] = at
            firsts.append(first)
        urls = select(LinkCheck.entry_id, LinkCheck.url).where(LinkCheck.id.in_(firsts))
        reported = dict(session.execute(urls).all())
    return [
        FlagView(
            flag_id=f.id,
            entry_id=e.id,
            kind=f.kind,
            detail=f.detail,
            earlier_entry_id=f.earlier_entry_id,
            earlier_member_name=earlier_names.get(f.earlier_entry_id or 0),
            member_id=m.id,
            member_name=m.name,
            platform=m.platform,
            user_id=m.user_id,
            item_key=e.item_key,
            link=e.link,
            image_url=e.image_url,
            reported_at=e.created_at,
            period=e.period,
            decision=f.decision,
            revoked=e.revoked_at is not None,
            appeal_reason=f.appeal_reason,
            created_at=f.created_at,
            checked_at=checked.get(e.id, f.created_at),
            image_path=e.image_path,
            reported_url=reported.get(e.id, e.link),
        )
        for f, e, m in rows
    ]


def pending_flags(session: Session, team_id: int, period: str | None = None) -> list[FlagView]:
    """The dashboard's and `/核查`'s 待核实 list: open flags of entries that still count."""
    return flags_of(session, team_id, period, open_only=True)


def latest_verdicts(session: Session, team_id: int, period: str) -> dict[int, str]:
    """Entry id → the verdict of its latest re-check, for the month's entries."""
    last = (
        select(func.max(LinkCheck.id))
        .where(
            LinkCheck.team_id == team_id, LinkCheck.period == period, LinkCheck.kind == "recheck"
        )
        .group_by(LinkCheck.entry_id)
    )
    q = select(LinkCheck.entry_id, LinkCheck.verdict).where(LinkCheck.id.in_(last))
    return dict(session.execute(q).all())


def month_summary(session: Session, team_id: int, period: str) -> LinkSummary | None:
    """SPEC §4: what the month's re-checks found and what people did; None before any."""
    verdicts = latest_verdicts(session, team_id, period)
    if not verdicts:
        return None
    flags = flags_of(session, team_id, period)
    removed = {f.entry_id for f in flags if f.kind == "removed"}
    return LinkSummary(
        checked=len(verdicts),
        removed=len(removed),
        revoked=len({f.entry_id for f in flags if f.revoked}),
        flagged=len({f.entry_id for f in flags}),
        open=len({f.entry_id for f in flags if f.state == "open"}),
    )


def preview_lines(
    session: Session, team_id: int, period: str, item_names: dict[str, str]
) -> list[str]:
    """The `/月报` preview's evidence section: the summary and each entry to look at
    (empty when there is nothing to say). `item_names`: item key → its Chinese name."""
    summary = month_summary(session, team_id, period)
    pending = pending_flags(session, team_id, period)
    lines = [f"🔎 {summary.text}"] if summary is not None else []
    if pending:
        lines.append(f"待核实 {len({f.entry_id for f in pending})} 条：")
        lines += [flag_line(f, item_names) for f in pending]
        lines.append("保留：/保留 #编号；撤销：/撤销 #编号 原因")
    return lines


def flag_line(f: FlagView, item_names: dict[str, str]) -> str:
    """`#57 张三 自建渠道软文 11-03 链接已删除（HTTP 404）`, plus the appeal if any."""
    item = item_names.get(f.item_key, f.item_key)
    line = f"#{f.entry_id} {f.member_name} {item} {f.why}"
    if f.appeal_reason:
        line += f"；申诉：{f.appeal_reason}"
    return line


# ---- people decide ---------------------------------------------------------------------------


def _team_entry(session: Session, team_id: int, entry_id: int) -> Entry:
    entry = session.get(Entry, entry_id) if 0 < entry_id < 2**31 else None
    if entry is None or entry.team_id != team_id:
        raise Refused(f"本团队没有 #{entry_id}")
    return entry


def _open_flags(session: Session, entry_id: int) -> list[EvidenceFlag]:
    q = select(EvidenceFlag).where(
        EvidenceFlag.entry_id == entry_id, EvidenceFlag.decision.is_(None)
    )
    return list(session.execute(q.order_by(EvidenceFlag.id)).scalars())


def keep(
    session: Session,
    team_id: int,
    entry_id: int,
    actor: str,
    actor_name: str,
    speaker_member_id: int | None,
    note: str | None = None,
    channel: str = "群聊",
) -> Kept:
    """A supervisor keeps a flagged entry: its open flags are closed as kept; the entry
    counts as it did. Refused for an entry of another team, one with no open flag, a
    revoked one, the speaker's own, or one of a settled month (like a revoke, a decision
    on a settled month waits for `/重开`). `channel`: where the person acted (the audit)."""
    entry = _team_entry(session, team_id, entry_id)
    if entry.revoked_at is not None:
        raise Refused(f"#{entry_id} 已被撤销，无需保留")
    ensure_open(session, team_id, entry.period)
    flags = _open_flags(session, entry_id)
    if not flags:
        raise Refused(f"#{entry_id} 没有待核实的标记")
    member = session.get(Member, entry.member_id)
    refuse_self(actor, speaker_member_id, [member], SELF_KEEP)
    now = utcnow()
    for f in flags:
        f.decision, f.decided_at = "kept", now
        f.decided_by, f.decided_by_name, f.decision_note = actor, actor_name, note
    kinds = tuple(f.kind for f in flags)
    after = {"kinds": kinds, "note": note}
    audit(session, team_id, actor, "flag.keep", f"#{entry_id}", None, after, channel)
    return Kept(entry_id, member.name, kinds)


def appeal_flag(
    session: Session,
    team_id: int,
    entry_id: int,
    member_id: int,
    reason: str,
    actor: str,
    channel: str = "群聊",
) -> list[FlagView] | None:
    """The agent answers a flag of their entry (`/申诉 #编号 理由`): the reason is kept on
    its open flags for the supervisors. None when the entry has no open flag (then it is an
    ordinary appeal). One appeal per flag."""
    entry = _team_entry(session, team_id, entry_id)
    flags = _open_flags(session, entry_id)
    if not flags or entry.revoked_at is not None:
        return None
    if entry.member_id != member_id:
        raise Refused(f"#{entry_id} 不是你的记录，只能对自己的记录申诉")
    if all(f.appeal_reason for f in flags):
        raise Refused(f"#{entry_id} 已经申诉过，请等主管核实")
    now = utcnow()
    for f in flags:
        if not f.appeal_reason:
            f.appeal_reason, f.appealed_at = reason, now
    after = {"reason": reason}
    audit(session, team_id, actor, "flag.appeal", f"#{entry_id}", None, after, channel)
    session.flush()
    return flags_of(session, team_id, ids=[f.id for f in flags])


# ---- telling the agent -----------------------------------------------------------------------


def claim_notices(session: Session, flag_ids: Iterable[int]) -> list[FlagView]:
    """The flags among `flag_ids` whose agent has not been told yet, marked as told now
    (another process that claims the same flags gets none of them)."""
    claimed = []
    now = utcnow()
    for flag_id in flag_ids:
        done = session.execute(
            update(EvidenceFlag)
            .where(EvidenceFlag.id == flag_id, EvidenceFlag.notified_at.is_(None))
            .values(notified_at=now)
        )
        if done.rowcount == 1:
            claimed.append(flag_id)
    if not claimed:
        return []
    team_ids = set(
        session.execute(select(EvidenceFlag.team_id).where(EvidenceFlag.id.in_(claimed))).scalars()
    )
    out: list[FlagView] = []
    for team_id in sorted(team_ids):
        out += flags_of(session, team_id, ids=claimed)
    return out


def release_notice(session: Session, flag_id: int) -> None:
    """The private message could not be sent: the flag is to be told again later."""
    session.execute(update(EvidenceFlag).where(EvidenceFlag.id == flag_id).values(notified_at=None))


def untold_flags(session: Session, team_id: int) -> list[int]:
    """Flags of the team whose agent was not told yet (a failed or interrupted message)."""
    q = select(EvidenceFlag.id).where(
        EvidenceFlag.team_id == team_id,
        EvidenceFlag.notified_at.is_(None),
        EvidenceFlag.decision.is_(None),
    )
    return list(session.execute(q.order_by(EvidenceFlag.id)).scalars())
