"""Find out what a presented token is (RFC 7009 revocation, RFC 7662 introspection)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session as DbSession

from outter_auth.models import Session
from outter_auth.services import api_key_format, api_keys, sessions, tokens
from outter_auth.services.signing_keys import KeyRing


@dataclass(frozen=True)
class TokenRecord:
    kind: str  # "access_token" | "refresh_token"
    client_id: str
    tenant_id: str
    active: bool
    claims: dict[str, Any] = field(default_factory=dict)  # what introspection may tell
    session_id: str | None = None
    jti: str | None = None
    expires_at: datetime | None = None


def lookup(
    db: DbSession,
    token: str,
    hint: str | None,
    ring: KeyRing,
    settings: tokens.TokenSettings,
    peppers: api_keys.Peppers | None = None,
    idle_timeout_seconds: int = 7 * 24 * 3600,
) -> TokenRecord | None:
    """The token's record, or None if it is not one of ours. The hint only orders the tries."""
    if peppers is not None and api_key_format.KEY_PATTERN.fullmatch(token):
        return _api_key(db, token, peppers)
    looks_like_jwt = token.count(".") == 2
    order = (
        (_access_token, _refresh_token) if looks_like_jwt or hint == "access_token" else (_refresh_token, _access_token)
    )
    for find in order:
        record = find(db, token, ring, settings, idle_timeout_seconds)
        if record is not None:
            return record
    return None


def _api_key(db: DbSession, raw: str, peppers: api_keys.Peppers) -> TokenRecord | None:
    """SPEC §4: introspection also answers for API keys."""
    try:
        key = api_keys.verify(db, raw, peppers)
    except api_keys.ApiKeyRefused as refusal:
        known = None if refusal.code in ("malformed", "unknown") else api_keys.find_by_raw(db, raw, peppers)
        if known is None:
            return None
        return TokenRecord(kind="api_key", client_id="", tenant_id=known.key.tenant_id, active=False)
    claims: dict[str, Any] = {
        "token_type": "api_key",
        "tenant_id": key.tenant_id,
        "scope": " ".join(key.scopes),
        "environment": key.environment,
        "key_id": key.id,
        "iat": int(key.created_at.timestamp()),
    }
    if key.project_id:
        claims["project_id"] = key.project_id
    if key.expires_at:
        claims["exp"] = int(key.expires_at.timestamp())
    return TokenRecord(kind="api_key", client_id="", tenant_id=key.tenant_id, active=True, claims=claims)


def _access_token(
    db: DbSession, token: str, ring: KeyRing, settings: tokens.TokenSettings, idle_timeout_seconds: int
) -> TokenRecord | None:
    try:
        claims = tokens.verify_access_token(token, ring, settings)
    except tokens.InvalidToken:
        return None  # forged, foreign, expired: all simply "not active"
    jti = str(claims["jti"])
    active = not sessions.is_access_token_revoked(db, jti)
    if active and "sid" in claims:
        session = db.get(Session, claims["sid"])
        active = session is not None and session.revoked_at is None and sessions.membership_is_active(db, session)
    return TokenRecord(
        kind="access_token",
        client_id=str(claims["client_id"]),
        tenant_id=str(claims["tenant_id"]),
        active=active,
        claims={**claims, "token_type": "Bearer"},
        session_id=claims.get("sid"),
        jti=jti,
        expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
    )


def _refresh_token(
    db: DbSession, token: str, ring: KeyRing, settings: tokens.TokenSettings, idle_timeout_seconds: int
) -> TokenRecord | None:
    found = sessions.find_refresh_token(db, token)
    if found is None:
        return None
    refresh, session = found
    active = refresh.used_at is None and sessions.is_refreshable(db, session, idle_timeout_seconds)
    claims = {
        "token_type": "refresh_token",
        "client_id": session.client_id,
        "sub": session.user_id,
        "tenant_id": session.tenant_id,
        "scope": session.scope,
        "sid": session.id,
        "iat": int(refresh.created_at.timestamp()),
        "exp": int(session.expires_at.timestamp()),
        "iss": settings.issuer,
    }
    return TokenRecord(
        kind="refresh_token",
        client_id=session.client_id,
        tenant_id=session.tenant_id,
        active=active,
        claims=claims,
        session_id=session.id,
        expires_at=session.expires_at,
    )
