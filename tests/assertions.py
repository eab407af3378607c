"""Assertions shared by the API tests."""

from __future__ import annotations

from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

# SPEC §3, spelled out here rather than imported, so a change in the code cannot hide itself.
# Owners and admins hold all of them; clients:read / clients:write came with issue 17 (F1).
SPEC_CLIENT_SCOPES = frozenset({"clients:read", "clients:write"})
SPEC_MANAGEMENT_SCOPES = frozenset(
    {"api_keys:read", "api_keys:write", "users:read", "users:write", "projects:read", "projects:write", "audit:read"}
    | SPEC_CLIENT_SCOPES
)

# SPEC §7: every header the gateway check answers an identity with.
IDENTITY_HEADERS = (
    "X-Outter-Tenant-Id",
    "X-Outter-Project-Id",
    "X-Outter-Environment",
    "X-Outter-Scopes",
    "X-Outter-Key-Id",
    "X-Outter-User-Id",
    "X-Outter-Client-Id",
)

# RFC 6750 §3.1: no error code when no credential was sent; both schemes are offered.
MISSING_CREDENTIALS_CHALLENGE = 'Bearer realm="outter", ApiKey realm="outter"'


def assert_error(response: Any, status: int, field: str | None = None, location: str = "json") -> dict[str, Any]:
    """``status`` in the SPEC §4 shape, as JSON, with a message and no traceback.

    A 422 always names what is at fault (SPEC §4: "422 adds ``errors`` per field"), in
    webargs' shape: by location, then field; a list field's messages by item index (e.g.
    ``{"json": {"scopes": {"0": ["Not a valid string."]}}}``), and a body that is not an
    object at all under ``_schema`` or as the location's own list. ``field``: the field the
    422 must name in ``location``.
    """
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text, text
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert body["status"] == HTTP_STATUS_CODES[status]
    assert isinstance(body["message"], str) and body["message"]
    if status == 422:
        errors = body.get("errors")
        assert isinstance(errors, dict) and errors, f"a 422 names the fields at fault: {body}"
        assert all(_are_messages(node) for node in errors.values()), body
    if field is not None:
        assert field in body["errors"][location], body["errors"]
    return body


def _are_messages(node: Any) -> bool:
    """A non-empty list of non-empty strings, or a non-empty mapping (of fields or item
    indexes) to such."""
    if isinstance(node, list):
        return bool(node) and all(isinstance(m, str) and m for m in node)
    return isinstance(node, dict) and bool(node) and all(_are_messages(v) for v in node.values())
