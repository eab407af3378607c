"""Recording audit events (SPEC §8). Callers pass ids and facts, never secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from outter_auth.models import AuditEvent

# Every type of event the service records (SPEC §8, and those added since), for those who
# filter the trail (the console). ``tests/services/test_audit_types.py`` checks that every
# event the code records is listed. Platform events are recorded without a tenant, so no
# tenant's trail ever holds them.
TENANT_EVENT_TYPES: tuple[str, ...] = (
    "login.succeeded",
    "login.failed",
    "logout",
    "refresh_token.reused",
    "authorization_code.reused",
    "account.locked",
    "account.unlocked",
    "membership.changed",
    "api_key.created",
    "api_key.updated",
    "api_key.rotated",
    "api_key.revoked",
    "api_key.escalation_refused",
    "api_key.leak_reported",
    "client.created",
    "client.updated",
    "client.escalation_refused",
    "consent.granted",
    "consent.revoked",
    "project.deleted",
)
PLATFORM_EVENT_TYPES: tuple[str, ...] = (
    "signing_key.rotated",
    "signing_key.activated",
    "signing_key.retired",
    "signing_key.revoked",
)
EVENT_TYPES: tuple[str, ...] = TENANT_EVENT_TYPES + PLATFORM_EVENT_TYPES


@dataclass(frozen=True)
class Origin:
    """Where a request came from (empty for the CLI)."""

    ip: str | None = None
    user_agent: str | None = None


def record(
    db: Session,
    type: str,
    *,
    tenant_id: str | None = None,
    actor: str | None = None,
    subject: str | None = None,
    origin: Origin | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
) -> AuditEvent:
    origin = origin or Origin()
    event = AuditEvent(
        type=type,
        tenant_id=tenant_id,
        actor=actor,
        subject=subject,
        ip=_text(origin.ip, 64),
        user_agent=_text(origin.user_agent, 512),
        details=details or {},
    )
    db.add(event)
    if commit:
        db.commit()
    return event


def _text(value: str | None, limit: int) -> str | None:
    """Client-supplied text as a column can hold it: PostgreSQL refuses NUL in text."""
    return value.replace("\x00", "")[:limit] or None if value else None


def events_query(
    tenant_id: str,
    *,
    type: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """A tenant's events, newest first; platform events (no tenant) are never included."""
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)
    if type is not None:
        query = query.where(AuditEvent.type == type)
    if actor is not None:
        query = query.where(AuditEvent.actor == actor)
    if since is not None:
        query = query.where(AuditEvent.created_at >= since)
    if until is not None:
        query = query.where(AuditEvent.created_at < until)
    return query.order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())


def prune(db: Session, older_than: datetime) -> int:
    """Delete events recorded before ``older_than``; returns how many."""
    result = db.execute(delete(AuditEvent).where(AuditEvent.created_at < older_than))
    db.commit()
    return int(getattr(result, "rowcount", 0) or 0)
