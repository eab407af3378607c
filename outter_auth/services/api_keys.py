"""API keys: create (shown once), list, update, rotate with grace, revoke, verify.

Only a digest of a key is stored: HMAC-SHA256 under ``OUTTER_API_KEY_PEPPER`` (or
SHA-256 without one), looked up through a unique index. Keys carry 190 bits of
entropy, so a fast hash is right (SPEC §6). Each digest records which pepper made
it (a fingerprint, ``pepper_id``): after a pepper rotation the old pepper stays in
``OUTTER_API_KEY_OLD_PEPPERS`` and a key found under it is re-digested on use.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from outter_auth import clock
from outter_auth.models import ApiKey, Project
from outter_auth.scopes import MANAGEMENT_SCOPES, InvalidScopes, check_scopes
from outter_auth.services import api_key_format, audit
from outter_auth.services.digests import secret_digest
from outter_auth.services.exceptions import DomainError, InvalidInput, NotFound, PermissionDenied

MAX_GRACE = timedelta(days=30)


class ApiKeyRefused(DomainError):
    """The presented key does not authenticate; ``code`` is SPEC §7's refusal code."""

    def __init__(self, code: str) -> None:
        super().__init__({"malformed": "malformed API key"}.get(code, f"{code} API key"))
        self.code = code


class EscalationRefused(PermissionDenied):
    """The caller tried to make or change a key with more power than it has itself."""


@dataclass(frozen=True)
class Peppers:
    current: str
    old: tuple[str, ...] = ()

    @staticmethod
    def fingerprint(pepper: str) -> str:
        if not pepper:
            return "none"
        return hashlib.sha256(b"outter-api-key-pepper:" + pepper.encode()).hexdigest()[:16]

    def all(self) -> list[str]:
        return [self.current, *self.old]


@dataclass(frozen=True)
class Limits:
    """The power of the caller: a key it makes or changes must lie within it.

    ``None`` means unbounded (an owner or admin holds the whole tenant)."""

    scopes: frozenset[str] | None = None
    environment: str | None = None
    project_id: str | None = None
    expires_at: datetime | None = None
    # Owners and admins hold every platform scope of their tenant, but their token may be
    # narrowed: then only the management scopes in ``scopes`` bound what they can grant.
    platform_scopes_free: bool = False

    def refusal(
        self, scopes: Iterable[str], environment: str, project_id: str | None, expires_at: datetime | None
    ) -> str | None:
        """Why a key of this shape would exceed the caller, or None if it does not."""
        bounded = set(scopes) & set(MANAGEMENT_SCOPES) if self.platform_scopes_free else set(scopes)
        if self.scopes is not None and not bounded <= self.scopes:
            extra = " ".join(sorted(bounded - self.scopes))
            return f"cannot grant scopes the caller does not hold: {extra}"
        if self.environment is not None and environment != self.environment:
            return f"the caller may only manage {self.environment} keys"
        if self.project_id is not None and project_id != self.project_id:
            return "the caller may only manage keys of its own project"
        if self.expires_at is not None and (expires_at is None or expires_at > self.expires_at):
            return "a key cannot outlive the key that manages it"
        return None


def create_key(
    db: Session,
    tenant_id: str,
    *,
    name: str,
    scopes: Iterable[str],
    environment: str,
    created_by: str,
    peppers: Peppers,
    project_id: str | None = None,
    expires_at: datetime | None = None,
    catalogue: Iterable[str] = (),
    limits: Limits = Limits(),
    origin: audit.Origin | None = None,
    rotated_from: str | None = None,
) -> tuple[ApiKey, str]:
    """Make a key; returns it with the raw key, the only time the raw key exists."""
    scopes = _scopes(scopes, catalogue)
    if environment not in api_key_format.ENVIRONMENTS:
        raise InvalidInput("environment must be live or test", "environment")
    if project_id is not None and _project(db, tenant_id, project_id) is None:
        raise InvalidInput("no such project in this tenant", "project_id")
    if expires_at is not None and expires_at <= clock.now():
        raise InvalidInput("expiry must be in the future", "expires_at")
    _within_limits(
        db, tenant_id, created_by, limits, scopes, environment, project_id, expires_at, origin, subject=rotated_from
    )
    raw = api_key_format.generate(environment)
    parsed = api_key_format.parse(raw)
    key = ApiKey(
        tenant_id=tenant_id,
        project_id=project_id,
        name=name,
        environment=environment,
        scopes=scopes,
        digest=secret_digest(raw, peppers.current),
        pepper_id=Peppers.fingerprint(peppers.current),
        prefix=parsed.display_prefix,
        last4=parsed.last4,
        created_by=created_by,
        expires_at=expires_at,
        rotated_from=rotated_from,
    )
    db.add(key)
    db.flush()
    event = "api_key.rotated" if rotated_from else "api_key.created"
    audit.record(
        db,
        event,
        tenant_id=tenant_id,
        actor=created_by,
        subject=key.id,
        origin=origin,
        commit=False,
        details={
            "scopes": scopes,
            "environment": environment,
            "project_id": project_id,
            **({"rotated_from": rotated_from} if rotated_from else {}),
        },
    )
    db.commit()
    return key, raw


def keys_query(
    tenant_id: str, *, environment: str | None = None, project_id: str | None = None, include_revoked: bool = False
) -> Select[Any]:
    query = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
    if environment is not None:
        query = query.where(ApiKey.environment == environment)
    if project_id is not None:
        query = query.where(ApiKey.project_id == project_id)
    if not include_revoked:
        query = query.where(or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > clock.now()))
    return query.order_by(ApiKey.created_at, ApiKey.id)


def get_key(db: Session, tenant_id: str, key_id: str) -> ApiKey:
    key = db.scalars(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id)).first()
    if key is None:
        raise NotFound("API key not found")
    return key


def update_key(
    db: Session,
    tenant_id: str,
    key_id: str,
    *,
    actor: str,
    changes: dict[str, Any],
    catalogue: Iterable[str] = (),
    limits: Limits = Limits(),
    origin: audit.Origin | None = None,
) -> ApiKey:
    key = _writable(db, tenant_id, key_id, actor, limits, origin)
    if "scopes" in changes:
        changes["scopes"] = _scopes(changes["scopes"], catalogue)
    if changes.get("expires_at") is not None and changes["expires_at"] <= clock.now():
        raise InvalidInput("expiry must be in the future", "expires_at")
    after = {"scopes": key.scopes, "expires_at": key.expires_at, **changes}
    _within_limits(
        db,
        tenant_id,
        actor,
        limits,
        after["scopes"],
        key.environment,
        key.project_id,
        after["expires_at"],
        origin,
        subject=key.id,
    )
    for name, value in changes.items():
        setattr(key, name, value)
    audit.record(
        db,
        "api_key.updated",
        tenant_id=tenant_id,
        actor=actor,
        subject=key.id,
        origin=origin,
        commit=False,
        details={"changed": sorted(changes), **({"scopes": key.scopes} if "scopes" in changes else {})},
    )
    db.commit()
    return key


def revoke_key(
    db: Session,
    tenant_id: str,
    key_id: str,
    *,
    actor: str,
    limits: Limits = Limits(),
    origin: audit.Origin | None = None,
) -> ApiKey:
    """Revoke now; the record stays. Revoking a revoked key changes nothing."""
    key = _writable(db, tenant_id, key_id, actor, limits, origin)
    now = clock.now()
    if key.revoked_at is None or key.revoked_at > now:
        key.revoked_at = now
        audit.record(
            db, "api_key.revoked", tenant_id=tenant_id, actor=actor, subject=key.id, origin=origin, commit=False
        )
    db.commit()
    return key


def rotate_key(
    db: Session,
    tenant_id: str,
    key_id: str,
    *,
    grace_seconds: int,
    actor: str,
    peppers: Peppers,
    limits: Limits = Limits(),
    origin: audit.Origin | None = None,
) -> tuple[ApiKey, str]:
    """A new key with the same grants; the old one works until ``now + grace``."""
    if not 0 <= grace_seconds <= MAX_GRACE.total_seconds():
        raise InvalidInput("grace_period_seconds must be between 0 and 2592000 (30 days)", "grace_period_seconds")
    old = _writable(db, tenant_id, key_id, actor, limits, origin)
    now = clock.now()
    if old.status(now) != "active":
        raise InvalidInput(f"cannot rotate a {old.status(now)} key")
    ends = now + timedelta(seconds=grace_seconds)
    old.revoked_at = min(old.revoked_at, ends) if old.revoked_at else ends
    return create_key(
        db,
        tenant_id,
        name=old.name,
        scopes=old.scopes,
        environment=old.environment,
        created_by=actor,
        peppers=peppers,
        project_id=old.project_id,
        expires_at=old.expires_at,
        limits=limits,
        origin=origin,
        rotated_from=old.id,
    )


def verify(db: Session, raw: object, peppers: Peppers, now: datetime | None = None) -> ApiKey:
    """The active key for ``raw``, or :class:`ApiKeyRefused` with SPEC §7's code."""
    try:
        parsed = api_key_format.parse(raw)
    except api_key_format.MalformedApiKey:
        raise ApiKeyRefused("malformed") from None
    key = find_by_raw(db, parsed.raw, peppers)
    if key is None:
        raise ApiKeyRefused("unknown")
    status = key.status(now or clock.now())
    if status != "active":
        raise ApiKeyRefused(status)
    return key


def find_by_raw(db: Session, raw: str, peppers: Peppers) -> ApiKey | None:
    for pepper in peppers.all():
        digest = secret_digest(raw, pepper)
        key = db.scalars(select(ApiKey).where(ApiKey.digest == digest)).first()
        if key is not None and hmac.compare_digest(key.digest, digest):
            if pepper != peppers.current:  # pepper rotation: move it to the current pepper
                key.digest = secret_digest(raw, peppers.current)
                key.pepper_id = Peppers.fingerprint(peppers.current)
                db.commit()
            return key
    return None


def _writable(
    db: Session, tenant_id: str, key_id: str, actor: str, limits: Limits, origin: audit.Origin | None
) -> ApiKey:
    """The key, if the caller may change it: a key beyond the caller's power is off limits."""
    key = get_key(db, tenant_id, key_id)
    _within_limits(
        db,
        tenant_id,
        actor,
        limits,
        key.scopes,
        key.environment,
        key.project_id,
        None,
        origin,
        check_expiry=False,
        subject=key.id,
    )
    return key


def _within_limits(
    db: Session,
    tenant_id: str,
    actor: str,
    limits: Limits,
    scopes: Iterable[str],
    environment: str,
    project_id: str | None,
    expires_at: datetime | None,
    origin: audit.Origin | None,
    check_expiry: bool = True,
    subject: str | None = None,
) -> None:
    bounded = limits if check_expiry else replace(limits, expires_at=None)
    reason = bounded.refusal(scopes, environment, project_id, expires_at)
    if reason is None:
        return
    db.rollback()
    audit.record(
        db,
        "api_key.escalation_refused",
        tenant_id=tenant_id,
        actor=actor,
        subject=subject,
        origin=origin,
        details={"reason": reason, "scopes": sorted(scopes), "environment": environment, "project_id": project_id},
    )
    raise EscalationRefused(reason)


def _project(db: Session, tenant_id: str, project_id: str) -> Project | None:
    return db.scalars(select(Project).where(Project.id == project_id, Project.tenant_id == tenant_id)).first()


def _scopes(scopes: Iterable[str], catalogue: Iterable[str]) -> list[str]:
    try:
        return check_scopes(scopes, catalogue)
    except InvalidScopes as error:
        raise InvalidInput(str(error), "scopes") from None
