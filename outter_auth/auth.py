"""The caller of a management request: ``current_principal`` and ``require_scopes(...)``.

Credentials are resolved by ``outter_auth.credentials`` (one resolver for every reader),
here with fresh database state: a revoked token, an ended session or a deactivated
member is refused at once, and a demoted admin loses power at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request
from flask_smorest import Blueprint
from werkzeug.local import LocalProxy

from outter_auth.api.base import request_origin
from outter_auth.credentials import API_KEY_HEADER, AuthenticationFailed, Principal, resolve
from outter_auth.runtime import runtime
from outter_auth.services.ceilings import Caller

__all__ = ["API_KEY_HEADER", "AuthenticationFailed", "Principal", "current_principal", "require_scopes"]

F = TypeVar("F", bound=Callable[..., Any])

BEARER_SECURITY = "bearerAuth"
API_KEY_SECURITY = "apiKeyAuth"


class InsufficientScope(Exception):
    """The credential is valid but lacks a scope: answered 403."""


def authenticate() -> Principal:
    """The caller of this request, authenticated once and kept on ``g``."""
    principal = g.get("principal")
    if principal is None:
        headers = request.headers
        principal = g.principal = resolve(
            runtime(), headers.get(API_KEY_HEADER), headers.get("Authorization"), cached=False
        )
    return cast(Principal, principal)


current_principal: Principal = cast(Principal, LocalProxy(authenticate))


def current_caller() -> Caller:
    """The authenticated principal acting on its tenant, as the services take it."""
    return authenticate().caller(request_origin())


def require_scopes(*scopes: str, tenant_wide: bool = False) -> Callable[[F], F]:
    """Authenticate the caller and demand every scope in ``scopes`` (403 otherwise).

    ``tenant_wide``: the resource spans the whole tenant (users, clients, the audit
    trail), so a credential bound to one project may not touch it (SPEC §3)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate()
            missing = set(scopes) - principal.scopes
            if missing:
                raise InsufficientScope(f"missing scope: {' '.join(sorted(missing))}")
            if tenant_wide and principal.ceiling.bound_to_project:
                raise InsufficientScope("a credential bound to a project cannot reach tenant-wide resources")
            return view(*args, **kwargs)

        # Named responses (not "$ref" strings) so flask-smorest registers the components.
        responses = {"401": "UNAUTHORIZED", **({"403": "FORBIDDEN"} if scopes or tenant_wide else {})}
        # OpenAPI 3.0 allows scope lists only on oauth2 schemes: list them as an extension.
        documented = Blueprint.doc(
            security=[{BEARER_SECURITY: []}, {API_KEY_SECURITY: []}],
            responses=responses,
            **{"x-required-scopes": list(scopes)},
        )
        return cast(F, documented(wrapper))

    return decorator
