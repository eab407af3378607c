"""Browser sessions (SPEC §11): the server-side record behind the sign-in cookie (SSO).

The cookie holds 256 random bits; the record keeps only their SHA-256 digest, so neither a
database dump nor a log can sign anybody in. Every sign-in starts a new record with a new
token and ends the one the browser held before (no session fixation: a token planted in a
browser before the password was typed never becomes a signed-in one). A session lasts
``OUTTER_BROWSER_SESSION_TTL`` from its sign-in, and ends at logout together with every
session (refresh-token family) that client apps started from it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session as DbSession

from outter_auth import clock
from outter_auth.models import BrowserSession, Membership, Session, Tenant, User
from outter_auth.services import audit, sessions
from outter_auth.services.exceptions import AccountDisabled

TOKEN_BYTES = 32  # 256 bits
MAX_TOKEN_LENGTH = 128


@dataclass(frozen=True)
class SignedIn:
    """A live browser session and who it belongs to (``role`` None until a tenant is chosen)."""

    id: str
    user_id: str
    email: str
    tenant_id: str | None
    role: str | None
    auth_time: datetime
    expires_at: datetime
    tenant_slug: str | None = None
    tenant_name: str | None = None

    def in_tenant(self, ref: str) -> bool:
        """Whether the session acts in the tenant ``ref`` names (slug or id)."""
        return self.tenant_id is not None and ref in (self.tenant_id, self.tenant_slug)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def start(
    db: DbSession,
    user: User,
    tenant_id: str | None,
    ttl_seconds: int,
    *,
    replacing: str | None = None,
    origin: audit.Origin | None = None,
) -> tuple[str, BrowserSession]:
    """Sign a browser in as ``user`` (acting in ``tenant_id``, or None until chosen); returns
    the new cookie token, the only time it exists in clear, and the record. ``replacing`` is
    the token the browser sent, if any: that session ends (its apps' sessions do not)."""
    now = clock.now()
    if replacing:
        _execute(
            db,
            update(BrowserSession)
            .where(BrowserSession.token_digest == token_digest(replacing), BrowserSession.ended_at.is_(None))
            .values(ended_at=now),
        )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    record = BrowserSession(
        token_digest=token_digest(token),
        user_id=user.id,
        tenant_id=tenant_id,
        auth_time=now,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=ttl_seconds),
    )
    db.add(record)
    db.flush()
    audit.record(
        db,
        "login.succeeded",
        tenant_id=tenant_id,
        actor=user.id,
        subject=record.id,
        origin=origin,
        details={"browser_session": True},
        commit=False,
    )
    db.commit()
    return token, record


def find(db: DbSession, token: str | None) -> SignedIn | None:
    """The live browser session behind a cookie token, if its user (and, once chosen, its
    membership) is still active; None for anything else."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    now = clock.now()
    row = db.execute(
        select(BrowserSession, User.email, Membership.role, Tenant.slug, Tenant.name)
        .join(User, User.id == BrowserSession.user_id)
        .outerjoin(
            Membership,
            (Membership.user_id == BrowserSession.user_id) & (Membership.tenant_id == BrowserSession.tenant_id),
        )
        .outerjoin(Tenant, Tenant.id == BrowserSession.tenant_id)
        .where(
            BrowserSession.token_digest == token_digest(token),
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > now,
            User.is_active.is_(True),
            or_(BrowserSession.tenant_id.is_(None), Membership.is_active.is_(True)),
        )
    ).first()
    if row is None:
        return None
    record, email, role, slug, name = row
    return SignedIn(
        record.id, record.user_id, email, record.tenant_id, role, record.auth_time, record.expires_at, slug, name
    )


def choose_tenant(db: DbSession, browser_session_id: str, user: User, tenant_id: str) -> None:
    """Settle the tenant of a session signed in before its user (of several tenants) chose one."""
    if not any(m.tenant_id == tenant_id and m.is_active for m in user.memberships):
        raise AccountDisabled("no active membership in that tenant")
    _execute(
        db,
        update(BrowserSession)
        .where(
            BrowserSession.id == browser_session_id,
            BrowserSession.user_id == user.id,
            BrowserSession.tenant_id.is_(None),
            BrowserSession.ended_at.is_(None),
        )
        .values(tenant_id=tenant_id),
    )
    db.commit()


def hold(db: DbSession, browser_session_id: str) -> bool:
    """Touch a live browser session, taking its row lock until the caller commits; False if it
    ended. A code issued or redeemed under this lock is seen by a logout that follows it, and
    none is issued or redeemed after a logout committed."""
    now = clock.now()
    touched = _execute(
        db,
        update(BrowserSession)
        .where(
            BrowserSession.id == browser_session_id,
            BrowserSession.ended_at.is_(None),
            BrowserSession.expires_at > now,
        )
        .values(last_used_at=now),
    )
    return touched.rowcount == 1


def end(db: DbSession, browser_session_id: str, origin: audit.Origin | None = None) -> list[str]:
    """Log a browser out: end its session and every session its apps started from it (their
    refresh tokens stop working, their access tokens are refused here). Returns those ids."""
    record = db.get(BrowserSession, browser_session_id)
    if record is None:
        return []
    ended = _execute(
        db,
        update(BrowserSession)
        .where(BrowserSession.id == browser_session_id, BrowserSession.ended_at.is_(None))
        .values(ended_at=clock.now()),
    )
    # After the UPDATE above, which waited for any code redemption holding the row (hold()):
    # what such a redemption started is visible now, and is ended with the rest.
    ended_sessions = sessions.revoke_sessions(db, Session.browser_session_id == browser_session_id)
    if ended.rowcount or ended_sessions:
        audit.record(
            db,
            "logout",
            tenant_id=record.tenant_id,
            actor=record.user_id,
            subject=record.id,
            origin=origin,
            details={"browser_session": True, "sessions_ended": len(ended_sessions)},
            commit=False,
        )
    db.commit()
    return ended_sessions


def prune(db: DbSession, now: datetime) -> int:
    """Forget browser sessions that ended or expired more than a day ago; returns how many."""
    cutoff = now - timedelta(days=1)
    result = _execute(
        db,
        delete(BrowserSession).where(or_(BrowserSession.expires_at < cutoff, BrowserSession.ended_at < cutoff)),
    )
    db.commit()
    return int(result.rowcount or 0)


def _execute(db: DbSession, statement: Any) -> CursorResult[Any]:
    return cast(CursorResult[Any], db.execute(statement.execution_options(synchronize_session=False)))
