"""Security review (issue 17), findings F1-F3: no credential mints or reaches more than it holds.

Each test reproduces one attack of the review and asserts the fixed behaviour (SPEC §3: "no
credential can mint a credential with more power than it has"; "a key bound to a project or
environment sees and changes only what lies within them, on every endpoint"). The other
findings are in ``test_security_review_tokens.py`` (F4, F5, F9, F10) and
``test_security_review_hardening.py`` (F6-F8, F11, F12).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api_key_helpers import (
    KEYS,
    assert_key_works,
    audit_events,
    create_key,
    create_project,
    freeze_now,
    get_key,
    iso,
    key_headers,
    list_keys,
)
from tests.assertions import assert_error
from tests.factories import PASSWORD, Actor
from tests.oauth_helpers import (
    OUTTER_APP,
    OAuthClient,
    assert_token_response,
    bearer,
    create_client,
    password_grant,
    token_request,
)

CLIENTS = "/api/auth/clients"
PROJECTS = "/api/auth/projects"
USERS = "/api/auth/users"
VERIFY = "/api/auth/api-keys/verify"
CLIENT_SCOPES = ["clients:read", "clients:write"]
MACHINE = {"name": "Machine", "grant_types": ["client_credentials"]}


def narrowed_token(client: FlaskClient, owner: Actor, scope: str) -> str:
    """The owner's access token through the first-party client, narrowed to ``scope``."""
    body = assert_token_response(password_grant(client, OUTTER_APP, owner.email, PASSWORD, scope=scope))
    assert set(body["scope"].split()) == set(scope.split()), body
    return str(body["access_token"])


def client_token(client: FlaskClient, oauth_client: OAuthClient) -> str:
    body = assert_token_response(
        token_request(client, {"grant_type": "client_credentials"}, oauth_client), refresh=False
    )
    return str(body["access_token"])


def client_ids(client: FlaskClient, owner: Actor) -> list[str]:
    response = client.get(CLIENTS, query_string={"page_size": 100}, headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [c["client_id"] for c in response.get_json()]


def make_client(client: FlaskClient, headers: dict[str, str], scopes: list[str]) -> Any:
    return client.post(CLIENTS, json={**MACHINE, "scopes": scopes}, headers=headers)


# --- F1 (High): a narrowed token or a machine cannot mint an OAuth client beyond its scopes --------


def test_f1_narrowed_owner_token_cannot_mint_a_client_beyond_its_scopes(client, owner: Actor):
    token = narrowed_token(client, owner, "audit:read")

    response = make_client(client, bearer(token), ["api_keys:write", "users:write"])

    if response.status_code == 201:
        # The escalation as it stands: the minted client's token creates an API key.
        created = response.get_json()
        machine = client_token(client, OAuthClient(created["client_id"], created["client_secret"]))
        key = client.post(KEYS, json={"name": "minted", "scopes": ["api_keys:write"]}, headers=bearer(machine))
        pytest.fail(
            "a token narrowed to audit:read created a client with api_keys:write users:write (201); "
            f"that client's token then created an API key: {key.status_code} {key.get_data(as_text=True)[:200]}"
        )
    assert_error(response, 403)
    assert client_ids(client, owner) == []


def test_f1_the_client_routes_need_the_clients_scopes(client, owner: Actor):
    existing = make_client(client, owner.headers, ["users:read"])  # an owner's full token may
    assert existing.status_code == 201, existing.get_data(as_text=True)
    client_id = existing.get_json()["client_id"]
    by_id = f"{CLIENTS}/{client_id}"
    before = client.get(by_id, headers=owner.headers).get_json()
    no_clients_scope = bearer(narrowed_token(client, owner, "audit:read"))

    assert_error(client.get(CLIENTS, headers=no_clients_scope), 403)
    assert_error(client.get(by_id, headers=no_clients_scope), 403)
    read_only = bearer(narrowed_token(client, owner, "clients:read"))
    assert client.get(CLIENTS, headers=read_only).status_code == 200
    assert client.get(by_id, headers=read_only).status_code == 200
    for headers in (no_clients_scope, read_only):
        assert_error(make_client(client, headers, []), 403)
        assert_error(client.patch(by_id, json={"name": "renamed"}, headers=headers), 403)
        assert_error(client.post(f"{by_id}/rotate-secret", headers=headers), 403)
        assert_error(client.delete(by_id, headers=headers), 403)
    assert client.get(by_id, headers=owner.headers).get_json() == before
    assert client_ids(client, owner) == [client_id]


def test_f1_a_token_with_clients_write_cannot_grant_scopes_it_lacks(client, owner: Actor):
    existing = make_client(client, owner.headers, ["users:read"])
    assert existing.status_code == 201, existing.get_data(as_text=True)
    by_id = f"{CLIENTS}/{existing.get_json()['client_id']}"
    headers = bearer(narrowed_token(client, owner, "clients:read clients:write users:read"))

    within = make_client(client, headers, ["users:read"])
    beyond = make_client(client, headers, ["users:read", "api_keys:write"])
    widened = client.patch(by_id, json={"scopes": ["users:read", "api_keys:write"]}, headers=headers)

    assert within.status_code == 201, within.get_data(as_text=True)
    assert_error(beyond, 403)
    assert_error(widened, 403)
    assert client.get(by_id, headers=owner.headers).get_json()["scopes"] == ["users:read"]
    assert len(client_ids(client, owner)) == 2


def test_f1_a_client_with_clients_write_creates_clients_only_within_its_scopes(app, client, owner: Actor):
    maker = create_client(app, "maker", "client_credentials", scope="clients:write users:read")
    headers = bearer(client_token(client, maker))

    within = make_client(client, headers, ["users:read"])
    beyond = make_client(client, headers, ["api_keys:write"])

    assert within.status_code == 201, within.get_data(as_text=True)
    assert within.get_json()["scopes"] == ["users:read"]
    assert_error(beyond, 403)
    assert sorted(client_ids(client, owner)) == sorted([maker.client_id, within.get_json()["client_id"]])


def test_f1_api_keys_never_create_or_change_clients(client, owner: Actor):
    """A client has no environment, project or expiry: it would always exceed a key's bounds.
    (Already 403 before the fix, through ``require_admin``; kept as a guard for the new scopes.)"""
    existing = make_client(client, owner.headers, [])
    assert existing.status_code == 201, existing.get_data(as_text=True)
    by_id = f"{CLIENTS}/{existing.get_json()['client_id']}"
    everything = [*CLIENT_SCOPES, "api_keys:read", "api_keys:write", "users:read", "users:write"]
    headers = key_headers(create_key(client, owner.headers, scopes=everything)["key"])

    assert_error(make_client(client, headers, []), 403)
    assert_error(client.patch(by_id, json={"name": "renamed", "scopes": []}, headers=headers), 403)
    assert_error(client.post(f"{by_id}/rotate-secret", headers=headers), 403)
    assert_error(client.delete(by_id, headers=headers), 403)
    assert client.get(by_id, headers=owner.headers).get_json()["name"] == "Machine"


# --- F2 (Medium): a key in its rotation grace expires, for what it mints, when the grace ends ------


def test_f2_a_key_in_its_rotation_grace_cannot_mint_keys_that_outlive_the_grace(client, owner: Actor):
    now = freeze_now()
    old = create_key(client, owner.headers, name="A", scopes=["api_keys:write", "content:generate"])
    rotated = client.post(f"{KEYS}/{old['id']}/rotate", json={"grace_period_seconds": 3600}, headers=owner.headers)
    assert rotated.status_code == 201, rotated.get_data(as_text=True)
    assert_key_works(client, old["key"])  # still valid during the grace
    grace_ends = now + timedelta(seconds=3600)
    headers = key_headers(old["key"])

    def mint(**extra: Any) -> Any:
        return client.post(KEYS, json={"name": "minted", "scopes": ["content:generate"], **extra}, headers=headers)

    assert_error(mint(), 403)  # no expiry: it would outlive the grace
    assert_error(mint(expires_at=iso(grace_ends + timedelta(seconds=60))), 403)
    inside = mint(expires_at=iso(now + timedelta(seconds=1800)))
    assert inside.status_code == 201, inside.get_data(as_text=True)


# --- F3 (Medium): bound keys see and change only their project and environment -----------------


@pytest.fixture
def estate(client, owner: Actor) -> dict[str, Any]:
    """Projects sandbox and production with keys in and around them, and the owner's view."""
    sandbox, production = (
        create_project(client, owner.headers, "sandbox"),
        create_project(client, owner.headers, "production"),
    )
    keys = {
        "production-live": create_key(client, owner.headers, project_id=production, environment="live"),
        "production-test": create_key(client, owner.headers, project_id=production, environment="test"),
        "sandbox-live": create_key(client, owner.headers, project_id=sandbox, environment="live"),
        "sandbox-test": create_key(client, owner.headers, project_id=sandbox, environment="test"),
        "tenant-wide-test": create_key(client, owner.headers, environment="test"),
    }
    return {"sandbox": sandbox, "production": production, "keys": keys}


def bound_key(client: FlaskClient, owner: Actor, estate: dict[str, Any], scopes: list[str]) -> dict[str, Any]:
    """A ``test`` key bound to project sandbox."""
    return create_key(
        client, owner.headers, name="bound", scopes=scopes, environment="test", project_id=estate["sandbox"]
    )


def test_f3_a_project_bound_key_cannot_delete_another_project(client, owner: Actor, estate):
    caller = key_headers(bound_key(client, owner, estate, ["projects:read", "projects:write"])["key"])
    production = f"{PROJECTS}/{estate['production']}"
    before = client.get(production, headers=owner.headers).get_json()

    assert_error(client.delete(production, headers=caller), 404)
    assert_error(client.delete(production, query_string={"revoke_keys": "true"}, headers=caller), 404)

    assert client.get(production, headers=owner.headers).get_json() == before
    for name in ("production-live", "production-test"):
        key = estate["keys"][name]
        assert get_key(client, owner.headers, key["id"])["revoked_at"] is None
        assert client.post(VERIFY, headers=key_headers(key["key"])).status_code == 200, name


def test_f3_a_project_bound_key_sees_only_its_own_project(client, owner: Actor, estate):
    caller = key_headers(bound_key(client, owner, estate, ["projects:read"])["key"])

    listed = client.get(PROJECTS, query_string={"page_size": 100}, headers=caller)

    assert listed.status_code == 200, listed.get_data(as_text=True)
    assert [p["id"] for p in listed.get_json()] == [estate["sandbox"]]
    assert_error(client.get(f"{PROJECTS}/{estate['production']}", headers=caller), 404)
    assert client.get(f"{PROJECTS}/{estate['sandbox']}", headers=caller).status_code == 200


def test_f3_a_bound_key_lists_and_reads_only_keys_of_its_project_and_environment(client, owner: Actor, estate):
    caller = bound_key(client, owner, estate, ["api_keys:read"])
    headers = key_headers(caller["key"])
    inside = {caller["id"], estate["keys"]["sandbox-test"]["id"]}

    listed = {k["id"] for k in list_keys(client, headers, include_revoked="true")}

    assert listed == inside
    for outside in ({"environment": "live"}, {"project_id": estate["production"]}):
        filtered = client.get(KEYS, query_string={"include_revoked": "true", **outside}, headers=headers)
        # Nothing outside, whether the filter is answered with an empty list or refused.
        assert (filtered.status_code, filtered.get_json()) == (200, []) or filtered.status_code == 403, outside
    for name in ("production-live", "production-test", "sandbox-live", "tenant-wide-test"):
        assert_error(client.get(f"{KEYS}/{estate['keys'][name]['id']}", headers=headers), 404)
    for key_id in inside:
        assert get_key(client, headers, key_id)["id"] == key_id


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", USERS, None, id="list-users"),
        pytest.param("GET", USERS + "/{owner}", None, id="get-user"),
        pytest.param("POST", USERS, {"email": "new@acme.test", "password": "a long password 123"}, id="create-user"),
        pytest.param("GET", CLIENTS, None, id="list-clients"),
        pytest.param("POST", CLIENTS, {**MACHINE, "scopes": []}, id="create-client"),
        pytest.param("POST", PROJECTS, {"name": "Rogue", "slug": "rogue"}, id="create-project"),
    ],
)
def test_f3_a_project_bound_key_is_refused_tenant_wide_resources(client, owner: Actor, estate, method, path, body):
    scopes = ["users:read", "users:write", *CLIENT_SCOPES, "projects:read", "projects:write"]
    caller = key_headers(bound_key(client, owner, estate, scopes)["key"])
    users_before = client.get(USERS, headers=owner.headers).get_json()
    projects_before = client.get(PROJECTS, headers=owner.headers).get_json()

    response = client.open(path.format(owner=owner.user_id), method=method, json=body, headers=caller)

    assert_error(response, 403)
    assert client.get(USERS, headers=owner.headers).get_json() == users_before
    assert client.get(PROJECTS, headers=owner.headers).get_json() == projects_before
    assert client_ids(client, owner) == []


def test_f3_deleting_a_project_with_live_keys_asks_for_revoke_keys_and_keeps_the_records(app, client, owner, estate):
    path = f"{PROJECTS}/{estate['sandbox']}"
    keys = [estate["keys"]["sandbox-live"], estate["keys"]["sandbox-test"]]

    assert_error(client.delete(path, headers=owner.headers), 409)
    assert client.get(path, headers=owner.headers).status_code == 200
    for key in keys:
        assert_key_works(client, key["key"])

    deleted = client.delete(path, query_string={"revoke_keys": "true"}, headers=owner.headers)

    assert deleted.status_code == 204, deleted.get_data(as_text=True)
    assert_error(client.get(path, headers=owner.headers), 404)
    for key in keys:
        assert get_key(client, owner.headers, key["id"])["revoked_at"] is not None
        refused = client.post(VERIFY, headers=key_headers(key["key"]))
        assert refused.status_code == 401 and refused.get_json() == {"valid": False, "code": "revoked"}
    for name in ("production-live", "production-test", "tenant-wide-test"):
        assert_key_works(client, estate["keys"][name]["key"])
    events = [e for e in audit_events(app, "project.deleted") if e["subject"] == estate["sandbox"]]
    assert len(events) == 1 and events[0]["tenant_id"] == owner.tenant_id, events


def test_f3_a_project_without_live_keys_deletes_without_the_flag(client, owner: Actor):
    empty = create_project(client, owner.headers, "empty")
    retired = create_project(client, owner.headers, "retired")
    revoked = create_key(client, owner.headers, project_id=retired)
    assert client.delete(f"{KEYS}/{revoked['id']}", headers=owner.headers).status_code == 204

    for project in (empty, retired):
        response = client.delete(f"{PROJECTS}/{project}", headers=owner.headers)
        assert response.status_code == 204, response.get_data(as_text=True)

    assert client.get(PROJECTS, headers=owner.headers).get_json() == []
    assert get_key(client, owner.headers, revoked["id"])["revoked_at"] is not None  # the record stays
