"""Scope grammar and the scopes that govern this service (SPEC §3)."""

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

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(MANAGEMENT_SCOPES),
    "admin": frozenset(MANAGEMENT_SCOPES),
    "member": frozenset(),
}


def is_valid_scope(scope: str) -> bool:
    return SCOPE_PATTERN.fullmatch(scope) is not None


def scopes_for_role(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


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
        if known and scope not in known and scope not in MANAGEMENT_SCOPES:
            raise InvalidScopes(f"unknown scope {scope!r}: not in OUTTER_SCOPES")
    return result
