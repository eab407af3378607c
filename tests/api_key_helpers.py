"""Helpers for the API-key tests: requests, refusals, database dumps and audit events.

Expectations are computed here independently of the service (the key pattern, the
digest) so that a bug in ``services.api_key_format`` cannot hide itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import ApiKey, AuditEvent, Base
from outter_auth.services import api_key_format

KEYS = "/api/auth/api-keys"
GENERATE = KEYS + "/generate"
ME = "/api/auth/me"

KEY_FIELDS = {
    "id",
    "name",
    "prefix",
    "last4",
    "tenant_id",
    "project_id",
    "environment",
    "scopes",
    "created_by",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "rate_limit",
}
KEY_PATTERN = re.compile(r"outter_(live|test)_[0-9A-Za-z]{38}")
MANAGE = ["api_keys:read", "api_keys:write"]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def freeze_now() -> datetime:
    """Freeze the clock at the current second (so the owner's token stays valid) and return it."""
    now = datetime.now(UTC).replace(microsecond=0)
    clock.freeze(now)
    return now


def iso(at: datetime) -> str:
    return at.isoformat()


def unknown_key(environment: str = "live") -> str:
    """A well-formed key (its checksum holds) that was never issued."""
    return api_key_format.generate(environment)


def bad_checksum(raw: str) -> str:
    """``raw`` with its last checksum character changed: malformed, refused without any I/O."""
    return raw[:-1] + ("0" if raw[-1] != "0" else "1")


def key_headers(raw: str) -> dict[str, str]:
    return {"X-API-Key": raw}


def create_key(
    client: FlaskClient,
    headers: dict[str, str],
    *,
    name: str = "ci",
    scopes: list[str] | tuple[str, ...] = ("content:generate",),
    url: str = KEYS,
    **extra: Any,
) -> dict[str, Any]:
    """Create a key (201 expected); returns the response body with the full ``key``."""
    response = client.post(url, json={"name": name, "scopes": list(scopes), **extra}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert KEY_PATTERN.fullmatch(body["key"]), body
    return body


def get_key(client: FlaskClient, headers: dict[str, str], key_id: str) -> dict[str, Any]:
    response = client.get(f"{KEYS}/{key_id}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def list_keys(client: FlaskClient, headers: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    response = client.get(KEYS, query_string={"page_size": 100, **query}, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: list[dict[str, Any]] = response.get_json()
    return body


def me(client: FlaskClient, raw: str) -> Any:
    return client.get(ME, headers=key_headers(raw))


def assert_key_works(client: FlaskClient, raw: str) -> dict[str, Any]:
    response = me(client, raw)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert body["type"] == "api_key"
    return body


def assert_key_refused(response: Any, reason: str | None = None) -> dict[str, Any]:
    """A 401 in the SPEC shape with an ``ApiKey`` challenge (and ``reason`` in the message)."""
    text = response.get_data(as_text=True)
    assert response.status_code == 401, text
    assert response.headers.get("WWW-Authenticate", "").startswith("ApiKey"), dict(response.headers)
    body: dict[str, Any] = response.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized", body
    if reason is not None:
        assert reason in body["message"], body
    return body


def create_project(client: FlaskClient, headers: dict[str, str], slug: str) -> str:
    response = client.post("/api/auth/projects", json={"name": slug.title(), "slug": slug}, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def secret_parts(raw: str) -> list[str]:
    """What must never be stored or shown: the key, and any 8 characters of its hidden middle.

    The display prefix (16 characters) and the last 4 are stored and shown by design;
    8 random base62 characters turning up by chance in a dump is a 1 in 10^14 event.
    """
    hidden = raw[16:-4]
    return [raw, *(hidden[i : i + 8] for i in range(len(hidden) - 7))]


def _stringify(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        data = bytes(value)
        return " ".join([data.hex(), repr(data), data.decode("latin-1"), base64.b64encode(data).decode()])
    if isinstance(value, dict | list):
        return json.dumps(value, default=str) + " " + repr(value)
    return f"{value} {value!r}"


def dump_database(app: Flask) -> str:
    """Every value of every row of every table, as text (bytes as hex, repr, latin-1 and base64)."""
    parts = []
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            for row in db.session.execute(select(table)).all():
                parts.append(table.name + ": " + " | ".join(_stringify(value) for value in row))
        db.session.rollback()
    return "\n".join(parts)


def audit_events(app: Flask, type: str | None = None) -> list[dict[str, Any]]:
    """Audit events (of ``type``) as plain dicts, oldest first (ties, as under a frozen clock, by id)."""
    with app.app_context():
        query = select(AuditEvent).order_by(AuditEvent.created_at, AuditEvent.id)
        if type is not None:
            query = query.where(AuditEvent.type == type)
        rows = db.session.scalars(query).all()
        events = [
            {
                "id": row.id,
                "type": row.type,
                "tenant_id": row.tenant_id,
                "actor": row.actor,
                "subject": row.subject,
                "ip": row.ip,
                "user_agent": row.user_agent,
                "details": dict(row.details or {}),
            }
            for row in rows
        ]
        db.session.rollback()
        return events


def new_events(app: Flask, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Audit events recorded since ``before`` was taken."""
    seen = {e["id"] for e in before}
    return [e for e in audit_events(app) if e["id"] not in seen]


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def stored_pepper_id(app: Flask, key_id: str) -> str:
    """The ``pepper_id`` stored with a key's digest."""
    with app.app_context():
        pepper_id = db.session.scalar(select(ApiKey.pepper_id).where(ApiKey.id == key_id))
        db.session.rollback()
        assert pepper_id is not None, key_id
        return str(pepper_id)


def plain_pepper_hashes(pepper: str) -> set[str]:
    """What a stored ``pepper_id`` must never be (issue 17, F11): a plain, unkeyed hash of the
    pepper, which anybody holding a guess of the pepper could confirm offline."""
    return {
        hashlib.sha256(pepper.encode()).hexdigest()[:16],
        hashlib.sha256(b"outter-api-key-pepper:" + pepper.encode()).hexdigest()[:16],
    }
