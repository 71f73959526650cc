"""One-time dashboard links and the sessions they start (SPEC §5a).

A link carries a random token (192 bits); the database keeps only its SHA-256. It is valid
for 10 minutes and consumed by a single conditional UPDATE, so two browsers opening it at
once (on SQLite or PostgreSQL) get one session between them. The session cookie is signed
with a key kept in the database; the session ends after 12 hours or at logout.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from .periods import utcnow
from .tables import WebLogin, WebSecret

LINK_TTL = timedelta(minutes=10)
SESSION_TTL = timedelta(hours=12)
_SALT = "kpi-dashboard-session"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(
    session: Session,
    *,
    platform: str,
    adapter: str,
    user_id: str,
    name: str,
    group_team_id: int | None = None,
) -> tuple[str, WebLogin]:
    """A fresh one-time token for this person; returns (token, row). Only the hash is stored."""
    token = secrets.token_urlsafe(24)
    now = utcnow()
    row = WebLogin(
        token_hash=token_hash(token),
        platform=platform,
        adapter=adapter,
        user_id=user_id,
        name=name,
        group_team_id=group_team_id,
        created_at=now,
        expires_at=now + LINK_TTL,
    )
    session.add(row)
    session.flush()
    return token, row


async def issue_link(session: AsyncSession, **person: object) -> tuple[str, WebLogin]:
    """`new_link` on an async session."""
    return await session.run_sync(lambda s: new_link(s, **person))  # type: ignore[arg-type]


def drop_link(session: Session, login_id: int) -> None:
    """Forget a link that could not be delivered."""
    session.execute(delete(WebLogin).where(WebLogin.id == login_id))


def use_link(s: Session, token: str) -> WebLogin | None:
    """Use the token once: the login, or None when it is unknown, used, ended or expired."""
    if not token or len(token) > 100:
        return None
    h = token_hash(token)
    now = utcnow()
    res = s.execute(
        update(WebLogin)
        .where(
            WebLogin.token_hash == h,
            WebLogin.used_at.is_(None),
            WebLogin.ended_at.is_(None),  # withdrawn, or ended by rotate-web-key
            WebLogin.expires_at > now,
        )
        .values(used_at=now)
    )
    if res.rowcount != 1:
        return None
    return s.execute(select(WebLogin).where(WebLogin.token_hash == h)).scalar_one()


async def consume_link(session: AsyncSession, token: str) -> WebLogin | None:
    """`use_link` on an async session."""
    return await session.run_sync(use_link, token)


def signing_key_of(s: Session) -> str:
    """The cookie-signing key, created once per database (race-free: INSERT … DO NOTHING)."""
    found = s.get(WebSecret, "session")
    if found is not None:
        return found.value
    mod = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    values = {"name": "session", "value": secrets.token_hex(32)}
    s.execute(mod.insert(WebSecret).values(values).on_conflict_do_nothing())
    return s.execute(select(WebSecret.value).where(WebSecret.name == "session")).one()[0]


async def signing_key(session: AsyncSession) -> str:
    """`signing_key_of` on an async session."""
    return await session.run_sync(signing_key_of)


def started_session(s: Session, token: str) -> tuple[WebLogin, str] | None:
    """The tap on a login link (one write): the link used once (`use_link`) and the
    signing key of its cookie, or None when the link opens nothing."""
    login = use_link(s, token)
    return None if login is None else (login, signing_key_of(s))


def csrf_token(key: str, login_id: int) -> str:
    """The token every state-changing form of a session carries (SPEC §5a): an HMAC of the
    session's id under the signing key, so it is bound to this session, needs no storage,
    and no other site can compute it (it never sees the key or the page)."""
    return hmac.new(key.encode(), f"csrf:{login_id}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(key: str, login_id: int, sent: object) -> bool:
    return isinstance(sent, str) and hmac.compare_digest(csrf_token(key, login_id), sent)


def session_cookie(key: str, login: WebLogin) -> str:
    return URLSafeTimedSerializer(key, salt=_SALT).dumps({"id": login.id})


def login_of(s: Session, key: str, cookie: str | None) -> WebLogin | None:
    """The login a cookie belongs to, if the signature holds and the session is still on."""
    if not cookie:
        return None
    try:
        data = URLSafeTimedSerializer(key, salt=_SALT).loads(
            cookie, max_age=int(SESSION_TTL.total_seconds())
        )
    except BadSignature:
        return None
    login_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(login_id, int):
        return None
    login = s.get(WebLogin, login_id)
    if login is None or login.used_at is None or login.ended_at is not None:
        return None
    if login.used_at + SESSION_TTL <= utcnow():
        return None
    return login


async def session_login(session: AsyncSession, key: str, cookie: str | None) -> WebLogin | None:
    """`login_of` on an async session."""
    return await session.run_sync(login_of, key, cookie)


def session_of(s: Session, cookie: str | None) -> tuple[WebLogin, str] | None:
    """The session a cookie opens and the signing key, checked with the key as the database
    has it now: `python -m bot rotate-web-key` refuses every older cookie at the next
    request."""
    if not cookie:
        return None
    key = s.get(WebSecret, "session")
    login = None if key is None else login_of(s, key.value, cookie)
    return None if login is None else (login, key.value)


def end_login(s: Session, login_id: int) -> None:
    """The session ends (logout)."""
    s.execute(
        update(WebLogin)
        .where(WebLogin.id == login_id, WebLogin.ended_at.is_(None))
        .values(ended_at=utcnow())
    )


async def rotate_signing_key(session: AsyncSession) -> int:
    """A new cookie-signing key, and every web session (and unused link) ended: no cookie
    signed before works after it (SPEC §5a). Returns how many logins were ended."""
    dialect = session.bind.dialect.name if session.bind is not None else ""
    mod = postgresql if dialect == "postgresql" else sqlite
    new = secrets.token_hex(32)
    stmt = mod.insert(WebSecret).values(name="session", value=new)
    await session.execute(stmt.on_conflict_do_update(index_elements=["name"], set_={"value": new}))
    res = await session.execute(
        update(WebLogin).where(WebLogin.ended_at.is_(None)).values(ended_at=utcnow())
    )
    return res.rowcount
