"""The audit trail in words (SPEC §8): what each event type means, a line that says what
happened where the details say it best, and the details as ``key: value`` lines."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from outter_auth.models import AuditEvent

EVENT_WORDS: dict[str, str] = {
    "login.succeeded": "Signed in",
    "login.failed": "Sign-in failed",
    "logout": "Signed out",
    "refresh_token.reused": "Refresh token reused: session ended",
    "authorization_code.reused": "Authorization code reused: its tokens revoked",
    "account.locked": "Account locked",
    "account.unlocked": "Account unlocked",
    "membership.changed": "Membership changed",
    "api_key.created": "API key created",
    "api_key.updated": "API key changed",
    "api_key.rotated": "API key rotated",
    "api_key.revoked": "API key revoked",
    "api_key.escalation_refused": "API key refused: beyond the caller's power",
    "api_key.leak_reported": "API key reported leaked",
    "client.created": "OAuth client registered",
    "client.updated": "OAuth client changed",
    "client.escalation_refused": "OAuth client refused: beyond the caller's power",
    "consent.granted": "App allowed to act for a user",
    "consent.revoked": "App's access withdrawn",
    "project.deleted": "Project deleted",
    "signing_key.rotated": "Signing key made",
    "signing_key.activated": "Signing key activated",
    "signing_key.retired": "Signing key retired",
    "signing_key.revoked": "Signing key revoked",
}
LABELS = {
    "url": "Found at",
    "source": "Found by",
    "type": "Token type",
    "was_active": "Was working",
    "client_id": "Client",
    "user_id": "User",
    "reason": "Reason",
    "scopes": "Scopes",
    "grant_types": "Grant types",
    "changed": "Changed",
    "secret_rotated": "Secret rotated",
    "deleted": "Deleted",
    "environment": "Environment",
    "project_id": "Project",
    "sessions_ended": "Sessions ended",
    "browser_session": "In the browser",
    "browser_session_id": "Browser session",
    "locked_until": "Locked until",
    "failures": "Failures",
    "scope": "Lock applies to",
}


@dataclass(frozen=True)
class Headline:
    """One line under the event's name, then ``link`` when it names a web page (a leak's URL)."""

    text: str
    link: str | None = None


def describe(event_type: str) -> str:
    return EVENT_WORDS.get(event_type, event_type)


def headline(event: AuditEvent) -> Headline | None:
    details = event.details or {}
    if event.type == "api_key.leak_reported":
        url = str(details.get("url") or "")
        where = f"Found by {details['source']} at" if details.get("source") else "Found at"
        if _web(url):
            return Headline(where, url)
        return Headline(f"{where} {url}" if url else where.removesuffix(" at"))
    if event.type == "client.updated":
        if details.get("deleted"):
            return Headline("Deleted")
        if details.get("secret_rotated"):
            return Headline("Secret rotated")
        if details.get("changed"):
            return Headline("Changed: " + ", ".join(str(name).replace("_", " ") for name in details["changed"]))
    if "reason" in details and event.type.endswith(("escalation_refused", "login.failed")):
        return Headline(str(details["reason"]).replace("_", " ").capitalize())
    return None


def detail_lines(event: AuditEvent) -> list[tuple[str, str]]:
    """(label, value) for each detail, and the user agent, read as a person would."""
    lines = [(_label(name), _value(value)) for name, value in (event.details or {}).items()]
    if event.user_agent:
        lines.append(("User agent", event.user_agent))
    return lines


def _label(name: str) -> str:
    return LABELS.get(name) or name.replace("_", " ").capitalize()


def _value(value: Any) -> str:
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None or value == [] or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _web(url: str) -> bool:
    """Only a web address becomes a link (never javascript: or data: from a report)."""
    return url.startswith(("https://", "http://"))
