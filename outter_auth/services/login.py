"""Password sign-in: one path for ``/api/auth/login``, the password grant and the hosted
login page, with the same lockout, audit events and constant-time answers.

:func:`authenticate_password` is :func:`verify_password` then :func:`choose_membership`; the
login page calls those two itself, because a user of several tenants who typed the right
password is signed in first and picks the tenant on the next page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import select
from sqlalchemy.orm import Session as DbSession
from sqlalchemy.orm import joinedload

from outter_auth import clock, metrics
from outter_auth.models import Membership, User
from outter_auth.services import audit, lockout, passwords
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.users import normalize_email


@dataclass(frozen=True)
class LoginPolicy:
    """How passwords are checked: bcrypt cost and the lockout (None: off)."""

    bcrypt_rounds: int
    lockout: lockout.LockoutPolicy | None = None

    @property
    def locks(self) -> bool:
        return self.lockout is not None and self.lockout.enabled


def authenticate_password(
    db: DbSession,
    email: str,
    password: str,
    policy: LoginPolicy,
    *,
    tenant_ref: str | None = None,
    client_tenant_id: str | None = None,
    origin: audit.Origin | None = None,
) -> Membership:
    """Check a password and pick the membership to act in.

    ``client_tenant_id`` confines a tenant's own client to its tenant.
    """
    user = verify_password(db, email, password, policy, origin=origin)
    return choose_membership(user, tenant_ref, client_tenant_id)


def verify_password(
    db: DbSession, email: str, password: str, policy: LoginPolicy, *, origin: audit.Origin | None = None
) -> User:
    """The user whose email and password these are, or :class:`InvalidCredentials`.

    Unknown email and wrong password cost one bcrypt check each and raise the
    same error, so neither the answer nor its timing tells which it was. Only
    once the password is right do we say anything about the account itself.
    With a lockout, an email locked for the caller's address (or for every address) is
    refused before any password check (:class:`lockout.AccountLocked`), known or not,
    and failures count towards both locks.
    """
    account = lockout.account_key(normalize_email(email))
    source = policy.lockout.source(origin.ip if origin else None) if policy.lockout else lockout.ACCOUNT_WIDE
    if policy.locks:
        lockout.check_not_locked(db, account, source, clock.now())
    user = _find_user(db, email)
    if user is None:
        passwords.burn_time(policy.bcrypt_rounds)
        _failed(db, policy, account, source, None, origin, "unknown_email")
    elif not passwords.verify_password(password, user.password_hash):
        _failed(db, policy, account, source, user, origin, "wrong_password")
    if policy.locks and lockout.clear_address(db, account, source):
        # Committed now: the login may still end in a 400 or 403 after this, and the right
        # password resets this address's count all the same.
        db.commit()
    return user


def choose_membership(user: User, tenant_ref: str | None, client_tenant_id: str | None = None) -> Membership:
    """The active membership a signed-in user acts in (``tenant_ref``: slug or id)."""
    active = active_memberships(user, client_tenant_id)
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


def active_memberships(user: User, client_tenant_id: str | None = None) -> list[Membership]:
    """The memberships a user may act in (a tenant's own first-party client: that tenant only)."""
    if not user.is_active:
        raise AccountDisabled("this account is deactivated")
    return [m for m in user.memberships if m.is_active and client_tenant_id in (None, m.tenant_id)]


def _find_user(db: DbSession, email: str) -> User | None:
    if "\x00" in email:  # PostgreSQL refuses NUL in text: no such user, at the same cost
        return None
    return (
        db.scalars(
            select(User)
            .options(joinedload(User.memberships).joinedload(Membership.tenant))
            .where(User.email == normalize_email(email))
        )
        .unique()
        .first()
    )


def _failed(
    db: DbSession,
    policy: LoginPolicy,
    account: str,
    source: str,
    user: User | None,
    origin: audit.Origin | None,
    reason: str,
) -> NoReturn:
    """Count and audit a failed login, then raise :class:`InvalidCredentials`."""
    tenants = [m.tenant_id for m in user.memberships] if user is not None else []
    subject = user.id if user is not None else None
    if policy.lockout is not None and policy.lockout.enabled:
        _count_failure(db, policy.lockout, account, source, tenants, subject, origin)
    audit.record(
        db,
        "login.failed",
        tenant_id=tenants[0] if len(tenants) == 1 else None,
        subject=subject,
        origin=origin,
        details={"reason": reason},
    )
    metrics.login_failure(reason)
    raise InvalidCredentials()


def _count_failure(
    db: DbSession,
    policy: lockout.LockoutPolicy,
    account: str,
    source: str,
    tenants: list[str],
    subject: str | None,
    origin: audit.Origin | None,
) -> None:
    """One more failure; when it locks the address out or the whole account, every tenant
    of the user hears of it. ``scope`` says which; the address is the event's ``ip``."""
    for lock in lockout.record_failure(db, account, source, policy, clock.now()):
        metrics.lockout()
        targets: list[str | None] = [*tenants] or [None]
        for tenant_id in targets:
            audit.record(
                db,
                "account.locked",
                tenant_id=tenant_id,
                subject=subject,
                origin=origin,
                details={"scope": lock.scope, "failures": lock.failures, "locked_until": lock.locked_until.isoformat()},
                commit=False,
            )
