"""Users and memberships; tenant admins only ever see their own tenant's members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from outter_auth import clock
from outter_auth.models import ROLES, BrowserSession, Membership, User
from outter_auth.models import Session as LoginSession
from outter_auth.services import audit, changes, lockout, passwords
from outter_auth.services.ceilings import MACHINE, OPERATOR, Caller
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(User.email == normalize_email(email))).first()


def create_member(
    db: Session, caller: Caller, email: str, password: str | None, role: str, bcrypt_rounds: int
) -> Membership:
    """Make ``email`` a member of the caller's tenant, creating the user with ``password``
    if there is none yet.

    An email known in another tenant gets the same answer as a new one (no existence
    oracle across tenants), but its password is left as it is: one tenant must never
    set another tenant's user's password. The user signs in with their own password and
    picks the tenant. Only an email that is a member of this tenant already is a conflict.
    """
    _check_role(role)
    _check_grant(caller.role, role)
    user = find_user(db, email)
    if user is None:
        if password is None:
            raise InvalidInput("a password is required for a new user", "password")
        try:
            password_hash = passwords.hash_password(password, bcrypt_rounds)
        except passwords.WeakPassword as error:
            raise InvalidInput(str(error), "password") from None
        user = User(email=normalize_email(email), password_hash=password_hash)
        db.add(user)
        db.flush()
    elif db.get(Membership, (user.id, caller.tenant_id)) is not None:
        raise Conflict("this user is a member of the tenant already")
    else:
        # Same cost as hashing a new user's password: the answer's timing tells nothing either.
        passwords.burn_time(bcrypt_rounds)
    membership = Membership(user=user, tenant_id=caller.tenant_id, role=role)
    db.add(membership)
    _membership_changed(db, caller, membership, {"added": True, "role": role})
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict("this user is a member of the tenant already") from None
    return membership


def members_query(tenant_id: str) -> Select[Any]:
    return (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.created_at, Membership.user_id)
    )


def locked_user_ids(db: Session, memberships: list[Membership]) -> set[str]:
    """The members whose login is locked now (from some address, or from all of them):
    those an unlock would help."""
    by_account = {lockout.account_key(m.user.email): m.user_id for m in memberships}
    return {by_account[account] for account in lockout.locked_accounts(db, list(by_account), clock.now())}


def last_sign_ins(db: Session, tenant_id: str, user_ids: list[str]) -> dict[str, Any]:
    """When each user last signed in to this tenant, as far as the sessions still kept say:
    a login through the API or a client (``sessions``) or at the hosted sign-in page
    (``browser_sessions``). Users with no session kept are left out."""
    if not user_ids:
        return {}
    latest: dict[str, Any] = {}
    for user_column, tenant_column, at in (
        (LoginSession.user_id, LoginSession.tenant_id, LoginSession.created_at),
        (BrowserSession.user_id, BrowserSession.tenant_id, BrowserSession.auth_time),
    ):
        rows = db.execute(
            select(user_column, func.max(at))
            .where(tenant_column == tenant_id, user_column.in_(user_ids))
            .group_by(user_column)
        ).all()
        for user_id, when in rows:
            if when is not None and (user_id not in latest or when > latest[user_id]):
                latest[user_id] = when
    return latest


def get_member(db: Session, tenant_id: str, user_id: str) -> Membership:
    membership = db.scalars(
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.tenant_id == tenant_id, Membership.user_id == user_id)
    ).first()
    if membership is None:
        raise NotFound("user not found")
    return membership


def update_member(
    db: Session, caller: Caller, user_id: str, *, role: str | None = None, is_active: bool | None = None
) -> Membership:
    """Change a member's role or deactivate/reactivate them in this tenant.

    Owners are managed only by owners, machines manage only members, and the last
    active owner cannot be demoted or deactivated, so a tenant never locks itself out.
    """
    membership = get_member(db, caller.tenant_id, user_id)
    _check_update(db, caller, membership, role, is_active)
    changed: dict[str, Any] = {}
    if role is not None and role != membership.role:
        changed["role"] = [membership.role, role]
        membership.role = role
    if is_active is not None and is_active != membership.is_active:
        changed["is_active"] = [membership.is_active, is_active]
        membership.is_active = is_active
    if changed:
        _membership_changed(db, caller, membership, changed)
    db.commit()
    return membership


def _check_update(
    db: Session, caller: Caller, membership: Membership, role: str | None, is_active: bool | None
) -> None:
    if role is not None:
        _check_role(role)
        _check_grant(caller.role, role)
    _check_may_manage(caller.role, membership)
    if is_active is False and membership.user_id == caller.actor:
        raise PermissionDenied("you cannot deactivate yourself")
    stays_owner = (role or membership.role) == "owner" and is_active is not False
    if membership.role == "owner" and membership.is_active and not stays_owner:
        if _active_owner_count(db, caller.tenant_id) <= 1:
            raise Conflict("the tenant must keep at least one active owner")


def _membership_changed(db: Session, caller: Caller, membership: Membership, details: dict[str, Any]) -> None:
    """Audit the change, and announce the user: tokens of the membership act with the new
    role (or not at all) everywhere once it commits."""
    user_id = membership.user_id or membership.user.id
    changes.announce(db, "user", user_id)
    audit.record(
        db,
        "membership.changed",
        tenant_id=membership.tenant_id,
        actor=caller.actor,
        subject=user_id,
        origin=caller.origin,
        details=details,
        commit=False,
    )


def unlock_member(db: Session, caller: Caller, user_id: str) -> Membership:
    """Lift a login lockout (and forget the failures) of a user of this tenant."""
    membership = get_member(db, caller.tenant_id, user_id)
    _check_may_manage(caller.role, membership)
    _unlock(db, membership.user.email, [caller.tenant_id], user_id, caller.actor, caller.origin)
    return membership


def unlock_email(db: Session, email: str, *, actor_id: str) -> str:
    """Lift the lockout of ``email``, known or not (the operator's way); every tenant of its
    user, if any, hears of it. Answers the normalised email."""
    user = find_user(db, email)
    tenant_ids = [m.tenant_id for m in user.memberships] if user else []
    _unlock(db, email, tenant_ids, user.id if user else None, actor_id, None)
    return normalize_email(email)


def _unlock(
    db: Session,
    email: str,
    tenant_ids: list[str],
    user_id: str | None,
    actor_id: str,
    origin: audit.Origin | None,
) -> None:
    lockout.clear(db, lockout.account_key(normalize_email(email)))
    for tenant_id in tenant_ids:
        audit.record(
            db, "account.unlocked", tenant_id=tenant_id, actor=actor_id, subject=user_id, origin=origin, commit=False
        )
    db.commit()


def _check_may_manage(actor_role: str | None, membership: Membership) -> None:
    if actor_role is OPERATOR:
        return
    if actor_role == MACHINE and membership.role != "member":
        raise PermissionDenied("an API key or client can only manage members")
    if membership.role == "owner" and actor_role != "owner":
        raise PermissionDenied("only an owner can change an owner or grant the owner role")


def _active_owner_count(db: Session, tenant_id: str) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.tenant_id == tenant_id, Membership.role == "owner", Membership.is_active.is_(True))
        )
        or 0
    )


def _check_grant(actor_role: str | None, role: str) -> None:
    """No credential grants more power than it has (SPEC §3). ``actor_role`` None is the
    operator's CLI; ``MACHINE`` an API key or OAuth client, which holds no role at all."""
    if actor_role is OPERATOR:
        return
    if actor_role == MACHINE and role != "member":
        raise PermissionDenied("an API key or client can only create or keep plain members")
    if role == "owner" and actor_role != "owner":
        raise PermissionDenied("only an owner can grant the owner role")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "role")
