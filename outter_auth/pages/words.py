"""What the pages say about scopes, in words a user can judge (the consent page)."""

from __future__ import annotations

from outter_auth import scopes as s

SCOPE_WORDS: dict[str, str] = {
    s.OPENID: "Know who you are when you sign in",
    s.PROFILE: "See your basic profile",
    s.EMAIL: "See your email address",
    s.OFFLINE_ACCESS: "Keep this access when you are not using the app, until you withdraw it",
    s.API_KEYS_READ: "See your organisation's API keys",
    s.API_KEYS_WRITE: "Create, change, rotate and revoke your organisation's API keys",
    s.USERS_READ: "See the people in your organisation",
    s.USERS_WRITE: "Invite, change and deactivate people in your organisation",
    s.PROJECTS_READ: "See your organisation's projects",
    s.PROJECTS_WRITE: "Create, change and delete your organisation's projects",
    s.AUDIT_READ: "Read your organisation's audit trail",
    s.CLIENTS_READ: "See your organisation's connected apps",
    s.CLIENTS_WRITE: "Register, change and delete your organisation's connected apps",
}


def describe(scope: str) -> str:
    """A scope in words; a platform scope (``content:generate``) by its name."""
    return SCOPE_WORDS.get(scope) or f"Use {scope} on your behalf"


_FIRST = (s.OPENID, s.PROFILE, s.EMAIL)


def in_reading_order(scopes: tuple[str, ...]) -> list[tuple[str, str]]:
    """(scope, words) with who you are first, what the app may do next, and for how long last."""
    first = [scope for scope in _FIRST if scope in scopes]
    middle = [scope for scope in scopes if scope not in _FIRST and scope != s.OFFLINE_ACCESS]
    last = [s.OFFLINE_ACCESS] if s.OFFLINE_ACCESS in scopes else []
    return [(scope, describe(scope)) for scope in first + middle + last]
