"""Users and memberships; tenant admins only ever see their own tenant's members."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from outter_auth.models import ROLES, Membership, User
from outter_auth.services import audit, lockout, passwords
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied

MACHINE = "machine"  # the actor_role of API keys and OAuth clients


def normalize_email(email: str) -> str:
    return email.strip().lower()


def find_user(db: Session, email: str) -> User | None:
    return db.scalars(select(User).where(User.email == normalize_email(email))).first()


def create_member(
    db: Session,
    tenant_id: str,
    email: str,
    password: str | None,
    role: str,
    bcrypt_rounds: int,
    *,
    actor_role: str | None = None,
    actor_id: str | None = None,
    allow_existing_user: bool = False,
    origin: audit.Origin | None = None,
) -> Membership:
    """Create a user in ``tenant_id`` with an initial password.

    An email that exists already is a conflict for tenant admins: adding it would
    let one tenant set another tenant's user's password. The operator's CLI may
    add an existing user to another tenant (``allow_existing_user``); the
    password is then left as it is.
    """
    _check_role(role)
    _check_grant(actor_role, role)
    user = find_user(db, email)
    if user is not None and not allow_existing_user:
        raise Conflict("a user with this email exists already")
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
    elif db.get(Membership, (user.id, tenant_id)) is not None:
        raise Conflict("this user is a member of the tenant already")
    membership = Membership(user=user, tenant_id=tenant_id, role=role)
    db.add(membership)
    _membership_changed(db, membership, actor_id, origin, {"added": True, "role": role})
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict("a user with this email exists already") from None
    return membership


def members_query(tenant_id: str) -> Select[Any]:
    return (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.tenant_id == tenant_id)
        .order_by(Membership.created_at, Membership.user_id)
    )


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
    db: Session,
    tenant_id: str,
    user_id: str,
    *,
    actor_id: str,
    actor_role: str,
    role: str | None = None,
    is_active: bool | None = None,
    origin: audit.Origin | None = None,
) -> Membership:
    """Change a member's role or deactivate/reactivate them in this tenant.

    Owners are managed only by owners, machines manage only members, and the last
    active owner cannot be demoted or deactivated, so a tenant never locks itself out.
    """
    membership = get_member(db, tenant_id, user_id)
    if role is not None:
        _check_role(role)
        _check_grant(actor_role, role)
    _check_may_manage(actor_role, membership)
    if is_active is False and user_id == actor_id:
        raise PermissionDenied("you cannot deactivate yourself")
    stays_owner = (role or membership.role) == "owner" and is_active is not False
    if membership.role == "owner" and membership.is_active and not stays_owner:
        if _active_owner_count(db, tenant_id) <= 1:
            raise Conflict("the tenant must keep at least one active owner")
    changes: dict[str, Any] = {}
    if role is not None and role != membership.role:
        changes["role"] = [membership.role, role]
        membership.role = role
    if is_active is not None and is_active != membership.is_active:
        changes["is_active"] = [membership.is_active, is_active]
        membership.is_active = is_active
    if changes:
        _membership_changed(db, membership, actor_id, origin, changes)
    db.commit()
    return membership


def _membership_changed(
    db: Session, membership: Membership, actor_id: str | None, origin: audit.Origin | None, details: dict[str, Any]
) -> None:
    audit.record(
        db,
        "membership.changed",
        tenant_id=membership.tenant_id,
        actor=actor_id or "cli",
        subject=membership.user_id or membership.user.id,
        origin=origin,
        details=details,
        commit=False,
    )


def unlock_member(
    db: Session,
    tenant_id: str,
    user_id: str,
    *,
    actor_id: str,
    actor_role: str,
    origin: audit.Origin | None = None,
) -> Membership:
    """Lift a login lockout (and forget the failures) of a user of this tenant."""
    membership = get_member(db, tenant_id, user_id)
    _check_may_manage(actor_role, membership)
    _unlock(db, membership.user.email, [tenant_id], user_id, actor_id, origin)
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


def _check_may_manage(actor_role: str, membership: Membership) -> None:
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
    if actor_role is None:
        return
    if actor_role == MACHINE and role != "member":
        raise PermissionDenied("an API key or client can only create or keep plain members")
    if role == "owner" and actor_role != "owner":
        raise PermissionDenied("only an owner can grant the owner role")


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}", "role")
