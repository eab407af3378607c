"""Authorization codes (RFC 6749 §4.1, SPEC §11): issued, redeemed once, and what reuse does.

A code is 256 random bits, valid 60 seconds, stored only as its SHA-256 digest and bound to
the client, redirect URI, PKCE challenge, nonce, scopes, user, tenant and browser session
that the token request must match. Single use across workers and instances is one
conditional UPDATE (``used_at IS NULL``) in the transaction that also opens the session the
code is exchanged for and records it on the code: of two concurrent redemptions exactly one
wins, and the loser, whose UPDATE waited for the winner to commit, finds that session.

RFC 6749 §4.1.2 and RFC 9700 §4.5: a code presented again means somebody else holds it, so it
is refused (``invalid_grant``) **and** the session issued from it is ended, which refuses its
access tokens here and its refresh tokens everywhere (``authorization_code.reused``).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session as DbSession

from outter_auth import clock
from outter_auth.models import AuthorizationCode, Membership, Session, User
from outter_auth.services import audit, browser_sessions, sessions
from outter_auth.services.exceptions import DomainError

CODE_BYTES = 32  # 256 bits
CODE_TTL_SECONDS = 60
MAX_CODE_LENGTH = 128
# Used codes are kept this long after they expire, so that a late replay is still recognised.
KEEP_USED_FOR = timedelta(days=1)


class CodeRefused(DomainError):
    """The code is unknown, expired, spent, another client's, or what it was issued for ended."""

    def __init__(self, message: str = "invalid, expired or already used authorization code") -> None:
        super().__init__(message)


@dataclass(frozen=True)
class CodeBinding:
    """Everything an authorization code is bound to."""

    client_id: str
    user_id: str
    tenant_id: str
    browser_session_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    code_challenge: str
    code_challenge_method: str
    nonce: str | None
    auth_time: datetime


def new_code() -> str:
    return secrets.token_urlsafe(CODE_BYTES)


def code_digest(code: str) -> bytes:
    # 256 random bits need no slow hash (as refresh tokens and API keys).
    return hashlib.sha256(code.encode("utf-8", "surrogatepass")).digest()


def issue(db: DbSession, code: str, binding: CodeBinding) -> AuthorizationCode:
    """Store ``code`` (as its digest) with its binding, while its browser session is live."""
    if not browser_sessions.hold(db, binding.browser_session_id):
        db.rollback()
        raise CodeRefused("the browser session ended")
    now = clock.now()
    record = AuthorizationCode(
        code_digest=code_digest(code),
        client_id=binding.client_id,
        user_id=binding.user_id,
        tenant_id=binding.tenant_id,
        browser_session_id=binding.browser_session_id,
        redirect_uri=binding.redirect_uri,
        scope=" ".join(binding.scopes),
        code_challenge=binding.code_challenge,
        code_challenge_method=binding.code_challenge_method,
        nonce=binding.nonce,
        auth_time=binding.auth_time,
        created_at=now,
        expires_at=now + timedelta(seconds=CODE_TTL_SECONDS),
    )
    db.add(record)
    db.commit()
    return record


def find(db: DbSession, code: str, client_id: str, origin: audit.Origin | None = None) -> AuthorizationCode | None:
    """The unspent, unexpired code issued to ``client_id``; None otherwise. A code of this
    client that was spent already is a replay: what it issued is revoked (:class:`CodeRefused`)."""
    if not code or len(code) > MAX_CODE_LENGTH:
        return None
    record = db.scalars(select(AuthorizationCode).where(AuthorizationCode.code_digest == code_digest(code))).first()
    if record is None or record.client_id != client_id:  # another client's code is not burnt
        return None
    if record.used_at is not None:
        _reused(db, record, origin)
    if clock.now() >= record.expires_at:
        return None
    return record


def redeem(
    db: DbSession,
    record: AuthorizationCode,
    *,
    client_scopes: Iterable[str],
    catalogue: Iterable[str],
    session_ttl: int,
    origin: audit.Origin | None = None,
) -> sessions.ActiveSession:
    """Spend the code and open the session it is exchanged for, in one transaction."""
    now = clock.now()
    spent = _execute(
        db,
        update(AuthorizationCode)
        .where(
            AuthorizationCode.id == record.id,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > now,
        )
        .values(used_at=now),
    )
    if spent.rowcount != 1:  # spent a moment ago by another request, or it just expired
        db.rollback()
        if record.used_at is not None:  # reloaded after the rollback: the other one's
            _reused(db, record, origin)
        raise CodeRefused()
    membership = _active_membership(db, record.user_id, record.tenant_id)
    if (
        membership is None
        or record.browser_session_id is None
        or not browser_sessions.hold(db, record.browser_session_id)
    ):
        db.commit()  # the code stays spent
        raise CodeRefused("the sign-in behind this code ended")
    active = sessions.start_session(
        db,
        membership,
        record.client_id,
        session_ttl,
        client_scopes=client_scopes,
        requested_scopes=record.scope.split(),
        catalogue=catalogue,
        browser_session_id=record.browser_session_id,
        origin=origin,
        commit=False,
    )
    record.session_id = active.session.id
    db.commit()
    return active


def spend(db: DbSession, record: AuthorizationCode) -> bool:
    """Spend a code that opens no session: the console's own sign-in (SPEC §12) needs only the
    browser session the code proves, so nothing is issued for it. False if it was spent (or
    expired) a moment ago by another request."""
    spent = _execute(
        db,
        update(AuthorizationCode)
        .where(
            AuthorizationCode.id == record.id,
            AuthorizationCode.used_at.is_(None),
            AuthorizationCode.expires_at > clock.now(),
        )
        .values(used_at=clock.now()),
    )
    db.commit()
    return spent.rowcount == 1


def nonce_used(db: DbSession, client_id: str, nonce: str) -> bool:
    """Whether a code of this client already carried ``nonce`` (OpenID Connect Core §15.5.2)."""
    found = db.scalar(
        select(AuthorizationCode.id)
        .where(AuthorizationCode.client_id == client_id, AuthorizationCode.nonce == nonce)
        .limit(1)
    )
    return found is not None


def prune(db: DbSession, now: datetime) -> int:
    """Forget codes that expired more than a day ago; returns how many."""
    result = _execute(db, delete(AuthorizationCode).where(AuthorizationCode.expires_at < now - KEEP_USED_FOR))
    db.commit()
    return int(result.rowcount or 0)


def _reused(db: DbSession, record: AuthorizationCode, origin: audit.Origin | None) -> NoReturn:
    ended = sessions.revoke_sessions(db, Session.id == record.session_id) if record.session_id else []
    audit.record(
        db,
        "authorization_code.reused",
        tenant_id=record.tenant_id,
        subject=record.id,
        origin=origin,
        details={"client_id": record.client_id, "user_id": record.user_id, "sessions_ended": ended},
        commit=False,
    )
    db.commit()
    raise CodeRefused()


def _active_membership(db: DbSession, user_id: str, tenant_id: str) -> Membership | None:
    return db.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.user_id == user_id,
            Membership.tenant_id == tenant_id,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    ).first()


def _execute(db: DbSession, statement: Any) -> CursorResult[Any]:
    return cast(CursorResult[Any], db.execute(statement.execution_options(synchronize_session=False)))
