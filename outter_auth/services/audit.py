"""Recording audit events (SPEC §8). Callers pass ids and facts, never secrets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from outter_auth.models import AuditEvent


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
        ip=origin.ip,
        user_agent=(origin.user_agent or "")[:512] or None,
        details=details or {},
    )
    db.add(event)
    if commit:
        db.commit()
    return event
