"""One place that turns a request's credential into a :class:`Principal`.

Every reader of credentials — the management API (``auth.require_scopes``), ``/me``, and
the gateway's ``check`` — calls :func:`resolve`; the browser's sign-in cookie (SPEC §11),
which only the pages (sign-in, consent, logout, and the console) read, is
:func:`browser_sign_in` and :func:`browser_principal`. A principal carries the scopes its
holder has *now*: a user token's scopes are narrowed to what the member's current role
and the token's client still allow, a client token's to the client's current scopes;
a token whose session ended, whose membership or client is gone, or whose ``jti`` was
revoked is refused. ``cached=True`` (the gateway) reads that state through caches the
same changes invalidate (``services.token_state``); the management API reads it fresh.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models.api_keys import RateLimit
from outter_auth.runtime import Runtime
from outter_auth.scopes import role_allows, scopes_for_role
from outter_auth.services import browser_sessions, tokens
from outter_auth.services.api_keys import ApiKeyRefused
from outter_auth.services.ceilings import MACHINE, Caller, GrantCeiling
from outter_auth.services.key_cache import KeySnapshot

REALM = "outter"
API_KEY_HEADER = "X-API-Key"
# RFC 6750 §2.1 b64token
BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


class AuthenticationFailed(Exception):
    """No usable credential: answered 401 with a ``WWW-Authenticate`` challenge.

    ``code`` is what refused it: SPEC §7's API-key codes (``missing``, ``malformed``,
    ``unknown``, ``revoked``, ``expired``) or ``invalid_token`` for Bearer tokens."""

    def __init__(
        self,
        message: str,
        error: str | None = "invalid_token",
        scheme: str = "Bearer",
        code: str = "invalid_token",
        key_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error = error
        self.scheme = scheme
        self.code = code
        self.key_id = key_id  # a known API key that was refused (revoked, expired)

    @property
    def challenge(self) -> str:
        if self.error is None:  # no credential at all: RFC 6750 §3.1 says no error code; offer both
            return f'Bearer realm="{REALM}", ApiKey realm="{REALM}"'
        return f'{self.scheme} realm="{REALM}", error="{self.error}", error_description="{self}"'


@dataclass(frozen=True)
class Principal:
    type: str  # "user" | "api_key" | "client"
    id: str
    tenant_id: str
    scopes: frozenset[str]
    ceiling: GrantCeiling
    roles: tuple[str, ...] = ()
    email: str | None = None
    session_id: str | None = None
    browser_session_id: str | None = None  # signed in through the browser (the console)
    client_id: str | None = None
    environment: str | None = None  # API keys
    project_id: str | None = None  # API keys bound to one project
    expires_at: datetime | None = None  # API keys
    rate_limit: RateLimit | None = None  # API keys that carry one (SPEC §14)
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # The scopes in the order the credential lists them (for headers that repeat them).
    scope_list: tuple[str, ...] = ()

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None

    def caller(self, origin: Any = None) -> Caller:
        """This principal acting on its tenant (for the services)."""
        role = self.role if self.type == "user" else MACHINE
        return Caller(self.tenant_id, self.id, self.ceiling, origin, role)


def resolve(state: Runtime, api_key: str | None, authorization: str | None, *, cached: bool) -> Principal:
    """The principal behind the request's ``X-API-Key`` or ``Authorization`` header (one of
    them), or :class:`AuthenticationFailed`."""
    if api_key is not None:
        if authorization is not None:
            raise AuthenticationFailed("send one credential: X-API-Key or Authorization", scheme="ApiKey")
        return key_principal(state, verify_key(state, api_key))
    if authorization is None:
        raise AuthenticationFailed("authentication required", error=None, code="missing")
    match = BEARER.fullmatch(authorization.strip())
    if match is None:
        raise AuthenticationFailed("malformed Authorization header", error="invalid_request")
    return token_principal(state, match.group(1), cached=cached)


def verify_key(state: Runtime, raw: object) -> KeySnapshot:
    """The snapshot of an active API key (noting its use), or :class:`AuthenticationFailed`."""
    state.invalidation.start()
    try:
        key = state.key_verifier.verify(raw)
    except ApiKeyRefused as refusal:
        raise AuthenticationFailed(
            str(refusal), error="invalid_key", scheme="ApiKey", code=refusal.code, key_id=refusal.key_id
        ) from None
    state.key_usage.touch(key.id, clock.now())
    return key


def key_principal(state: Runtime, key: KeySnapshot) -> Principal:
    return Principal(
        type="api_key",
        id=key.id,
        tenant_id=key.tenant_id,
        scopes=frozenset(key.scopes),
        scope_list=key.scopes,
        # A key in its rotation grace ends with the grace: it cannot mint what outlives it.
        ceiling=GrantCeiling(
            frozenset(key.scopes), key.environment, key.project_id, key.ends_at, rate_limit=key.rate_limit
        ),
        environment=key.environment,
        project_id=key.project_id,
        expires_at=key.expires_at,
        rate_limit=key.rate_limit,
    )


def token_principal(state: Runtime, token: str, *, cached: bool) -> Principal:
    state.invalidation.start()
    claims = _verified_claims(state, token, cached)
    if state.token_state.is_revoked(str(claims["jti"]), cached=cached):
        raise AuthenticationFailed("token revoked")
    client = state.client(str(claims["client_id"]))
    if client is None:
        raise AuthenticationFailed("the token's client no longer exists")
    allowed = frozenset(client.scopes)
    # Whatever the token says, never more than its client may hold now.
    scopes = tuple(s for s in str(claims.get("scope") or "").split() if s in allowed)
    if "sid" not in claims:  # client_credentials: the client itself is the caller
        return Principal(
            type="client",
            id=str(claims["sub"]),
            tenant_id=str(claims["tenant_id"]),
            scopes=frozenset(scopes),
            scope_list=scopes,
            ceiling=GrantCeiling(frozenset(scopes)),
            client_id=client.id,
            claims=claims,
        )
    return _user_principal(state, claims, scopes, cached)


def _verified_claims(state: Runtime, token: str, cached: bool) -> dict[str, Any]:
    try:
        if cached:
            return state.verified_tokens.verify(token, state.keystore.ring())
        return tokens.verify_access_token(token, state.keystore.ring(), state.token_settings)
    except tokens.InvalidToken as error:
        raise AuthenticationFailed(str(error)) from None


def _user_principal(state: Runtime, claims: dict[str, Any], token_scopes: tuple[str, ...], cached: bool) -> Principal:
    """A user acting through a client: only while the session and membership last, and with
    the scopes the member's current role allows (``scopes.role_allows``: management scopes
    follow the role, platform and OIDC scopes are every role's)."""
    sid, user_id, tenant_id = str(claims["sid"]), str(claims["sub"]), str(claims["tenant_id"])
    member = state.token_state.member(sid, user_id, tenant_id, cached=cached)
    if member is None:
        raise AuthenticationFailed("session ended or account deactivated")
    role, email = member
    catalogue = state.settings.scopes
    scopes = tuple(s for s in token_scopes if role_allows(s, role, catalogue))
    return Principal(
        type="user",
        id=user_id,
        tenant_id=tenant_id,
        scopes=frozenset(scopes),
        scope_list=scopes,
        ceiling=GrantCeiling(frozenset(scopes), platform_scopes_free=True),
        roles=(role,),
        email=email,
        session_id=sid,
        client_id=str(claims["client_id"]),
        claims=claims,
    )


def browser_sign_in(state: Runtime, cookie: str | None) -> browser_sessions.SignedIn | None:
    """The live browser session behind a sign-in cookie, or None (read fresh: pages are not a
    hot path, and a logout or deactivation must count at once)."""
    state.invalidation.start()
    return browser_sessions.find(db.session, cookie)


def browser_principal(state: Runtime, cookie: str | None) -> Principal | None:
    """A browser signed in to a tenant, as the user acting on it with their role's management
    scopes (the console's caller); None without a live session or before a tenant is chosen."""
    signed_in = browser_sign_in(state, cookie)
    if signed_in is None or signed_in.tenant_id is None or signed_in.role is None:
        return None
    scopes = tuple(sorted(scopes_for_role(signed_in.role)))
    return Principal(
        type="user",
        id=signed_in.user_id,
        tenant_id=signed_in.tenant_id,
        scopes=frozenset(scopes),
        scope_list=scopes,
        ceiling=GrantCeiling(frozenset(scopes), platform_scopes_free=True),
        roles=(signed_in.role,),
        email=signed_in.email,
        browser_session_id=signed_in.id,
    )
