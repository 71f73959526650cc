"""Teams, group bindings, members and tenures (SPEC §2)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import and_, bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from .periods import period_bounds, utcnow
from .tables import AuditLog, Entry, GroupBinding, Member, MemberAccount, Team, Tenure
from .text import clean_name


def audit(session: Session | AsyncSession, *row: object, **named: object) -> None:
    """One audit row per write (SPEC §6: every deduction explainable), added to the
    session: written with the rest of its transaction. The row's arguments are
    `audit_values`'."""
    session.add(AuditLog(**audit_values(*row, **named)))  # type: ignore[arg-type]


def audit_values(
    team_id: int | None,
    actor: str,
    action: str,
    target: str,
    before: object = None,
    after: object = None,
    channel: str = "群聊",
    at: datetime | None = None,
) -> dict:
    """An audit row's columns, for `audit` and for the Core writers that add nothing to the
    session: `before` / `after` as JSON; `channel` where the actor acted (群聊 / 私聊 / 网页);
    `at` now unless given (an entry's row takes the entry's time)."""

    def dump(v: object) -> str | None:
        return None if v is None else json.dumps(v, ensure_ascii=False, default=str)

    return {
        "team_id": team_id,
        "at": at or utcnow(),
        "actor": actor,
        "action": action,
        "target": target,
        "before": dump(before),
        "after": dump(after),
        "channel": channel,
    }


async def team_by_name(session: AsyncSession, name: str) -> Team | None:
    return await session.run_sync(team_named, name)


async def bindings_of(session: AsyncSession, team_id: int) -> list[GroupBinding]:
    return await session.run_sync(team_bindings, team_id)


def team_bindings(session: Session, team_id: int) -> list[GroupBinding]:
    """The groups bound to the team."""
    q = select(GroupBinding).where(GroupBinding.team_id == team_id)
    return list(session.execute(q).scalars().all())


def teams(session: Session) -> list[Team]:
    """Every team, oldest first."""
    return list(session.execute(select(Team).order_by(Team.id)).scalars().all())


async def all_teams(session: AsyncSession) -> list[Team]:
    """`teams` on an async session."""
    return await session.run_sync(teams)


def member_key(team_id, platform, user_id):
    """The one rule of who an account is in a team (SPEC §2 "The same person on two
    platforms"): the id of the member whose own (platform, user id) it is, else of the
    member it was linked to (`MemberAccount`); NULL for no member. Found through the two
    unique indexes (an OR of the two would read every member of the team on both engines).
    Values or `bindparam`s."""
    own = aliased(Member)
    mine = (
        select(own.id)
        .where(own.team_id == team_id, own.platform == platform, own.user_id == user_id)
        .scalar_subquery()
    )
    linked = (
        select(MemberAccount.member_id)
        .where(
            MemberAccount.team_id == team_id,
            MemberAccount.platform == platform,
            MemberAccount.user_id == user_id,
        )
        .scalar_subquery()
    )
    return func.coalesce(mine, linked)


def _member_where(team_id, platform, user_id) -> tuple:
    """Every lookup of a member by account reads `member_key`: the member by its id."""
    return (Member.id == member_key(team_id, platform, user_id),)


def unnamed(member: Member | MemberRow) -> bool:
    """Stored under their account id, not a name (see `users_on_team`)."""
    return member.name == member.user_id


def member_in(session: Session, team_id: int, platform: str, user_id: str) -> Member | None:
    """The person's membership of the team (any tenure), through their own account or one
    linked to it, loaded into the session (to change it); `member_row` reads the same row
    as a plain value."""
    return session.execute(
        select(Member).where(*_member_where(team_id, platform, user_id))
    ).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member as plain values (the columns of `Member`), read with Core: nothing loaded
    into the session, so nothing to change by setting it (frozen: `dataclasses.replace`
    for a copy); `member_in` loads the `Member` to change."""

    id: int
    team_id: int
    platform: str
    user_id: str
    name: str
    role: str
    joined_on: date
    left_on: date | None


def member_row(session: Session, team_id: int, platform: str, user_id: str) -> MemberRow | None:
    """`member_in` as a plain row, for reading (the hot path of every command)."""
    params = {"team_id": team_id, "platform": platform, "user_id": user_id}
    row = session.connection().execute(_MEMBER_ROW, params).first()
    return None if row is None else MemberRow(*row)


_MEMBER_COLUMNS = [c.name for c in Member.__table__.c]
assert tuple(_MEMBER_COLUMNS) == MemberRow.__slots__, "MemberRow follows Member's columns"
_MEMBER_ROW = select(*Member.__table__.c).where(
    *_member_where(bindparam("team_id"), bindparam("platform"), bindparam("user_id"))  # type: ignore[arg-type]
)


def users_on_team(
    session: Session, team_id: int, platform: str, user_ids: set[str], *, named: bool = False
) -> set[str]:
    """Which of these users are members of the team (any tenure), by their own account or
    a linked one; `named`: only those stored under a name, not under their account id (a
    platform whose events carry no names registers a first report under the id: SPEC §2,
    the name follows at the first @ of them)."""
    if not user_ids:
        return set()
    own = select(Member.user_id).where(
        Member.team_id == team_id, Member.platform == platform, Member.user_id.in_(user_ids)
    )
    linked = (
        select(MemberAccount.user_id)
        .join(Member, Member.id == MemberAccount.member_id)
        .where(
            MemberAccount.team_id == team_id,
            MemberAccount.platform == platform,
            MemberAccount.user_id.in_(user_ids),
        )
    )
    if named:
        own = own.where(Member.name != Member.user_id)
        linked = linked.where(Member.name != Member.user_id)
    return set(session.execute(own).scalars()) | set(session.execute(linked).scalars())


async def user_ids_on_team(
    session: AsyncSession, team_id: int, platform: str, user_ids: set[str], *, named: bool = False
) -> set[str]:
    return await session.run_sync(
        lambda s: users_on_team(s, team_id, platform, user_ids, named=named)
    )


def rename_member(session: Session, member_id: int, name: str) -> None:
    """A member's new display name, stored clean (`models.text.clean_name`)."""
    session.execute(update(Member).where(Member.id == member_id).values(name=clean_name(name)))


def memberships_of(session: Session, platform: str, user_id: str) -> list[Member]:
    """Every membership of one account, in any team and tenure: its own and those it is
    linked to."""
    linked = select(MemberAccount.member_id).where(
        MemberAccount.platform == platform, MemberAccount.user_id == user_id
    )
    q = select(Member).where(
        or_(and_(Member.platform == platform, Member.user_id == user_id), Member.id.in_(linked))
    )
    return list(session.execute(q).scalars().all())


async def memberships(session: AsyncSession, platform: str, user_id: str) -> list[Member]:
    """`memberships_of` on an async session."""
    return await session.run_sync(memberships_of, platform, user_id)


def account_on(session: Session, member: Member, platform: str) -> str | None:
    """The member's user id on `platform`, to @ them in a group there: their own account,
    else one linked to them (SPEC §2 "The same person on two platforms"), else None (a
    reply then names them in text)."""
    if member.platform == platform:
        return member.user_id
    q = select(MemberAccount.user_id).where(
        MemberAccount.member_id == member.id, MemberAccount.platform == platform
    )
    return session.execute(q.order_by(MemberAccount.id).limit(1)).scalar()


def accounts_on(session: Session, team_id: int, platform: str) -> dict[int, str]:
    """`account_on` for every member of the team: member id → user id on `platform`."""
    own = select(Member.id, Member.user_id).where(
        Member.team_id == team_id, Member.platform == platform
    )
    linked = select(MemberAccount.member_id, MemberAccount.user_id).where(
        MemberAccount.team_id == team_id, MemberAccount.platform == platform
    )
    found = dict(session.execute(linked.order_by(MemberAccount.id.desc())).all())
    return found | dict(session.execute(own).all())


def accounts_of(session: Session, member_id: int) -> list[MemberAccount]:
    """The accounts linked to a member besides their own, oldest first."""
    q = select(MemberAccount).where(MemberAccount.member_id == member_id)
    return list(session.execute(q.order_by(MemberAccount.id)).scalars().all())


def join_sync(
    session: Session,
    team_id: int,
    platform: str,
    user_id: str,
    name: str,
    today: date,
    actor: str,
    channel: str = "群聊",
) -> tuple[Member, str]:
    """Add a person to a team (or bring them back). Returns (member, "new"|"rejoined"|"already"),
    the member loaded into the session (to change it further).

    The name is stored clean (`models.text.clean_name`)."""
    m = member_in(session, team_id, platform, user_id)
    if m is not None and m.left_on is None:
        return m, "already"
    if m is None:
        new = register(session, team_id, platform, user_id, name, today, actor, channel)
        return session.get_one(Member, new.id), "new"
    m.left_on = None
    m.joined_on = today
    m.name = clean_name(name) or m.name
    m.role = "agent"
    session.add(Tenure(member_id=m.id, start=today))
    audit(session, team_id, actor, "join", f"{platform}:{user_id}", None, {"name": m.name}, channel)
    session.flush()
    return m, "rejoined"


def register(
    session: Session,
    team_id: int,
    platform: str,
    user_id: str,
    name: str,
    today: date,
    actor: str,
    channel: str = "群聊",
) -> MemberRow:
    """A person who is no member of the team yet (by any account) joins it: the member,
    their first tenure and the audit row, in Core (an agent's first report registers them:
    a burst of new agents is this, 500 times). The name is stored clean."""
    name = clean_name(name)
    conn = session.connection()
    values = {"team_id": team_id, "platform": platform, "user_id": user_id, "name": name}
    row = audit_values(
        team_id, actor, "join", f"{platform}:{user_id}", None, {"name": name}, channel
    )
    if conn.dialect.name == "postgresql":  # one statement, one round trip
        audit = {f"a_{k}": v for k, v in row.items()}
        member_id = conn.execute(_REGISTER, {**values, "joined_on": today, **audit}).scalar_one()
    else:
        [(member_id,)] = conn.execute(_INSERT_MEMBER, {**values, "joined_on": today}).all()
        conn.execute(_INSERT_TENURE, {"member_id": member_id, "start": today})
        conn.execute(_INSERT_AUDIT_ROW, row)
    return MemberRow(member_id, team_id, platform, user_id, name, "agent", today, None)


def _registers():
    """The three INSERTs of `register`, and on PostgreSQL the same as one statement: the
    member's INSERT and its tenure's in a WITH, the audit row's INSERT returning the id."""
    member, tenure, audit = Member.__table__, Tenure.__table__, AuditLog.__table__
    one_member = insert(member).values(role="agent", left_on=None).returning(member.c.id)
    fields = {k: bindparam(k, type_=member.c[k].type) for k in _NEW_MEMBER}
    made = (
        insert(member)
        .values({**fields, "role": "agent", "left_on": None})
        .returning(member.c.id)
        .cte("made")
    )
    started = select(made.c.id, fields["joined_on"], null())
    first_tenure = insert(tenure).from_select(["member_id", "start", "end"], started)
    columns = [c.name for c in audit.c if c.name != "id"]
    both = (
        insert(audit)
        .values({c: bindparam(f"a_{c}", type_=audit.c[c].type) for c in columns})
        .returning(select(made.c.id).scalar_subquery())
        .add_cte(made, first_tenure.cte("first_tenure"))
    )
    return one_member, insert(tenure).values(end=None), insert(audit), both


_NEW_MEMBER = ["team_id", "platform", "user_id", "name", "joined_on"]
_INSERT_MEMBER, _INSERT_TENURE, _INSERT_AUDIT_ROW, _REGISTER = _registers()


def end_membership(
    session: Session, member: Member, today: date, actor: str, channel: str = "群聊"
) -> None:
    """`/离职`: the membership and its open tenure end today; all history stays (SPEC §2)."""
    member.left_on = today
    tenure = session.execute(
        select(Tenure).where(Tenure.member_id == member.id, Tenure.end.is_(None))
    ).scalar_one_or_none()
    if tenure is not None:
        tenure.end = today
    audit(session, member.team_id, actor, "leave", _ref(member), None, {"left_on": today}, channel)


def _ref(member: Member) -> str:
    return f"{member.platform}:{member.user_id}"


def team_roster(session: Session, team_id: int) -> list[Member]:
    """The team's members: current first (supervisors, then agents), then those who left."""
    q = (
        select(Member)
        .where(Member.team_id == team_id)
        .order_by(Member.left_on.is_not(None), Member.role.desc(), Member.id)
    )
    return list(session.execute(q).scalars().all())


@dataclass(slots=True)
class Agent:
    """A scored member as plain values: who a ranking line is about and where to DM them."""

    id: int
    name: str
    platform: str
    user_id: str


def _scored(team_id: int, period: str) -> tuple:
    """Agents scored for a month: on the team at any time in it, or with entries in it.

    SPEC §1: agents who left before a month began are not scored for it; an agent who
    joined or left during a month is.
    """
    first, last = period_bounds(period)
    in_month = (
        select(Tenure.member_id)
        .where(Tenure.start <= last, or_(Tenure.end.is_(None), Tenure.end >= first))
        .scalar_subquery()
    )
    with_entries = (
        select(Entry.member_id)
        .where(Entry.team_id == team_id, Entry.period == period, Entry.revoked_at.is_(None))
        .scalar_subquery()
    )
    return (
        Member.team_id == team_id,
        Member.role == "agent",
        or_(Member.id.in_(in_month), Member.id.in_(with_entries)),
    )


def anyone_scored(session: Session, team_id: int, period: str) -> bool:
    """Whether the month has any agent to score (one row read, not the roster)."""
    row = session.execute(select(Member.id).where(*_scored(team_id, period)).limit(1))
    return row.first() is not None


def agents_scored(session: Session, team_id: int, period: str) -> list[Agent]:
    """The month's scored agents (see `_scored`), by id, as plain values: a team-wide
    ranking of 10,000 agents holds no ORM objects."""
    rows = session.execute(
        select(Member.id, Member.name, Member.platform, Member.user_id)
        .where(*_scored(team_id, period))
        .order_by(Member.id)
    )
    return [Agent(*row) for row in rows]


def agents_on(session: Session, team_id: int, on: date) -> list[Agent]:
    """Agents on the team on day `on`, as plain values, by id."""
    rows = session.execute(
        select(Member.id, Member.name, Member.platform, Member.user_id)
        .where(
            Member.team_id == team_id,
            Member.role == "agent",
            Member.joined_on <= on,
            or_(Member.left_on.is_(None), Member.left_on > on),
        )
        .order_by(Member.id)
    )
    return [Agent(*row) for row in rows.all()]


async def supervisors(session: AsyncSession, team_id: int) -> list[Member]:
    rows = await session.execute(
        select(Member).where(
            Member.team_id == team_id, Member.role == "supervisor", Member.left_on.is_(None)
        )
    )
    return list(rows.scalars().all())


def find_by_name(session: Session, team_id: int, name: str) -> list[Member]:
    """The team's members (any tenure) whose roster name is exactly `name`."""
    q = select(Member).where(Member.team_id == team_id, Member.name == name)
    return list(session.execute(q).scalars().all())


def add_binding(
    session: Session,
    team: Team,
    platform: str,
    group_id: str,
    adapter: str,
    self_id: str,
    actor: str,
    channel: str = "群聊",
) -> GroupBinding:
    """Bind a group to a team, served by the bot account `self_id` (SPEC §2, §5)."""
    binding = GroupBinding(
        platform=platform,
        group_id=group_id,
        team_id=team.id,
        adapter=adapter,
        self_id=self_id,
        bound_at=utcnow(),
        bound_by=actor,
    )
    session.add(binding)
    audit(session, team.id, actor, "bind", f"{platform}:{group_id}", None, team.name, channel)
    return binding


async def bind_group(
    session: AsyncSession,
    team: Team,
    platform: str,
    group_id: str,
    adapter: str,
    self_id: str,
    actor: str,
) -> GroupBinding:
    return await session.run_sync(add_binding, team, platform, group_id, adapter, self_id, actor)


def remove_binding(
    session: Session, team: Team, platform: str, group_id: str, actor: str, channel: str = "群聊"
) -> None:
    """The group leaves its team; every record stays."""
    session.execute(
        delete(GroupBinding).where(
            GroupBinding.platform == platform, GroupBinding.group_id == group_id
        )
    )
    audit(session, team.id, actor, "unbind", f"{platform}:{group_id}", team.name, None, channel)


def create_team(session: Session, name: str, actor: str, channel: str = "群聊") -> Team:
    team = Team(name=clean_name(name), created_at=utcnow())
    session.add(team)
    session.flush()
    audit(session, team.id, actor, "team.create", name, None, None, channel)
    return team


async def new_team(session: AsyncSession, name: str, actor: str) -> Team:
    return await session.run_sync(create_team, name, actor)


def group_binding(session: Session, platform: str, group_id: str) -> GroupBinding | None:
    return session.execute(
        select(GroupBinding).where(
            GroupBinding.platform == platform, GroupBinding.group_id == group_id
        )
    ).scalar_one_or_none()


def binding_and_team(
    session: Session, platform: str, group_id: str
) -> tuple[GroupBinding | None, Team | None]:
    """The group's binding and its team, in one query (every message of a group needs
    both, SPEC §2)."""
    row = session.execute(
        select(GroupBinding, Team)
        .join(Team, Team.id == GroupBinding.team_id)
        .where(GroupBinding.platform == platform, GroupBinding.group_id == group_id)
    ).first()
    return (row[0], row[1]) if row is not None else (None, None)


def team_named(session: Session, name: str) -> Team | None:
    return session.execute(select(Team).where(Team.name == name)).scalar_one_or_none()


def audit_rows_of(
    session: Session,
    team_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> list[AuditLog]:
    """The team's latest audit rows, newest first, in [since, until) when given (UTC)."""
    q = select(AuditLog).where(AuditLog.team_id == team_id)
    if since is not None:
        q = q.where(AuditLog.at >= since)
    if until is not None:
        q = q.where(AuditLog.at < until)
    return list(session.execute(q.order_by(AuditLog.id.desc()).limit(limit)).scalars().all())


async def audit_rows(
    session: AsyncSession,
    team_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 20,
) -> list[AuditLog]:
    """`audit_rows_of` on an async session."""
    return await session.run_sync(audit_rows_of, team_id, since, until, limit)


# ---- the audit log in plain words (SPEC §6: every deduction explainable) -----------------------

_APPEAL_DONE = {"accepted": "受理了", "rejected": "驳回了", "expired": "（结算时）关闭了"}


def _json(raw: str | None) -> object:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw


def _money(cents: object) -> str:
    return f"¥{int(cents) / 100:.2f}" if isinstance(cents, int) and cents else ""


def audit_sentences_of(
    session: Session, team_id: int, rows: list[AuditLog], item_names: dict[str, str]
) -> list[str]:
    """Each audit row as a sentence with names, Chinese item and action names and yuan
    (SPEC §3 "/审计"): `张主管 给 赵龘 登记 人事考核·迟到 ×2（#158）`. `item_names`: item
    key → its Chinese name. Nobody's raw id or stored JSON is shown."""
    actors = {r.actor for r in rows}
    people = {r.target for r in rows if r.action in ("join", "leave", "role", "link", "unlink")}
    named = names_in(session, team_id, actors | people)
    ids = {i for r in rows if (i := _entry_id(r.target)) is not None}
    entries = {}
    if ids:
        q = select(Entry).where(Entry.team_id == team_id, Entry.id.in_(ids))
        entries = {e.id: e for e in session.execute(q).scalars()}
    member_ids = {e.member_id for e in entries.values()}
    for r in rows:
        after = _json(r.after)
        if r.action == "entry.create" and isinstance(after, dict):
            if isinstance(after.get("member_id"), int):
                member_ids.add(after["member_id"])
    members = {}
    if member_ids:
        q = select(Member.id, Member.name).where(Member.id.in_(member_ids))
        members = dict(session.execute(q).all())
    return [
        _sentence(r, named, entries, members, item_names)
        + ("（网页）" if r.channel == "网页" else "")
        for r in rows
    ]


def names_in(session: Session, team_id: int, refs: set[str]) -> dict[str, str]:
    """`platform:user_id` → the person's roster name in the team, else the last name they
    logged or revoked entries with (the audit log, the web's appeals and audit pages)."""
    pairs = [ref.split(":", 1) for ref in refs if ":" in ref]
    if not pairs:
        return {}
    rows = session.execute(
        select(Member.platform, Member.user_id, Member.name).where(
            Member.team_id == team_id,
            or_(*((Member.platform == p) & (Member.user_id == u) for p, u in pairs)),
        )
    )
    out = {f"{p}:{u}": n for p, u, n in rows.all()}
    if missing := [(p, u) for p, u in pairs if f"{p}:{u}" not in out]:
        linked = session.execute(
            select(MemberAccount.platform, MemberAccount.user_id, Member.name)
            .join(Member, Member.id == MemberAccount.member_id)
            .where(
                MemberAccount.team_id == team_id,
                or_(
                    *(
                        (MemberAccount.platform == p) & (MemberAccount.user_id == u)
                        for p, u in missing
                    )
                ),
            )
        )
        out |= {f"{p}:{u}": n for p, u, n in linked.all()}
    for col, name in (
        (Entry.created_by, Entry.created_by_name),
        (Entry.revoked_by, Entry.revoked_by_name),
    ):
        if missing := [ref for ref in refs if ref not in out]:
            q = (
                select(col, func.max(name))
                .where(Entry.team_id == team_id, col.in_(missing))
                .group_by(col)
            )
            out |= {a: n for a, n in session.execute(q).all() if n}
    return out


async def audit_sentences(
    session: AsyncSession, team_id: int, rows: list[AuditLog], item_names: dict[str, str]
) -> list[str]:
    """`audit_sentences_of` on an async session."""
    return await session.run_sync(audit_sentences_of, team_id, rows, item_names)


async def names_of(session: AsyncSession, team_id: int, refs: set[str]) -> dict[str, str]:
    """`names_in` on an async session."""
    return await session.run_sync(names_in, team_id, refs)


def _entry_id(target: str) -> int | None:
    """The entry an audit row is about (`#158`), or None (a team name like `A²` passes
    str.isdigit but is no number)."""
    digits = target[1:]
    if not target.startswith("#") or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


def _sentence(
    r: AuditLog,
    named: dict[str, str],
    entries: dict[int, Entry],
    members: dict[int, str],
    item_names: dict[str, str],
) -> str:
    who = "机器人" if r.actor == "system" else named.get(r.actor, "管理员")
    after, before = _json(r.after), _json(r.before)
    data = after if isinstance(after, dict) else {}
    entry = entries.get(_entry_id(r.target))
    if entry is not None:
        thing = f"{members.get(entry.member_id, '某人')}的{item_names.get(entry.item_key, '记录')}（{r.target}）"
    else:
        thing = r.target
    if r.action == "entry.create":
        # the entry's member now: one merged into another by `/关联` is named as that one
        member = members.get(
            entry.member_id if entry is not None else data.get("member_id"),  # type: ignore[arg-type]
            "某人",
        )
        item = item_names.get(str(data.get("item")), "记录")
        times = f" ×{data['quantity']}" if data.get("quantity") not in (None, 1) else ""
        fine = f"，罚款 {_money(data.get('fine_cents'))}" if _money(data.get("fine_cents")) else ""
        self_report = (
            entry is not None and entry.created_by == r.actor and named.get(r.actor) == member
        )
        verb = f"{member} 自报" if self_report else f"{who} 给 {member} 登记"
        return f"{verb} {item}{times}{fine}（{r.target}）"
    if r.action == "entry.revoke":
        why = f"，原因：{data['reason']}" if data.get("reason") else ""
        return f"{who} 撤销了 {thing}{why}"
    if r.action == "appeal.open":
        why = f"，理由：{data['reason']}" if data.get("reason") else ""
        return f"{who} 对 {thing} 提出申诉{why}"
    if r.action.startswith("appeal."):
        done = _APPEAL_DONE.get(r.action.removeprefix("appeal."), "处理了")
        why = f"，理由：{data['reason']}" if data.get("reason") else ""
        return f"{who} {done}对 {thing} 的申诉{why}"
    person = named.get(r.target, "一位成员")
    if r.action == "join" and r.actor == r.target:
        return f"{data.get('name') or person} 首次报数，自动登记为成员"
    if r.action == "join":
        return f"{who} 登记 {data.get('name') or person} 入职"
    if r.action == "leave":
        return f"{who} 登记 {person} 离职（{data.get('left_on', '')} 起）"
    if r.action == "rename":
        was = before.get("name") if isinstance(before, dict) else None
        return f"{who} 把 {was or person} 改名为 {data.get('name') or person}"
    if r.action == "role" and after is None:
        return f"{who} 调整了 {person} 的角色"
    if r.action == "role":
        to = {"supervisor": "主管", "agent": "客服"}.get(str(after), str(after))
        was = {"supervisor": "主管", "agent": "客服"}.get(str(before), "")
        return f"{who} 把 {person} 从{was}改为{to}" if was else f"{who} 把 {person} 设为{to}"
    if r.action in ("link", "unlink"):
        account = str(data.get("account") or "另一个账号")
        name = data.get("name") or person
        if r.action == "link":
            merged = f"，并入其原有 {data['merged']} 条记录" if data.get("merged") else ""
            return f"{who} 把{account}关联到 {name}{merged}"
        return f"{who} 取消了 {name} 的{account}关联"
    if r.action == "settle":
        return f"{who} 结算了 {r.target}（第 {data.get('revision', 1)} 版，{data.get('members', 0)} 人）"
    if r.action == "reopen":
        return f"{who} 重开了 {r.target}"
    if r.action == "commission":
        base = f"¥{data['base']}" if data.get("base") else "默认（KPI_COMMISSION_BASE）"
        return f"{who} 把提成基数改为 {base}（{data.get('from', '')} 起）"
    if r.action == "import":
        return f"{who} 在网页导入了 {data.get('rows', 0)} 条记录（文件 {data.get('file', '')}）"
    simple = {
        "bind": f"{who} 把本群绑定到团队「{after}」",
        "unbind": f"{who} 解除了本群与团队「{before}」的绑定",
        "team.create": f"{who} 创建了团队「{r.target}」",
        "bind.refused": f"{who} 试图绑定团队「{after}」，被拒绝",
        "reminder": f"{who} 把每日提醒改为 {'关闭' if after in (None, 'off') else after}",
        "bind.account": f"{who} 让本群改由当前机器人账号回复",
        "post.resend": f"{who} 重发了月报",
        "flag.raise": f"链接核查标记了 {thing}，待主管核实",
        "flag.keep": f"{who} 核实后保留了 {thing}",
        "flag.appeal": f"{who} 对 {thing} 的核查结果提出申诉",
    }
    return simple.get(r.action, f"{who} 做了一次操作：{r.action}")
