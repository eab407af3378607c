"""The operator's signing-key commands, each with its audit event (SPEC §8).

The key store lives in files (``services.signing_keys``); what changed is also told to
the audit trail here, so every way of running these commands records it alike.
Events carry no tenant: signing keys belong to the platform.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from outter_auth.services import audit
from outter_auth.services.signing_keys import KeyRecord, KeyStore


def rotate(db: Session, store: KeyStore, *, publish_for: timedelta, actor: str) -> KeyRecord:
    record = store.rotate(publish_for)
    _record(db, "signing_key.rotated", record.kid, actor, activates_at=record.activates_at.isoformat())
    return record


def activate(db: Session, store: KeyStore, kid: str, *, now: bool, publish_for: timedelta, actor: str) -> KeyRecord:
    record = store.activate(kid, now=now, publish_for=publish_for)
    _record(db, "signing_key.activated", kid, actor, activates_at=record.activates_at.isoformat(), now=now)
    return record


def retire(db: Session, store: KeyStore, kid: str, *, actor: str) -> KeyRecord:
    record = store.retire(kid)
    _record(db, "signing_key.retired", kid, actor)
    return record


def revoke(db: Session, store: KeyStore, kid: str, *, actor: str) -> KeyRecord:
    """Unpublish a (compromised) key at once; every token it signed is refused."""
    record = store.revoke(kid)
    _record(db, "signing_key.revoked", kid, actor)
    return record


def _record(db: Session, event: str, kid: str, actor: str, **details: Any) -> None:
    audit.record(db, event, actor=actor, subject=kid, details=details)
