"""Domain exceptions: one line each; ``outter_auth.errors`` maps them to HTTP."""

from __future__ import annotations


class DomainError(Exception):
    """Base class; ``str(error)`` is a message safe to show to the caller."""


class NotFound(DomainError):
    """No such object in the caller's tenant (other tenants' objects look the same)."""


class Conflict(DomainError):
    """The change clashes with existing data (a taken slug or email)."""


class InvalidInput(DomainError):
    """Well-formed input that breaks a domain rule (e.g. a weak password)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class PermissionDenied(DomainError):
    """The caller is known but may not do this."""


class InvalidCredentials(DomainError):
    """Login failed; deliberately says nothing about which part was wrong."""

    def __init__(self, message: str = "invalid email or password") -> None:
        super().__init__(message)


class AccountDisabled(DomainError):
    """Correct password, but the account or its membership is deactivated."""


class TenantRequired(DomainError):
    """The user belongs to several tenants and did not say which one."""
