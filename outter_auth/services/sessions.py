"""Sessions and refresh-token rotation with reuse detection (SPEC §5); sign-in is ``services.login``."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn, cast

from sqlalchemy import delete, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm.attributes import set_committed_value

from outter_auth import clock
from outter_auth.models import Membership, RefreshToken, RevokedAccessToken, Session, User
from outter_auth.scopes import user_scopes
from outter_auth.services import audit, changes
from outter_auth.services.exceptions import DomainError

REFRESH_TOKEN_BYTES = 32  # 256 bits


class RefreshFailed(DomainError):
    """The refresh token is unknown, spent, expired or its session ended."""

    def __init__(self, message: str = "invalid, expired or revoked refresh token") -> None:
        super().__init__(message)


class ScopeNotGranted(DomainError):
    """A refresh asked for a scope the session was never granted."""


@dataclass(frozen=True)
class ActiveSession:
    """A session with a fresh refresh token: the result of a login or a refresh."""

    session: Session
    membership: Membership
    refresh_token: str  # the only time the raw token exists outside the client
    scopes: tuple[str, ...]  # of the access token to issue with it


def start_session(
    db: DbSession,
    membership: Membership,
    client_id: str,
    lifetime_seconds: int,
    *,
    client_scopes: Iterable[str],
    requested_scopes: Iterable[str] | None = None,
    catalogue: Iterable[str] = (),
    browser_session_id: str | None = None,
    origin: audit.Origin | None = None,
    commit: bool = True,
) -> ActiveSession:
    """Open a session for ``membership`` through the client ``client_id``; its scopes are
    ``scopes.user_scopes`` of the request, the client's scopes and the member's role.

    ``commit=False`` leaves the transaction open for a caller that must commit the session
    together with its own change (a redeemed authorization code)."""
    now = clock.now()
    scopes = user_scopes(requested_scopes, client_scopes, membership.role, catalogue)
    session = Session(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        client_id=client_id,
        scope=" ".join(scopes),
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=lifetime_seconds),
        browser_session_id=browser_session_id,
    )
    db.add(session)
    db.flush()
    refresh_token = _add_refresh_token(db, session, now)
    audit.record(
        db,
        "login.succeeded",
        tenant_id=membership.tenant_id,
        actor=membership.user_id,
        subject=session.id,
        origin=origin,
        details={"client_id": client_id, **({"browser_session_id": browser_session_id} if browser_session_id else {})},
        commit=False,
    )
    if commit:
        db.commit()
    return ActiveSession(session, membership, refresh_token, scopes)


def rotate_refresh_token(
    db: DbSession,
    token: str,
    *,
    client_id: str,
    client_scopes: Iterable[str],
    idle_timeout_seconds: int,
    requested_scopes: list[str] | None = None,
    catalogue: Iterable[str] = (),
    origin: audit.Origin | None = None,
) -> ActiveSession:
    """Spend ``token`` and hand out its successor in the same session; the new access token
    gets the session's scopes (or the requested part of them) that the client and the
    member's role still allow (``scopes.user_scopes``).

    Single use is enforced by one conditional UPDATE (``used_at IS NULL``), so of
    any number of concurrent refreshes with one token exactly one wins. A token
    presented again, or a loser of that race, revokes the whole session: it
    means two parties hold the token, and we cannot tell which is the thief.
    """
    refresh, session = _refreshable(db, token, client_id, idle_timeout_seconds, origin)
    granted = set(session.scope.split())
    if requested_scopes is not None and not set(requested_scopes) <= granted:
        raise ScopeNotGranted("the requested scope exceeds the scope of the session")
    membership = _active_membership(db, session)
    if membership is None:
        end_session(db, session.id)
        raise RefreshFailed("account or membership deactivated")
    now = clock.now()
    _hold_live_session(db, session, now)
    _spend(db, session, refresh, now, origin)
    successor = _add_refresh_token(db, session, now)
    db.commit()
    wanted = requested_scopes if requested_scopes is not None else granted
    scopes = user_scopes(wanted, client_scopes, membership.role, catalogue)
    return ActiveSession(session, membership, successor, scopes)


def _refreshable(
    db: DbSession, token: str, client_id: str, idle_timeout_seconds: int, origin: audit.Origin | None
) -> tuple[RefreshToken, Session]:
    """The unspent token and its live session, or :class:`RefreshFailed` (a spent token ends
    the session: reuse; an idle or expired session ends too)."""
    found = find_refresh_token(db, token)
    if found is None or found[1].client_id != client_id:  # a foreign client's token is not burnt
        raise RefreshFailed()
    refresh, session = found
    now = clock.now()
    if session.revoked_at is not None:
        raise RefreshFailed()
    if refresh.used_at is not None:
        _reuse_detected(db, session, refresh, now, origin)
    if now >= session.expires_at or now - session.last_used_at >= timedelta(seconds=idle_timeout_seconds):
        end_session(db, session.id)
        raise RefreshFailed("session expired")
    return refresh, session


def _hold_live_session(db: DbSession, session: Session, now: datetime) -> None:
    """Touch the session row, if it is still live, and so hold its lock until we commit.

    A logout (``end_session``) racing this refresh then either committed first, and the
    conditional UPDATE finds the session revoked (PostgreSQL re-checks the condition once
    the lock is released), or waits for our commit: no access token is minted for a
    session after its logout committed, even by a refresh that read it as live.
    """
    touched = _execute_update(
        db,
        update(Session)
        .where(Session.id == session.id, Session.revoked_at.is_(None))
        .values(last_used_at=now)
        .execution_options(synchronize_session=False),
    )
    if touched.rowcount != 1:
        db.rollback()
        raise RefreshFailed()
    set_committed_value(session, "last_used_at", now)


def _spend(db: DbSession, session: Session, refresh: RefreshToken, now: datetime, origin: audit.Origin | None) -> None:
    spent = _execute_update(
        db,
        update(RefreshToken)
        .where(RefreshToken.id == refresh.id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False),
    )
    if spent.rowcount != 1:  # another request spent it a moment ago
        db.rollback()
        _reuse_detected(db, session, refresh, now, origin)


def find_refresh_token(db: DbSession, token: str) -> tuple[RefreshToken, Session] | None:
    if not token or len(token) > 512:
        return None
    row = db.execute(
        select(RefreshToken, Session)
        .join(Session, Session.id == RefreshToken.session_id)
        .where(RefreshToken.token_digest == refresh_token_digest(token))
    ).first()
    return (row[0], row[1]) if row else None


def end_session(db: DbSession, session_id: str) -> bool:
    """Revoke a session and so every refresh token of its family; True if it was live.
    Its access tokens are refused from then on (``check`` hears of it through the change)."""
    ended = _execute_update(
        db,
        update(Session)
        .where(Session.id == session_id, Session.revoked_at.is_(None))
        .values(revoked_at=clock.now())
        .execution_options(synchronize_session=False),
    )
    changes.announce(db, "session", session_id)
    db.commit()
    return bool(ended.rowcount)


def revoke_sessions(db: DbSession, *criteria: Any) -> list[str]:
    """Revoke every live session matching ``criteria`` (e.g. ``Session.browser_session_id == x``)
    in the caller's transaction, announcing each; returns their ids. The caller commits."""
    ids = list(db.scalars(select(Session.id).where(Session.revoked_at.is_(None), *criteria)))
    if ids:
        _execute_update(
            db,
            update(Session)
            .where(Session.id.in_(ids), Session.revoked_at.is_(None))
            .values(revoked_at=clock.now())
            .execution_options(synchronize_session=False),
        )
    for session_id in ids:
        changes.announce(db, "session", session_id)
    return ids


def logout(db: DbSession, session_id: str, tenant_id: str, user_id: str, origin: audit.Origin | None = None) -> None:
    audit.record(db, "logout", tenant_id=tenant_id, actor=user_id, subject=session_id, origin=origin, commit=False)
    end_session(db, session_id)


def revoke_access_token(db: DbSession, jti: str, expires_at: datetime) -> None:
    """Deny an access token's ``jti`` until it would have expired anyway."""
    if db.get(RevokedAccessToken, jti) is not None:
        return
    db.add(RevokedAccessToken(jti=jti, expires_at=expires_at))
    changes.announce(db, "access_token", jti)
    try:
        db.commit()
    except IntegrityError:  # revoked concurrently: same outcome
        db.rollback()


def prune_revoked_access_tokens(db: DbSession) -> int:
    """Forget revoked jtis whose tokens have expired anyway; returns how many."""
    result = _execute_update(db, delete(RevokedAccessToken).where(RevokedAccessToken.expires_at < clock.now()))
    db.commit()
    return int(result.rowcount or 0)


def is_access_token_revoked(db: DbSession, jti: str) -> bool:
    return db.get(RevokedAccessToken, jti) is not None


def refresh_token_digest(token: str) -> bytes:
    # 256 random bits need no slow hash: SHA-256 is preimage-resistant enough (SPEC §5).
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def _execute_update(db: DbSession, statement: Any) -> CursorResult[Any]:
    """An UPDATE whose ``rowcount`` we read (the single-use checks depend on it)."""
    return cast(CursorResult[Any], db.execute(statement))


def _add_refresh_token(db: DbSession, session: Session, now: datetime) -> str:
    token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    db.add(RefreshToken(session_id=session.id, token_digest=refresh_token_digest(token), created_at=now))
    return token


def session_member(db: DbSession, session_id: str, user_id: str, tenant_id: str) -> tuple[str, str] | None:
    """``(role, email)`` of the member behind a user token while its session is live and
    the user and membership are active; None once any of them ended."""
    row = db.execute(
        select(Membership.role, User.email)
        .join(User, User.id == Membership.user_id)
        .join(Session, Session.user_id == Membership.user_id)
        .where(
            Membership.user_id == user_id,
            Membership.tenant_id == tenant_id,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
            Session.id == session_id,
            Session.tenant_id == Membership.tenant_id,
            Session.revoked_at.is_(None),
        )
    ).first()
    return (row[0], row[1]) if row is not None else None


def membership_is_active(db: DbSession, session: Session) -> bool:
    """The session's user and membership are both still active."""
    return _active_membership(db, session) is not None


def is_refreshable(db: DbSession, session: Session, idle_timeout_seconds: int) -> bool:
    """Whether a refresh of ``session`` would succeed now (introspection asks this)."""
    now = clock.now()
    return (
        session.revoked_at is None
        and now < session.expires_at
        and now - session.last_used_at < timedelta(seconds=idle_timeout_seconds)
        and membership_is_active(db, session)
    )


def _active_membership(db: DbSession, session: Session) -> Membership | None:
    return db.scalars(
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.user_id == session.user_id,
            Membership.tenant_id == session.tenant_id,
            Membership.is_active.is_(True),
            User.is_active.is_(True),
        )
    ).first()


def _reuse_detected(
    db: DbSession, session: Session, refresh: RefreshToken, now: datetime, origin: audit.Origin | None
) -> NoReturn:
    end_session(db, session.id)
    audit.record(
        db,
        "refresh_token.reused",
        tenant_id=session.tenant_id,
        subject=session.id,
        origin=origin,
        details={"user_id": session.user_id, "client_id": session.client_id, "refresh_token_id": refresh.id},
    )
    raise RefreshFailed()
