"""Consents (SPEC §11): the scopes a user allowed a client that is not first-party.

Remembered per (user, client) until the user withdraws them; withdrawing also ends every
session the user has with that client, so its refresh tokens stop working at once (and its
access tokens are refused here). Both are audited (``consent.granted``, ``consent.revoked``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session as DbSession

from outter_auth import clock
from outter_auth.models import Consent, Session
from outter_auth.services import audit, sessions
from outter_auth.services.exceptions import NotFound


def granted(db: DbSession, user_id: str, client_id: str) -> tuple[frozenset[str], datetime] | None:
    """(scopes, when last granted) of the user's consent to the client, or None."""
    consent = db.get(Consent, (user_id, client_id))
    return (frozenset(consent.scopes), consent.updated_at) if consent is not None else None


def grant(
    db: DbSession,
    user_id: str,
    client_id: str,
    tenant_id: str,
    scopes: Iterable[str],
    origin: audit.Origin | None = None,
) -> None:
    """Remember that the user allowed ``scopes`` to the client (added to what was allowed before)."""
    now = clock.now()
    consent = db.get(Consent, (user_id, client_id))
    if consent is None:
        consent = Consent(user_id=user_id, client_id=client_id, tenant_id=tenant_id, scopes=[], created_at=now)
        db.add(consent)
    consent.scopes = sorted(set(consent.scopes) | set(scopes))
    consent.updated_at = now
    audit.record(
        db,
        "consent.granted",
        tenant_id=tenant_id,
        actor=user_id,
        subject=client_id,
        origin=origin,
        details={"scopes": sorted(scopes)},
        commit=False,
    )
    db.commit()


def consents_query(user_id: str) -> Select[Consent]:
    """The user's consents (each with its client), most recent first."""
    return select(Consent).where(Consent.user_id == user_id).order_by(Consent.updated_at.desc(), Consent.client_id)


def revoke(db: DbSession, user_id: str, client_id: str, origin: audit.Origin | None = None) -> list[str]:
    """Withdraw the user's consent to the client and end their sessions with it; returns the
    ended session ids. :class:`NotFound` if there is no such consent."""
    consent = db.get(Consent, (user_id, client_id)) if len(client_id) <= 64 else None
    if consent is None:
        raise NotFound("no consent for that client")
    ended = sessions.revoke_sessions(db, Session.user_id == user_id, Session.client_id == client_id)
    audit.record(
        db,
        "consent.revoked",
        tenant_id=consent.tenant_id,
        actor=user_id,
        subject=client_id,
        origin=origin,
        details={"scopes": sorted(consent.scopes), "sessions_ended": len(ended)},
        commit=False,
    )
    db.delete(consent)
    db.commit()
    return ended
