"""API keys: create (shown once), list, update, rotate with grace, revoke, verify.

Only a digest of a key is stored: HMAC-SHA256 under ``OUTTER_API_KEY_PEPPER`` (or
SHA-256 without one), looked up through a unique index. Keys carry 190 bits of
entropy, so a fast hash is right (SPEC §6). Each row records which pepper made its
digest as a ``pepper_id``: an HMAC of the pepper under ``OUTTER_SECRET_KEY``, so the
database alone holds nothing to test pepper guesses against. After a pepper rotation
the old pepper stays in ``OUTTER_API_KEY_OLD_PEPPERS``; a key found under it is
re-digested off the request path (``services.key_usage``).

Every change is audited and announced (``services.changes``) in the transaction that
makes it, so caches everywhere drop the key once it commits.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, update
from sqlalchemy.orm import Session

from outter_auth import clock
from outter_auth.models import ApiKey, Project
from outter_auth.models.api_keys import MAX_RATE_LIMIT, MAX_RATE_WINDOW, RateLimit
from outter_auth.scopes import InvalidScopes, check_scopes
from outter_auth.services import api_key_format, audit, changes
from outter_auth.services.ceilings import Caller, GrantCeiling, Shape, refuse_escalation
from outter_auth.services.digests import secret_digest
from outter_auth.services.exceptions import DomainError, InvalidInput, NotFound

MAX_GRACE = timedelta(days=30)
KIND = "API key"
# What a key is now, as a person reads it: ``active``; ``rotating`` (replaced, still working
# until its grace ends); ``expired``; ``revoked``. The gateway knows only active, revoked and
# expired (``ApiKey.status``); rotating is an active key with an end in sight.
STATES = ("active", "rotating", "expired", "revoked")


class ApiKeyRefused(DomainError):
    """The presented key does not authenticate; ``code`` is SPEC §7's refusal code, and
    ``key_id`` the key's when it is one we know (revoked, expired: its usage counts it)."""

    def __init__(self, code: str, key_id: str | None = None) -> None:
        super().__init__({"malformed": "malformed API key"}.get(code, f"{code} API key"))
        self.code = code
        self.key_id = key_id


@dataclass(frozen=True)
class Peppers:
    """The current pepper, the retired ones still accepted, and the key that names them."""

    current: str
    old: tuple[str, ...] = ()
    # OUTTER_SECRET_KEY: pepper ids are HMACs under it, never plain hashes of a pepper.
    naming_key: str = field(default="", repr=False)

    def id_of(self, pepper: str) -> str:
        if not pepper:
            return "none"
        mac = hmac.new(self.naming_key.encode(), b"api-key-pepper:" + pepper.encode(), hashlib.sha256)
        return "pep_" + mac.hexdigest()[:12]

    @property
    def current_id(self) -> str:
        return self.id_of(self.current)

    def all(self) -> list[str]:
        return [self.current, *self.old]


@dataclass(frozen=True)
class KeyDraft:
    """What a new key should be."""

    name: str
    scopes: Iterable[str]
    environment: str = "live"
    project_id: str | None = None
    expires_at: datetime | None = None
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class Found:
    """A stored key matched by a presented one, and whether its digest should be redone
    under the current pepper (made under a retired one, or with an older pepper id)."""

    key: ApiKey
    stale_digest: bool


def create_key(
    db: Session,
    caller: Caller,
    draft: KeyDraft,
    *,
    peppers: Peppers,
    catalogue: Iterable[str] = (),
    rotated_from: str | None = None,
) -> tuple[ApiKey, str]:
    """Make a key; returns it with the raw key, the only time the raw key exists."""
    scopes = _scopes(draft.scopes, catalogue)
    if draft.environment not in api_key_format.ENVIRONMENTS:
        raise InvalidInput("environment must be live or test", "environment")
    if draft.project_id is not None and _project(db, caller.tenant_id, draft.project_id) is None:
        raise InvalidInput("no such project in this tenant", "project_id")
    if draft.expires_at is not None and draft.expires_at <= clock.now():
        raise InvalidInput("expiry must be in the future", "expires_at")
    _check_rate_limit(draft.rate_limit)
    shape = Shape(KIND, frozenset(scopes), draft.environment, draft.project_id, draft.expires_at, draft.rate_limit)
    _refuse_escalation(db, caller, shape, subject=rotated_from)
    raw = api_key_format.generate(draft.environment)
    parsed = api_key_format.parse(raw)
    key = ApiKey(
        tenant_id=caller.tenant_id,
        project_id=draft.project_id,
        name=draft.name,
        environment=draft.environment,
        scopes=scopes,
        digest=secret_digest(raw, peppers.current),
        pepper_id=peppers.current_id,
        prefix=parsed.display_prefix,
        last4=parsed.last4,
        created_by=caller.actor,
        expires_at=draft.expires_at,
        rotated_from=rotated_from,
    )
    key.rate_limit = draft.rate_limit
    db.add(key)
    db.flush()
    details: dict[str, Any] = {"scopes": scopes, "environment": draft.environment, "project_id": draft.project_id}
    if draft.rate_limit is not None:
        details["rate_limit"] = draft.rate_limit.as_dict()
    if rotated_from:
        details["rotated_from"] = rotated_from
    _audit(db, caller, "api_key.rotated" if rotated_from else "api_key.created", key.id, details)
    db.commit()
    return key, raw


def key_state(key: ApiKey, now: datetime) -> str:
    """One of ``STATES``: the gateway's status, with a running rotation grace told apart."""
    status = key.status(now)
    return "rotating" if status == "active" and key.revoked_at is not None else status


def keys_query(
    caller: Caller,
    *,
    environment: str | None = None,
    project_id: str | None = None,
    include_revoked: bool = False,
    state: str | None = None,
) -> Select[Any]:
    """The caller's tenant's keys, as far as the caller can see (a bound key sees its own
    environment and project only); ``state``, one of ``STATES``, keeps the keys in it (for
    ``revoked``, whatever ``include_revoked`` says)."""
    query = select(ApiKey).where(ApiKey.tenant_id == caller.tenant_id)
    for column, wanted in (
        (ApiKey.environment, environment),
        (ApiKey.environment, caller.ceiling.environment),
        (ApiKey.project_id, project_id),
        (ApiKey.project_id, caller.ceiling.project_id),
    ):
        if wanted is not None:
            query = query.where(column == wanted)
    now = clock.now()
    if state is not None:
        query = query.where(*_in_state(state, now))
    elif not include_revoked:
        query = query.where(or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now))
    return query.order_by(ApiKey.created_at, ApiKey.id)


def _in_state(state: str, now: datetime) -> tuple[ColumnElement[bool], ...]:
    """The conditions of ``key_state(key, now) == state``, in SQL."""
    not_revoked = or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now)
    not_expired = or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now)
    conditions: dict[str, tuple[ColumnElement[bool], ...]] = {
        "active": (ApiKey.revoked_at.is_(None), not_expired),
        "rotating": (ApiKey.revoked_at > now, not_expired),
        "expired": (not_revoked, ApiKey.expires_at <= now),
        "revoked": (ApiKey.revoked_at <= now,),
    }
    if state not in conditions:
        raise InvalidInput(f"state must be one of {', '.join(STATES)}", "state")
    return conditions[state]


def get_key(db: Session, caller: Caller, key_id: str) -> ApiKey:
    key = db.scalars(select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == caller.tenant_id)).first()
    if key is None or not caller.ceiling.sees(key.environment, key.project_id):
        raise NotFound("API key not found")
    return key


def update_key(
    db: Session, caller: Caller, key_id: str, changes_wanted: dict[str, Any], *, catalogue: Iterable[str] = ()
) -> ApiKey:
    key = _writable(db, caller, key_id)
    if "scopes" in changes_wanted:
        changes_wanted["scopes"] = _scopes(changes_wanted["scopes"], catalogue)
    if changes_wanted.get("expires_at") is not None and changes_wanted["expires_at"] <= clock.now():
        raise InvalidInput("expiry must be in the future", "expires_at")
    _check_rate_limit(changes_wanted.get("rate_limit"))
    after = {"scopes": key.scopes, "expires_at": key.expires_at, "rate_limit": key.rate_limit, **changes_wanted}
    shape = Shape(
        KIND, frozenset(after["scopes"]), key.environment, key.project_id, after["expires_at"], after["rate_limit"]
    )
    _refuse_escalation(db, caller, shape, subject=key.id)
    for name, value in changes_wanted.items():
        setattr(key, name, value)
    details: dict[str, Any] = {"changed": sorted(changes_wanted)}
    if "scopes" in changes_wanted:
        details["scopes"] = key.scopes
    if "rate_limit" in changes_wanted:
        details["rate_limit"] = key.rate_limit.as_dict() if key.rate_limit else None
    _audit(db, caller, "api_key.updated", key.id, details)
    changes.announce(db, "api_key", key.id)
    db.commit()
    return key


def revoke_key(db: Session, caller: Caller, key_id: str) -> ApiKey:
    """Revoke now; the record stays. Revoking a revoked key changes nothing. The keys it
    replaced by rotation stop too, grace or not: a leaked key's lineage dies with it."""
    key = _writable(db, caller, key_id)
    _revoke(db, caller, key, {})
    db.commit()
    return key


def revoke_leaked(db: Session, caller: Caller, key: ApiKey, report: dict[str, str]) -> bool:
    """Revoke ``key``, found by a secret scanner where anybody can read it (SPEC §14), and
    record the report (``url``, ``source``, ``type``: never the key) as
    ``api_key.leak_reported``, again for a key revoked already. Returns whether the key
    still worked. Does not commit: a report of many keys is one transaction."""
    was_live = _revoke(db, caller, key, {"reason": "leak_reported"})
    _audit(db, caller, "api_key.leak_reported", key.id, {**report, "was_active": was_live})
    return was_live


def _revoke(db: Session, caller: Caller, key: ApiKey, details: dict[str, Any]) -> bool:
    """Revoke ``key`` and its predecessors now; whether it still worked until then."""
    now = clock.now()
    live = key.revoked_at is None or key.revoked_at > now
    if live:
        key.revoked_at = now
        _audit(db, caller, "api_key.revoked", key.id, details)
        changes.announce(db, "api_key", key.id)
    _end_predecessors(db, key, now)
    return live


def revoke_project_keys(db: Session, caller: Caller, project_id: str) -> list[str]:
    """Revoke every live key of a project (its deletion); returns their ids. Does not commit."""
    now = clock.now()
    live = db.scalars(
        select(ApiKey).where(
            ApiKey.tenant_id == caller.tenant_id,
            ApiKey.project_id == project_id,
            or_(ApiKey.revoked_at.is_(None), ApiKey.revoked_at > now),
        )
    ).all()
    for key in live:
        key.revoked_at = now
        _audit(db, caller, "api_key.revoked", key.id, {"project_deleted": project_id})
        changes.announce(db, "api_key", key.id)
    return [key.id for key in live]


def rotate_key(db: Session, caller: Caller, key_id: str, *, grace_seconds: int, peppers: Peppers) -> tuple[ApiKey, str]:
    """A new key with the same grants; the old one works until ``now + grace``."""
    if not 0 <= grace_seconds <= MAX_GRACE.total_seconds():
        raise InvalidInput("grace_period_seconds must be between 0 and 2592000 (30 days)", "grace_period_seconds")
    old = _writable(db, caller, key_id)
    now = clock.now()
    if old.status(now) != "active":
        raise InvalidInput(f"cannot rotate a {old.status(now)} key")
    ends = now + timedelta(seconds=grace_seconds)
    old.revoked_at = min(old.revoked_at, ends) if old.revoked_at else ends
    changes.announce(db, "api_key", old.id)
    draft = KeyDraft(old.name, old.scopes, old.environment, old.project_id, old.expires_at, old.rate_limit)
    return create_key(db, caller, draft, peppers=peppers, rotated_from=old.id)


def verify(db: Session, raw: object, peppers: Peppers, now: datetime | None = None) -> ApiKey:
    """The active key for ``raw``, or :class:`ApiKeyRefused` with SPEC §7's code."""
    try:
        parsed = api_key_format.parse(raw)
    except api_key_format.MalformedApiKey:
        raise ApiKeyRefused("malformed") from None
    found = find_by_raw(db, parsed.raw, peppers)
    if found is None:
        raise ApiKeyRefused("unknown")
    status = found.key.status(now or clock.now())
    if status != "active":
        raise ApiKeyRefused(status, found.key.id)
    return found.key


def find_by_raw(db: Session, raw: str, peppers: Peppers) -> Found | None:
    """The stored key for ``raw`` under any accepted pepper; reads only (the gateway's miss
    path must not write: a stale digest is redone by ``redigest`` off the request path)."""
    for pepper in peppers.all():
        digest = secret_digest(raw, pepper)
        key = db.scalars(select(ApiKey).where(ApiKey.digest == digest)).first()
        if key is not None and hmac.compare_digest(key.digest, digest):
            return Found(key, pepper != peppers.current or key.pepper_id != peppers.current_id)
    return None


def redigest(db: Session, pending: dict[str, tuple[bytes, str]]) -> None:
    """Store new ``(digest, pepper_id)`` for keys found under a retired pepper. Commits."""
    for key_id, (digest, pepper_id) in pending.items():
        db.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(digest=digest, pepper_id=pepper_id)
            .execution_options(synchronize_session=False)
        )
    db.commit()


def _writable(db: Session, caller: Caller, key_id: str) -> ApiKey:
    """The key, if the caller may change it: a key beyond the caller's power is off limits
    (its expiry and rate limit aside: a caller may revoke a key that would outlive it or
    spend faster; a change must still leave it within the caller, see ``update_key``)."""
    key = get_key(db, caller, key_id)
    shape = Shape(KIND, frozenset(key.scopes), key.environment, key.project_id, None)
    ceiling = caller.ceiling
    _refuse_escalation(db, Caller(caller.tenant_id, caller.actor, _reach(ceiling), caller.origin), shape, key.id)
    return key


def _reach(ceiling: GrantCeiling) -> GrantCeiling:
    return GrantCeiling(ceiling.scopes, ceiling.environment, ceiling.project_id, None, ceiling.platform_scopes_free)


def _check_rate_limit(rate: RateLimit | None) -> None:
    """The bounds the schema holds too, for callers that come without one (CLI, console)."""
    if rate is None:
        return
    if not 1 <= rate.limit <= MAX_RATE_LIMIT:
        raise InvalidInput(f"rate_limit.limit must be between 1 and {MAX_RATE_LIMIT}", "rate_limit")
    if not 1 <= rate.window_seconds <= MAX_RATE_WINDOW:
        raise InvalidInput(f"rate_limit.window_seconds must be between 1 and {MAX_RATE_WINDOW}", "rate_limit")


def _end_predecessors(db: Session, key: ApiKey, now: datetime) -> None:
    """Walk ``rotated_from`` back and end every grace still running (SPEC §4)."""
    seen = {key.id}
    previous_id = key.rotated_from
    while previous_id is not None and previous_id not in seen:
        seen.add(previous_id)
        previous = db.get(ApiKey, previous_id)
        if previous is None or previous.tenant_id != key.tenant_id:
            return
        if previous.revoked_at is None or previous.revoked_at > now:
            previous.revoked_at = now
            changes.announce(db, "api_key", previous.id)
        previous_id = previous.rotated_from


def _refuse_escalation(db: Session, caller: Caller, shape: Shape, subject: str | None) -> None:
    refuse_escalation(db, caller, shape, event="api_key.escalation_refused", subject=subject)


def _audit(db: Session, caller: Caller, event: str, key_id: str, details: dict[str, Any]) -> None:
    """Record ``event`` in the transaction of the change."""
    audit.record(
        db,
        event,
        tenant_id=caller.tenant_id,
        actor=caller.actor,
        subject=key_id,
        origin=caller.origin,
        details=details,
        commit=False,
    )


def _project(db: Session, tenant_id: str, project_id: str) -> Project | None:
    return db.scalars(
        select(Project).where(Project.id == project_id, Project.tenant_id == tenant_id, Project.deleted_at.is_(None))
    ).first()


def _scopes(scopes: Iterable[str], catalogue: Iterable[str]) -> list[str]:
    try:
        return check_scopes(scopes, catalogue)
    except InvalidScopes as error:
        raise InvalidInput(str(error), "scopes") from None
