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


def assert_error(response: Any, status: int) -> dict[str, Any]:
    """``status`` in the SPEC §4 shape, as JSON, with a message and no traceback."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    assert "Traceback" not in text and 'File "' not in text
    body = response.get_json()
    assert body["code"] == status
    assert body["status"] == HTTP_STATUS_CODES[status]
    assert isinstance(body["message"], str) and body["message"]
    return body
