"""The list of audit event types (services.audit.EVENT_TYPES) names every event the code records."""

from __future__ import annotations

import ast
from pathlib import Path

from outter_auth.services import audit

SERVICES = Path(audit.__file__).parent
# The functions that record an event, and where they take its type.
RECORDERS = {"record", "_audit", "_record", "_changed"}


def recorded_types() -> set[str]:
    """The string constants given as an event's type anywhere in the services."""
    found: set[str] = set()
    for path in SERVICES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", None)
            places = [k.value for k in node.keywords if k.arg == "event"]
            if name in RECORDERS:
                places += node.args[:3]
            for place in places:
                found |= {
                    c.value
                    for c in ast.walk(place)
                    if isinstance(c, ast.Constant)
                    and isinstance(c.value, str)
                    and c.value.replace(".", "").replace("_", "").isalpha()
                }
    return found


def test_every_recorded_event_type_is_listed() -> None:
    recorded = recorded_types()
    assert "api_key.leak_reported" in recorded and "logout" in recorded  # the scan finds them
    assert recorded == set(audit.EVENT_TYPES)  # none missing, none stale


def test_the_list_names_each_type_once_and_keeps_platform_events_apart() -> None:
    assert len(set(audit.EVENT_TYPES)) == len(audit.EVENT_TYPES)
    assert not set(audit.TENANT_EVENT_TYPES) & set(audit.PLATFORM_EVENT_TYPES)
    assert all(t.startswith("signing_key.") for t in audit.PLATFORM_EVENT_TYPES)


def test_every_type_of_spec_section_8_is_listed() -> None:
    spec = (
        "login.succeeded login.failed logout refresh_token.reused api_key.created api_key.updated "
        "api_key.rotated api_key.revoked api_key.escalation_refused membership.changed client.created "
        "client.updated signing_key.rotated signing_key.activated signing_key.retired account.locked "
        "account.unlocked consent.granted consent.revoked authorization_code.reused api_key.leak_reported"
    )
    assert set(spec.split()) <= set(audit.EVENT_TYPES)
