"""Password login and the sessions it starts (refresh-token families, SPEC §5)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from outter_auth import clock
from outter_auth.models import Membership, RefreshToken, Session, User
from outter_auth.scopes import scopes_for_role
from outter_auth.services import passwords
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.users import normalize_email

REFRESH_TOKEN_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class StartedSession:
    session: Session
    membership: Membership
    refresh_token: str  # the only time the raw token exists outside the client
    scopes: tuple[str, ...]


def authenticate_password(
    db: DbSession, email: str, password: str, tenant_ref: str | None, bcrypt_rounds: int
) -> Membership:
    """Check a password and pick the membership to act in.

    Unknown email and wrong password cost one bcrypt check each and raise the
    same error, so neither the answer nor its timing tells which it was. Only
    once the password is right do we say anything about the account itself.
    """
    user = (
        db.scalars(
            select(User)
            .options(joinedload(User.memberships).joinedload(Membership.tenant))
            .where(User.email == normalize_email(email))
        )
        .unique()
        .first()
    )
    if user is None:
        passwords.burn_time(bcrypt_rounds)
        raise InvalidCredentials()
    if not passwords.verify_password(password, user.password_hash):
        raise InvalidCredentials()
    if not user.is_active:
        raise AccountDisabled("this account is deactivated")
    active = [m for m in user.memberships if m.is_active]
    if tenant_ref is not None:
        chosen = [m for m in active if tenant_ref in (m.tenant_id, m.tenant.slug)]
        if not chosen:
            raise AccountDisabled("no active membership in that tenant")
        return chosen[0]
    if not active:
        raise AccountDisabled("this account has no active membership")
    if len(active) > 1:
        raise TenantRequired("this account belongs to several tenants: pass `tenant` (slug or id)")
    return active[0]


def start_session(db: DbSession, membership: Membership, client_id: str, lifetime_seconds: int) -> StartedSession:
    now = clock.now()
    scopes = tuple(sorted(scopes_for_role(membership.role)))
    session = Session(
        user_id=membership.user_id,
        tenant_id=membership.tenant_id,
        client_id=client_id,
        scope=" ".join(scopes),
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(seconds=lifetime_seconds),
    )
    refresh_token = secrets.token_urlsafe(REFRESH_TOKEN_BYTES)
    db.add(session)
    db.add(RefreshToken(session=session, token_digest=refresh_token_digest(refresh_token), created_at=now))
    db.commit()
    return StartedSession(session, membership, refresh_token, scopes)


def refresh_token_digest(token: str) -> bytes:
    # 256 random bits need no slow hash: SHA-256 is preimage-resistant enough (SPEC §5).
    return hashlib.sha256(token.encode("utf-8")).digest()
