"""The gateway contract (SPEC §7): POST /api/auth/api-keys/verify and GET /api/auth/gateway/check."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.services import api_key_format
from tests.api_key_helpers import bad_checksum, create_key
from tests.queries import QueryCounter

VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"
IDENTITY = ("X-Outter-Tenant-Id", "X-Outter-Project-Id", "X-Outter-Environment", "X-Outter-Scopes")


@pytest.fixture
def key(client, owner) -> dict:
    return create_key(client, owner.headers, name="gateway", scopes=["content:generate", "content:read"])


def test_verify_a_valid_key(client, owner, key):
    response = client.post(VERIFY, headers={"X-API-Key": key["key"]})
    assert response.status_code == 200
    assert response.get_json() == {
        "valid": True,
        "key_id": key["id"],
        "tenant_id": owner.tenant_id,
        "project_id": None,
        "environment": "live",
        "scopes": ["content:generate", "content:read"],
        "expires_at": None,
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_verify_takes_the_key_from_the_body_too(client, key):
    response = client.post(VERIFY, json={"key": key["key"], "required_scopes": ["content:read"]})
    assert response.status_code == 200 and response.get_json()["key_id"] == key["id"]


def test_verify_missing_scope_is_403(client, key):
    response = client.post(VERIFY, headers={"X-API-Key": key["key"]}, json={"required_scopes": ["billing:write"]})
    assert response.status_code == 403
    assert response.get_json() == {"valid": False, "code": "insufficient_scope", "missing_scopes": ["billing:write"]}


def _revoked(client, owner, key):
    assert client.delete(f"/api/auth/api-keys/{key['id']}", headers=owner.headers).status_code == 204
    return key["key"]


def test_verify_without_a_key_is_missing(client):
    response = client.post(VERIFY)
    assert response.status_code == 401
    assert response.get_json() == {"valid": False, "code": "missing"}


@pytest.mark.parametrize(
    "body",
    [
        [1, 2],
        {"key": "x", "extra": 1},
        {"required_scopes": "content:read"},
        {"required_scopes": [1]},
        {"required_scopes": ["a"] * 101},
    ],
    ids=["not-an-object", "unknown-field", "scopes-not-a-list", "scope-not-a-string", "too-many-scopes"],
)
def test_verify_bad_bodies_are_400(client, key, body):
    response = client.post(VERIFY, headers={"X-API-Key": key["key"]}, json=body)
    assert response.status_code == 400
    assert response.get_json()["valid"] is False


def test_verify_non_json_body_is_415(client, key):
    response = client.post(VERIFY, headers={"X-API-Key": key["key"]}, data="key=x", content_type="text/plain")
    assert response.status_code == 415


def test_check_with_a_key_answers_identity_headers_and_no_body(client, owner, key):
    response = client.get(CHECK, headers={"X-API-Key": key["key"]})
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["X-Outter-Key-Id"] == key["id"]
    assert response.headers["X-Outter-Tenant-Id"] == owner.tenant_id
    assert response.headers["X-Outter-Project-Id"] == ""
    assert response.headers["X-Outter-Environment"] == "live"
    assert response.headers["X-Outter-Scopes"] == "content:generate content:read"
    assert "X-Outter-User-Id" not in response.headers


def test_check_with_a_project_key(client, owner):
    project = client.post("/api/auth/projects", json={"name": "Docs"}, headers=owner.headers).get_json()
    raw = create_key(client, owner.headers, name="p", project_id=project["id"], environment="test")["key"]
    response = client.get(CHECK, headers={"X-API-Key": raw})
    assert response.headers["X-Outter-Project-Id"] == project["id"]
    assert response.headers["X-Outter-Environment"] == "test"


@pytest.mark.parametrize(
    ("required", "status"),
    [
        ("content:read", 200),
        ("content:read content:generate", 200),
        ("content:read,content:generate", 200),
        (" content:read , ", 200),
        ("billing:write", 403),
        ("content:read billing:write", 403),
    ],
)
def test_check_required_scopes(client, key, required, status):
    response = client.get(CHECK, headers={"X-API-Key": key["key"], "X-Outter-Required-Scopes": required})
    assert response.status_code == status
    if status != 200:
        assert response.get_data() == b""
        assert not any(h in response.headers for h in IDENTITY)


def test_check_with_a_user_jwt(client, owner):
    response = client.get(CHECK, headers=owner.headers)
    assert response.status_code == 200 and response.get_data() == b""
    assert response.headers["X-Outter-User-Id"] == owner.user_id
    assert response.headers["X-Outter-Tenant-Id"] == owner.tenant_id
    assert "users:write" in response.headers["X-Outter-Scopes"].split()
    assert "X-Outter-Key-Id" not in response.headers


def test_check_without_credentials_is_401(client):
    response = client.get(CHECK)
    assert response.status_code == 401 and response.get_data() == b""
    assert "ApiKey" in response.headers["WWW-Authenticate"]


def test_check_with_an_expired_jwt_is_401_even_after_caching(client, owner):
    clock.freeze(datetime.now(UTC))
    assert client.get(CHECK, headers=owner.headers).status_code == 200
    clock.advance(900 + 31)
    assert client.get(CHECK, headers=owner.headers).status_code == 401


def test_a_flood_of_one_unknown_key_costs_one_query_per_ttl(app, client):
    unknown = api_key_format.generate("live")
    clock.freeze(datetime.now(UTC))
    with app.app_context(), QueryCounter(db.engine) as counter:
        for _ in range(200):
            assert client.post(VERIFY, headers={"X-API-Key": unknown}).status_code == 401
            assert client.get(CHECK, headers={"X-API-Key": unknown}).status_code == 401
    assert len([s for s in counter.statements if "api_keys" in s]) == 1


def test_malformed_keys_cost_no_query_at_all(app, client):
    with app.app_context(), QueryCounter(db.engine) as counter:
        for bad in (
            "outter_live_short",
            "x" * 50,
            "outter_prod_" + "a" * 38,
            bad_checksum(api_key_format.generate("live")),  # never the key itself (1 in 62 ends in "0")
        ):
            client.post(VERIFY, headers={"X-API-Key": bad})
            client.get(CHECK, headers={"X-API-Key": bad})
    assert counter.statements == []


def test_a_valid_key_is_read_once_then_served_from_the_cache(app, client, key):
    with app.app_context(), QueryCounter(db.engine) as counter:
        for _ in range(100):
            assert client.post(VERIFY, headers={"X-API-Key": key["key"]}).status_code == 200
    assert len([s for s in counter.statements if "api_keys" in s]) <= 1


def test_revocation_is_seen_at_once_by_the_process_that_revoked(client, owner, key):
    assert client.post(VERIFY, headers={"X-API-Key": key["key"]}).status_code == 200  # now cached
    _revoked(client, owner, key)
    assert client.post(VERIFY, headers={"X-API-Key": key["key"]}).get_json() == {"valid": False, "code": "revoked"}
