"""Who is calling: ``current_principal`` and ``require_scopes(...)`` for every credential.

Bearer JWTs are verified here through ``services.tokens``; user tokens are then
checked against the database (membership still active, session not ended), and
their scopes narrowed to what the member's *current* role allows, so a demoted
admin loses power at once on this service. API keys plug in beside Bearer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar, cast

from flask import g, request
from flask_smorest import Blueprint
from sqlalchemy import select
from werkzeug.local import LocalProxy

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import Membership, Session, User
from outter_auth.runtime import runtime
from outter_auth.scopes import scopes_for_role
from outter_auth.services import api_keys, sessions, tokens

F = TypeVar("F", bound=Callable[..., Any])

REALM = "outter"
API_KEY_HEADER = "X-API-Key"
BEARER_SECURITY = "bearerAuth"
# RFC 6750 §2.1 b64token
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)


class AuthenticationFailed(Exception):
    """No usable credential: answered 401 with a ``WWW-Authenticate`` challenge."""

    def __init__(self, message: str, error: str | None = "invalid_token", scheme: str = "Bearer") -> None:
        super().__init__(message)
        self.error = error
        self.scheme = scheme

    @property
    def challenge(self) -> str:
        if self.error is None:  # no credential at all: RFC 6750 §3.1 says no error code; offer both
            return f'Bearer realm="{REALM}", ApiKey realm="{REALM}"'
        return f'{self.scheme} realm="{REALM}", error="{self.error}", error_description="{self}"'


class InsufficientScope(Exception):
    """The credential is valid but lacks a scope: answered 403."""


@dataclass(frozen=True)
class Principal:
    type: str  # "user" | "api_key" | "client"
    id: str
    tenant_id: str
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()
    email: str | None = None
    session_id: str | None = None
    client_id: str | None = None
    environment: str | None = None  # API keys
    project_id: str | None = None  # API keys bound to one project
    expires_at: datetime | None = None  # API keys
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def role(self) -> str | None:
        return self.roles[0] if self.roles else None


def authenticate() -> Principal:
    """The caller of this request, authenticated once and kept on ``g``."""
    principal = g.get("principal")
    if principal is None:
        principal = g.principal = _authenticate_request()
    return cast(Principal, principal)


current_principal: Principal = cast(Principal, LocalProxy(authenticate))


def require_scopes(*scopes: str) -> Callable[[F], F]:
    """Authenticate the caller and demand every scope in ``scopes`` (403 otherwise)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            missing = set(scopes) - authenticate().scopes
            if missing:
                raise InsufficientScope(f"missing scope: {' '.join(sorted(missing))}")
            return view(*args, **kwargs)

        # Named responses (not "$ref" strings) so flask-smorest registers the components.
        responses = {"401": "UNAUTHORIZED", **({"403": "FORBIDDEN"} if scopes else {})}
        # OpenAPI 3.0 allows scope lists only on oauth2 schemes: list them as an extension.
        documented = Blueprint.doc(
            security=[{BEARER_SECURITY: []}], responses=responses, **{"x-required-scopes": list(scopes)}
        )
        return cast(F, documented(wrapper))

    return decorator


def require_admin() -> Callable[[F], F]:
    """Only a user who is owner or admin of the tenant (no machine credential).

    For resources SPEC §3 gives no scope to, such as OAuth clients: a machine
    credential should not be able to mint other machine credentials.
    """

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            if principal.type != "user" or principal.role not in ("owner", "admin"):
                raise InsufficientScope("only an owner or admin of the tenant may do this")
            return view(*args, **kwargs)

        documented = Blueprint.doc(
            security=[{BEARER_SECURITY: []}], responses={"401": "UNAUTHORIZED", "403": "FORBIDDEN"}
        )
        return cast(F, documented(wrapper))

    return decorator


def _authenticate_request() -> Principal:
    header = request.headers.get("Authorization")
    api_key = request.headers.get(API_KEY_HEADER)
    if api_key is not None:
        if header is not None:
            raise AuthenticationFailed("send one credential: X-API-Key or Authorization", scheme="ApiKey")
        return _principal_from_api_key(api_key)
    if header is None:
        raise AuthenticationFailed("authentication required", error=None)
    match = _BEARER.fullmatch(header.strip())
    if match is None:
        raise AuthenticationFailed("malformed Authorization header", error="invalid_request")
    return _principal_from_jwt(match.group(1))


def _principal_from_api_key(raw: str) -> Principal:
    state = runtime()
    state.invalidation.start()
    try:
        key = state.key_verifier.verify(raw)
    except api_keys.ApiKeyRefused as error:
        raise AuthenticationFailed(str(error), error="invalid_key", scheme="ApiKey") from None
    state.last_used.touch(key.id, clock.now())
    return Principal(
        type="api_key",
        id=key.id,
        tenant_id=key.tenant_id,
        scopes=frozenset(key.scopes),
        environment=key.environment,
        project_id=key.project_id,
        expires_at=key.expires_at,
    )


def limits_of(principal: Principal) -> api_keys.Limits:
    """What ``principal`` may grant (SPEC §3: nothing beyond its own power).

    Owners and admins hold the tenant: any environment, project and platform scope,
    but of the management scopes only those their token carries (it may be narrowed).
    Machines (API keys, clients) are bound by their own scopes, environment, project
    and expiry."""
    if principal.type == "user":
        return api_keys.Limits(scopes=principal.scopes, platform_scopes_free=True)
    return api_keys.Limits(
        scopes=principal.scopes,
        environment=principal.environment,
        project_id=principal.project_id,
        expires_at=principal.expires_at,
    )


def _principal_from_jwt(token: str) -> Principal:
    state = runtime()
    try:
        claims = tokens.verify_access_token(token, state.keystore.ring(), state.token_settings)
    except tokens.InvalidToken as error:
        raise AuthenticationFailed(str(error)) from None
    if sessions.is_access_token_revoked(db.session, str(claims["jti"])):
        raise AuthenticationFailed("token revoked")
    token_scopes = frozenset(str(claims.get("scope") or "").split())
    if "sid" not in claims:  # client_credentials: the client itself is the caller
        return Principal(
            type="client",
            id=str(claims["sub"]),
            tenant_id=str(claims["tenant_id"]),
            scopes=token_scopes,
            client_id=str(claims["client_id"]),
            claims=claims,
        )
    row = db.session.execute(
        select(Membership.role, User.email)
        .join(User, User.id == Membership.user_id)
        .join(Session, Session.user_id == Membership.user_id)
        .where(
            Membership.user_id == claims["sub"],
            Membership.tenant_id == claims["tenant_id"],
            Membership.is_active.is_(True),
            User.is_active.is_(True),
            Session.id == claims["sid"],
            Session.tenant_id == Membership.tenant_id,
            Session.revoked_at.is_(None),
        )
    ).first()
    if row is None:
        raise AuthenticationFailed("session ended or account deactivated")
    role, email = row
    return Principal(
        type="user",
        id=str(claims["sub"]),
        tenant_id=str(claims["tenant_id"]),
        scopes=token_scopes & scopes_for_role(role),
        roles=(role,),
        email=email,
        session_id=str(claims["sid"]),
        client_id=str(claims["client_id"]),
        claims=claims,
    )
