"""Scope grammar and the scopes that govern this service (SPEC §3)."""

from __future__ import annotations

import re

SCOPE_PATTERN = re.compile(r"[a-z0-9_.:-]{1,64}")

API_KEYS_READ = "api_keys:read"
API_KEYS_WRITE = "api_keys:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
PROJECTS_READ = "projects:read"
PROJECTS_WRITE = "projects:write"
AUDIT_READ = "audit:read"

MANAGEMENT_SCOPES: tuple[str, ...] = (
    API_KEYS_READ,
    API_KEYS_WRITE,
    USERS_READ,
    USERS_WRITE,
    PROJECTS_READ,
    PROJECTS_WRITE,
    AUDIT_READ,
)

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "owner": frozenset(MANAGEMENT_SCOPES),
    "admin": frozenset(MANAGEMENT_SCOPES),
    "member": frozenset(),
}


def is_valid_scope(scope: str) -> bool:
    return SCOPE_PATTERN.fullmatch(scope) is not None


def scopes_for_role(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())
