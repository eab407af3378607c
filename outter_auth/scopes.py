"""Scope grammar, the scopes that govern this service (SPEC §3), the OpenID Connect scopes,
and the one rule deciding which scopes a user gets through a client (SPEC §11)."""

from __future__ import annotations

import re
from collections.abc import Iterable

SCOPE_PATTERN = re.compile(r"[a-z0-9_.:-]{1,64}")
INVALID_SCOPE = "invalid scope: use 1-64 characters of a-z 0-9 _ . : -"

API_KEYS_READ = "api_keys:read"
API_KEYS_WRITE = "api_keys:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
PROJECTS_READ = "projects:read"
PROJECTS_WRITE = "projects:write"
AUDIT_READ = "audit:read"
CLIENTS_READ = "clients:read"
CLIENTS_WRITE = "clients:write"

MANAGEMENT_SCOPES: tuple[str, ...] = (
    API_KEYS_READ,
    API_KEYS_WRITE,
    USERS_READ,
    USERS_WRITE,
    PROJECTS_READ,
    PROJECTS_WRITE,
    AUDIT_READ,
    CLIENTS_READ,
    CLIENTS_WRITE,
)

# What each allows (SPEC §3), for the OpenAPI document's OAuth 2.0 flows.
MANAGEMENT_SCOPE_DESCRIPTIONS: dict[str, str] = {
    API_KEYS_READ: "List and get the tenant's API keys",
    API_KEYS_WRITE: "Create, update, rotate and revoke the tenant's API keys",
    USERS_READ: "List the tenant's users",
    USERS_WRITE: "Invite, update, deactivate and unlock the tenant's users",
    PROJECTS_READ: "List and get the tenant's projects",
    PROJECTS_WRITE: "Create, update and delete the tenant's projects",
    AUDIT_READ: "Read the tenant's audit events",
    CLIENTS_READ: "List and get the tenant's OAuth clients",
    CLIENTS_WRITE: "Create, change, rotate the secret of and delete the tenant's OAuth clients",
}
assert set(MANAGEMENT_SCOPE_DESCRIPTIONS) == set(MANAGEMENT_SCOPES)

# OpenID Connect Core §5.4 and §11: they ask for identity claims and refresh tokens, not for
# power over a tenant, so every role may be given them (when the client may ask for them).
OPENID = "openid"
PROFILE = "profile"
EMAIL = "email"
OFFLINE_ACCESS = "offline_access"
OIDC_SCOPES: tuple[str, ...] = (OPENID, PROFILE, EMAIL, OFFLINE_ACCESS)
OIDC_SCOPE_DESCRIPTIONS: dict[str, str] = {
    OPENID: "An ID token and userinfo: who the user is (sub, tenant_id)",
    PROFILE: "The user's profile claims",
    EMAIL: "The user's email address (email, email_verified)",
    OFFLINE_ACCESS: "A refresh token for a client that is not first-party",
}

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(MANAGEMENT_SCOPES),
    "admin": frozenset(MANAGEMENT_SCOPES),
    "member": frozenset(),
}


def is_valid_scope(scope: str) -> bool:
    return SCOPE_PATTERN.fullmatch(scope) is not None


def scopes_for_role(role: str) -> frozenset[str]:
    """The management scopes of a role (SPEC §3)."""
    return ROLE_SCOPES.get(role, frozenset())


def role_allows(scope: str, role: str, catalogue: Iterable[str] = ()) -> bool:
    """Whether a member of ``role`` may hold ``scope``: management scopes follow the role;
    OIDC scopes and platform scopes (within the catalogue, ``OUTTER_SCOPES``, when there is
    one) are open to every role."""
    if scope in MANAGEMENT_SCOPES:
        return scope in scopes_for_role(role)
    if scope in OIDC_SCOPES:
        return True
    known = set(catalogue)
    return not known or scope in known


def user_scopes(
    requested: Iterable[str] | None, client_scopes: Iterable[str], role: str, catalogue: Iterable[str] = ()
) -> tuple[str, ...]:
    """The scopes a user of ``role`` gets through a client (SPEC §11): requested ∩ allowed for
    the client ∩ allowed for the role, sorted. Nothing requested means every scope of the
    client except the OIDC ones, which are only ever given when asked for by name."""
    client = set(client_scopes)
    wanted = set(requested) if requested is not None else client - set(OIDC_SCOPES)
    return tuple(sorted(s for s in wanted & client if role_allows(s, role, catalogue)))


class InvalidScopes(ValueError):
    """A scope breaks the grammar or is not in the configured catalogue."""


def check_scopes(scopes: Iterable[str], catalogue: Iterable[str] = ()) -> list[str]:
    """Validate and de-duplicate, keeping order; the catalogue (``OUTTER_SCOPES``) applies
    to platform scopes when it is configured."""
    known = set(catalogue)
    result = list(dict.fromkeys(scopes))
    for scope in result:
        if not is_valid_scope(scope):
            raise InvalidScopes(f"invalid scope {scope[:64]!r}: use 1-64 characters of a-z 0-9 _ . : -")
        if known and scope not in known and scope not in MANAGEMENT_SCOPES and scope not in OIDC_SCOPES:
            raise InvalidScopes(f"unknown scope {scope!r}: not in OUTTER_SCOPES")
    return result
