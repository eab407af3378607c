"""REST management of OAuth clients: /api/auth/clients (owners and admins of the tenant).

A client secret is shown once (create, rotate-secret), never again, and only a
32-byte digest of it is stored. Every change is audited without the secret.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from outter_auth import clock
from outter_auth.extensions import db
from tests.api_key_helpers import audit_events
from tests.assertions import assert_error
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import (
    OAuthClient,
    assert_oauth_error,
    assert_token_response,
    bearer,
    token_request,
    verify_access_token,
)

URL = "/api/auth/clients"
SECRET = re.compile(r"ocs_[A-Za-z0-9_-]{43,}")
FIELDS = {
    "client_id",
    "tenant_id",
    "name",
    "public",
    "first_party",
    "grant_types",
    "scopes",
    "redirect_uris",
    "post_logout_redirect_uris",
    "created_at",
    "updated_at",
}
MACHINE = {"name": "Billing", "grant_types": ["client_credentials"], "scopes": ["users:read", "content:generate"]}


def create(client, actor: Actor, **changes: Any) -> dict[str, Any]:
    response = client.post(URL, json={**MACHINE, **changes}, headers=actor.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def credentials(body: dict[str, Any]) -> OAuthClient:
    return OAuthClient(body["client_id"], body["client_secret"])


def cc(client, oauth_client: OAuthClient, **form: str) -> Any:
    return token_request(client, {"grant_type": "client_credentials", **form}, oauth_client)


@pytest.fixture(params=["owner", "admin"])
def manager(request, owner: Actor, make: Factory) -> Actor:
    return owner if request.param == "owner" else make.actor("acme", "admin@acme.test", "admin")


# --- create --------------------------------------------------------------------------------------


def test_create_shows_the_secret_once(client, manager: Actor):
    response = client.post(URL, json=MACHINE, headers=manager.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == FIELDS | {"client_secret"}
    assert SECRET.fullmatch(body["client_secret"]), body["client_secret"]
    assert body["client_id"] and body["tenant_id"] == manager.tenant_id
    assert body["name"] == "Billing"
    assert body["public"] is False and body["first_party"] is False
    assert body["grant_types"] == ["client_credentials"]
    assert body["scopes"] == ["users:read", "content:generate"]
    assert body["redirect_uris"] == []

    token = assert_token_response(cc(client, credentials(body)), refresh=False)
    claims = verify_access_token(client, token["access_token"])
    assert claims["sub"] == body["client_id"] and claims["tenant_id"] == manager.tenant_id


def test_secrets_are_unique(client, owner: Actor):
    secrets = {create(client, owner, name=f"c{i}")["client_secret"] for i in range(5)}
    assert len(secrets) == 5


def test_the_secret_is_never_shown_again(client, owner: Actor):
    created = create(client, owner)
    secret, client_id = created["client_secret"], created["client_id"]

    responses = [
        client.get(URL, headers=owner.headers),
        client.get(f"{URL}/{client_id}", headers=owner.headers),
        client.patch(f"{URL}/{client_id}", json={"name": "Renamed"}, headers=owner.headers),
        client.get(f"{URL}/{client_id}", headers=owner.headers),
    ]

    for response in responses:
        assert response.status_code == 200
        assert "client_secret" not in response.get_data(as_text=True)
        assert secret not in response.get_data(as_text=True)
    assert set(responses[1].get_json()) == FIELDS


def _fragments(secret: str, size: int = 12) -> set[bytes]:
    """Every ``size``-character piece of the secret, raw and hex-encoded: no column may hold any."""
    pieces = {secret[i : i + size] for i in range(len(secret) - size + 1)}
    return {p.encode() for p in pieces} | {p.encode().hex().encode() for p in pieces}


def test_the_database_holds_only_a_digest(app, client, owner: Actor):
    created = create(client, owner)
    secret = created["client_secret"]
    fragments = _fragments(secret)

    with app.app_context():
        row = db.session.execute(text("SELECT * FROM oauth_clients WHERE id = :id"), {"id": created["client_id"]})
        values = dict(row.mappings().one())
        audit = db.session.execute(text("SELECT * FROM audit_events")).mappings().all()

    digest = values["secret_digest"]
    assert isinstance(digest, bytes | memoryview) and len(bytes(digest)) == 32
    for column, value in values.items():
        raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        assert not any(fragment in raw for fragment in fragments), f"column {column} holds part of the secret"
    dumped = json.dumps([dict(r) for r in audit], default=str).encode()
    assert not any(fragment in dumped for fragment in fragments)


def test_public_client_has_no_secret(app, client, owner: Actor):
    body = create(client, owner, name="SPA", grant_types=["refresh_token"], scopes=[], public=True)

    assert body["client_secret"] is None
    assert body["public"] is True
    with app.app_context():
        digest = db.session.execute(
            text("SELECT secret_digest FROM oauth_clients WHERE id = :id"), {"id": body["client_id"]}
        ).scalar_one()
    assert digest is None


def test_public_client_secret_cannot_be_rotated(client, owner: Actor):
    body = create(client, owner, name="SPA", grant_types=["refresh_token"], scopes=[], public=True)
    response = client.post(f"{URL}/{body['client_id']}/rotate-secret", headers=owner.headers)
    assert "no secret" in assert_error(response, 422, "_schema")["message"]


BAD_CREATE = [
    pytest.param({"grant_types": ["password"]}, "grant_types", id="password-grant"),
    pytest.param({"grant_types": ["password", "refresh_token"]}, "grant_types", id="password-among-others"),
    pytest.param({"grant_types": ["implicit"]}, "grant_types", id="implicit"),
    pytest.param(
        {"grant_types": ["authorization_code"]}, "redirect_uris", id="authorization-code-without-redirect-uri"
    ),
    pytest.param(
        {"grant_types": ["authorization_code"], "redirect_uris": ["http://app.example/cb"]},
        "redirect_uris",
        id="redirect-uri-http-off-loopback",
    ),
    pytest.param({"redirect_uris": ["https://app.example/cb#frag"]}, "redirect_uris", id="redirect-uri-fragment"),
    pytest.param({"redirect_uris": ["https://user@app.example/cb"]}, "redirect_uris", id="redirect-uri-userinfo"),
    pytest.param({"post_logout_redirect_uris": ["data:text/html,x"]}, "post_logout_redirect_uris", id="logout-uri"),
    pytest.param({"grant_types": ["foo"]}, "grant_types", id="unknown"),
    pytest.param({"grant_types": []}, "grant_types", id="none"),
    pytest.param({"grant_types": "client_credentials"}, "grant_types", id="not-a-list"),
    pytest.param({"grant_types": None}, "grant_types", id="null"),
    pytest.param({"public": True}, "grant_types", id="public-client-credentials"),
    pytest.param({"scopes": ["Bad Scope"]}, "scopes", id="scope-grammar"),
    pytest.param({"scopes": ["users:READ"]}, "scopes", id="scope-uppercase"),
    pytest.param({"scopes": [""]}, "scopes", id="scope-empty"),
    pytest.param({"scopes": ["a" * 65]}, "scopes", id="scope-too-long"),
    pytest.param({"scopes": "users:read"}, "scopes", id="scopes-not-a-list"),
    pytest.param({"scopes": [42]}, "scopes", id="scope-not-a-string"),
    pytest.param({"name": ""}, "name", id="name-empty"),
    pytest.param({"name": "x" * 201}, "name", id="name-too-long"),
    pytest.param({"public": "yes"}, "public", id="public-not-a-boolean"),
    pytest.param({"redirect_uris": ["javascript:alert(1)"]}, "redirect_uris", id="redirect-uri-scheme"),
]


@pytest.mark.parametrize(("changes", "field"), BAD_CREATE)
def test_bad_create_is_422_and_creates_nothing(app, client, owner: Actor, changes, field: str):
    response = client.post(URL, json={**MACHINE, **changes}, headers=owner.headers)

    body = assert_error(response, 422)
    assert field in json.dumps(body.get("errors", {})) or field.replace("_", " ") in body["message"], body
    assert client.get(URL, headers=owner.headers).get_json() == []
    assert audit_events(app, "client.created") == []


@pytest.mark.parametrize("missing", ["name", "grant_types"])
def test_required_fields(client, owner: Actor, missing: str):
    body = {k: v for k, v in MACHINE.items() if k != missing}
    assert_error(client.post(URL, json=body, headers=owner.headers), 422)


def test_rest_cannot_make_a_first_party_client(client, owner: Actor):
    """The password grant is for first-party clients, which only an operator (CLI) makes."""
    response = client.post(URL, json={**MACHINE, "first_party": True}, headers=owner.headers)
    if response.status_code == 201:
        assert response.get_json()["first_party"] is False
    else:
        assert_error(response, 422)


# --- list and get ----------------------------------------------------------------------------


def test_list_is_paginated_and_confined_to_the_tenant(client, owner: Actor, other_owner: Actor, globex_machine):
    made = [create(client, owner, name=f"client {i}") for i in range(3)]
    create(client, other_owner, name="globex client")  # and globex_machine, made by the CLI

    first = client.get(URL, query_string={"page": 1, "page_size": 2}, headers=owner.headers)
    second = client.get(URL, query_string={"page": 2, "page_size": 2}, headers=owner.headers)

    assert first.status_code == second.status_code == 200
    listed = first.get_json() + second.get_json()
    assert [c["client_id"] for c in listed] == [c["client_id"] for c in made]
    assert all(set(c) == FIELDS for c in listed)
    assert all(c["tenant_id"] == owner.tenant_id for c in listed)
    assert json.loads(first.headers["X-Pagination"])["total"] == 3
    assert json.loads(second.headers["X-Pagination"])["page"] == 2


def test_get_returns_the_client(client, owner: Actor):
    created = create(client, owner)
    response = client.get(f"{URL}/{created['client_id']}", headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json() == {k: v for k, v in created.items() if k != "client_secret"}


def test_cli_made_clients_are_listed_too(client, owner: Actor, web_app):
    made = web_app
    listed = client.get(URL, headers=owner.headers).get_json()
    assert [(c["client_id"], c["first_party"]) for c in listed] == [(made.client_id, True)]


# --- update ------------------------------------------------------------------------------------


def test_patch_name(client, owner: Actor):
    created = create(client, owner)
    response = client.patch(f"{URL}/{created['client_id']}", json={"name": "Invoicing"}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json()["name"] == "Invoicing"
    assert client.get(f"{URL}/{created['client_id']}", headers=owner.headers).get_json()["name"] == "Invoicing"


def test_patch_scopes_applies_to_the_next_token(client, owner: Actor):
    created = create(client, owner)
    oauth_client = credentials(created)
    assert_token_response(cc(client, oauth_client, scope="content:generate"), refresh=False)  # now cached, if at all

    response = client.patch(f"{URL}/{created['client_id']}", json={"scopes": ["users:read"]}, headers=owner.headers)

    assert response.status_code == 200 and response.get_json()["scopes"] == ["users:read"]
    assert_oauth_error(cc(client, oauth_client, scope="content:generate"), 400, "invalid_scope")
    token = assert_token_response(cc(client, oauth_client), refresh=False)
    assert verify_access_token(client, token["access_token"])["scope"] == "users:read"


def test_patch_grant_types_applies_at_once(client, owner: Actor):
    created = create(client, owner)
    oauth_client = credentials(created)
    assert_token_response(cc(client, oauth_client), refresh=False)

    response = client.patch(
        f"{URL}/{created['client_id']}", json={"grant_types": ["refresh_token"]}, headers=owner.headers
    )

    assert response.status_code == 200 and response.get_json()["grant_types"] == ["refresh_token"]
    assert_oauth_error(cc(client, oauth_client), 400, "unauthorized_client")


def _login_through(client, web_app: OAuthClient, owner: Actor) -> dict[str, Any]:
    form = {"grant_type": "password", "username": owner.email, "password": PASSWORD}
    return assert_token_response(token_request(client, form, web_app))


def _refresh_through(client, web_app: OAuthClient, refresh_token: str) -> Any:
    return token_request(client, {"grant_type": "refresh_token", "refresh_token": refresh_token}, web_app)


PASSWORD_FORM = {"grant_type": "password", "password": PASSWORD}


@pytest.mark.parametrize(
    ("grant_types", "login_works", "refresh_works"),
    [
        pytest.param(["refresh_token"], False, True, id="password-dropped"),
        pytest.param(["client_credentials"], False, False, id="both-dropped"),
    ],
)
def test_dropping_grant_types_applies_to_existing_sessions(
    client, owner: Actor, web_app, grant_types, login_works: bool, refresh_works: bool
):
    login = _login_through(client, web_app, owner)

    patch = client.patch(f"{URL}/{web_app.client_id}", json={"grant_types": grant_types}, headers=owner.headers)
    assert patch.status_code == 200

    new_login = token_request(client, {**PASSWORD_FORM, "username": owner.email}, web_app)
    refreshed = _refresh_through(client, web_app, login["refresh_token"])
    for response, works in ((new_login, login_works), (refreshed, refresh_works)):
        if works:
            assert_token_response(response)
        else:
            assert_oauth_error(response, 400, "unauthorized_client")


def test_narrowing_a_clients_scopes_narrows_what_its_sessions_get_on_refresh(client, owner: Actor, web_app):
    login = _login_through(client, web_app, owner)
    assert set(login["scope"].split()) == {"users:read", "users:write"}

    response = client.patch(f"{URL}/{web_app.client_id}", json={"scopes": ["users:read"]}, headers=owner.headers)
    assert response.status_code == 200

    refreshed = assert_token_response(_refresh_through(client, web_app, login["refresh_token"]))
    assert set(refreshed["scope"].split()) <= {"users:read"}
    assert set(verify_access_token(client, refreshed["access_token"])["scope"].split()) <= {"users:read"}


BAD_PATCH = [
    pytest.param({"grant_types": ["password"]}, id="password-grant"),
    pytest.param({"grant_types": ["foo"]}, id="unknown-grant"),
    pytest.param({"grant_types": []}, id="no-grant"),
    pytest.param({"scopes": ["Bad Scope"]}, id="bad-scope"),
    pytest.param({"name": ""}, id="empty-name"),
    pytest.param({"client_secret": "ocs_mine"}, id="secret-is-not-settable"),
    pytest.param({"tenant_id": "ten_other"}, id="tenant-is-not-settable"),
    pytest.param({"first_party": True}, id="first-party-is-not-settable"),
]


@pytest.mark.parametrize("body", BAD_PATCH)
def test_bad_patch_is_422_and_changes_nothing(client, owner: Actor, body):
    created = create(client, owner)
    before = client.get(f"{URL}/{created['client_id']}", headers=owner.headers).get_json()

    assert_error(client.patch(f"{URL}/{created['client_id']}", json=body, headers=owner.headers), 422)

    assert client.get(f"{URL}/{created['client_id']}", headers=owner.headers).get_json() == before
    assert_token_response(cc(client, credentials(created)), refresh=False)


def test_public_client_cannot_be_given_client_credentials(client, owner: Actor):
    """A grant a new client could ask for, refused for what this client is: 409, a conflict
    with its state (the body itself is well-formed)."""
    body = create(client, owner, name="SPA", grant_types=["refresh_token"], scopes=[], public=True)
    response = client.patch(
        f"{URL}/{body['client_id']}", json={"grant_types": ["client_credentials"]}, headers=owner.headers
    )
    assert "public client" in assert_error(response, 409)["message"]


# --- delete and rotate --------------------------------------------------------------------------


def test_delete_stops_the_client_getting_tokens(client, owner: Actor):
    created = create(client, owner)
    oauth_client = credentials(created)
    assert_token_response(cc(client, oauth_client), refresh=False)

    response = client.delete(f"{URL}/{created['client_id']}", headers=owner.headers)

    assert response.status_code == 204
    assert_oauth_error(cc(client, oauth_client), 401, "invalid_client")
    assert_error(client.get(f"{URL}/{created['client_id']}", headers=owner.headers), 404)
    assert_error(client.delete(f"{URL}/{created['client_id']}", headers=owner.headers), 404)
    assert client.get(URL, headers=owner.headers).get_json() == []


def test_delete_stops_refreshing_the_clients_sessions(client, owner: Actor, web_app):
    made = web_app
    form = {"grant_type": "password", "username": owner.email, "password": PASSWORD}
    login = assert_token_response(token_request(client, form, made))

    assert client.delete(f"{URL}/{made.client_id}", headers=owner.headers).status_code == 204

    refreshed = token_request(client, {"grant_type": "refresh_token", "refresh_token": login["refresh_token"]}, made)
    assert_oauth_error(refreshed, 401, "invalid_client")


def test_rotate_secret(client, owner: Actor):
    created = create(client, owner)
    old = credentials(created)
    assert_token_response(cc(client, old), refresh=False)

    response = client.post(f"{URL}/{created['client_id']}/rotate-secret", headers=owner.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == FIELDS | {"client_secret"}
    assert body["client_id"] == created["client_id"]
    assert SECRET.fullmatch(body["client_secret"]) and body["client_secret"] != created["client_secret"]
    assert_oauth_error(cc(client, old), 401, "invalid_client")
    assert_token_response(cc(client, credentials(body)), refresh=False)
    assert "client_secret" not in client.get(f"{URL}/{created['client_id']}", headers=owner.headers).get_json()


# --- who may -------------------------------------------------------------------------------------


def _requests(client_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", URL, None),
        ("POST", URL, MACHINE),
        ("GET", f"{URL}/{client_id}", None),
        ("PATCH", f"{URL}/{client_id}", {"name": "Hijacked"}),
        ("DELETE", f"{URL}/{client_id}", None),
        ("POST", f"{URL}/{client_id}/rotate-secret", None),
    ]


def _send(client, method: str, url: str, body, headers):
    return client.open(url, method=method, json=body, headers=headers)


def _assert_untouched(client, owner: Actor, created: dict[str, Any]) -> None:
    listed = client.get(URL, headers=owner.headers).get_json()
    assert [c["client_id"] for c in listed] == [created["client_id"]]
    assert listed[0]["name"] == created["name"]
    assert_token_response(cc(client, credentials(created)), refresh=False)  # secret unchanged, not deleted


def test_member_is_refused(client, owner: Actor, member: Actor):
    created = create(client, owner)
    for method, url, body in _requests(created["client_id"]):
        assert_error(_send(client, method, url, body, member.headers), 403)
    _assert_untouched(client, owner, created)


def test_client_credentials_token_is_refused_even_with_scopes(app, client, owner: Actor):
    clock.freeze(datetime.now(UTC))  # the token is handed out again below: its expires_in must not tick to 899
    created = create(
        client, owner, scopes=["users:read", "users:write", "api_keys:write", "projects:write", "audit:read"]
    )
    token = assert_token_response(cc(client, credentials(created)), refresh=False)["access_token"]
    me = client.get("/api/auth/me", headers=bearer(token)).get_json()
    assert me["type"] == "client" and "users:write" in me["scopes"]

    for method, url, body in _requests(created["client_id"]):
        assert_error(_send(client, method, url, body, bearer(token)), 403)
    _assert_untouched(client, owner, created)


def test_api_key_is_refused_even_with_every_scope(client, owner: Actor):
    created = create(client, owner)
    scopes = ["api_keys:read", "api_keys:write", "users:read", "users:write", "projects:read", "audit:read"]
    response = client.post("/api/auth/api-keys", json={"name": "ops", "scopes": scopes}, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    headers = {"X-API-Key": response.get_json()["key"]}

    for method, url, body in _requests(created["client_id"]):
        assert_error(_send(client, method, url, body, headers), 403)
    _assert_untouched(client, owner, created)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}], ids=["anonymous", "garbage"])
def test_unauthenticated_is_401(client, owner: Actor, headers):
    created = create(client, owner)
    for method, url, body in _requests(created["client_id"]):
        response = _send(client, method, url, body, headers)
        assert_error(response, 401)
        assert "WWW-Authenticate" in response.headers
    _assert_untouched(client, owner, created)


@pytest.mark.parametrize("how", ["rest", "cli"])
def test_another_tenants_client_is_404(request, client, owner: Actor, other_owner: Actor, how: str):
    if how == "rest":
        foreign = create(client, other_owner, name="Globex billing")
    else:
        made = request.getfixturevalue("globex_machine")
        foreign = {"client_id": made.client_id, "client_secret": made.secret, "name": "Globex billing"}
    client_id = foreign["client_id"]

    for method, url, body in _requests(client_id)[2:]:
        assert_error(_send(client, method, url, body, owner.headers), 404)

    assert client.get(f"{URL}/{client_id}", headers=other_owner.headers).get_json()["name"] == "Globex billing"
    assert_token_response(cc(client, credentials(foreign)), refresh=False)


@pytest.mark.parametrize("client_id", ["cli_doesnotexist", "outter-app"])
def test_unknown_client_is_404(client, owner: Actor, client_id: str):
    for method, url, body in _requests(client_id)[2:]:
        assert_error(_send(client, method, url, body, owner.headers), 404)


# --- audit ---------------------------------------------------------------------------------------


def test_changes_are_audited_without_the_secret(app, client, owner: Actor):
    created = create(client, owner)
    client_id = created["client_id"]
    client.patch(f"{URL}/{client_id}", json={"name": "Invoicing", "scopes": ["users:read"]}, headers=owner.headers)
    rotated = client.post(f"{URL}/{client_id}/rotate-secret", headers=owner.headers).get_json()
    assert client.delete(f"{URL}/{client_id}", headers=owner.headers).status_code == 204

    created_events = audit_events(app, "client.created")
    updated_events = audit_events(app, "client.updated")

    assert len(created_events) == 1
    assert created_events[0]["details"]["grant_types"] == ["client_credentials"]
    assert len(updated_events) == 3  # patch, rotate-secret, delete
    assert "name" in updated_events[0]["details"]["changed"]
    for event in created_events + updated_events:
        assert event["tenant_id"] == owner.tenant_id
        assert event["actor"] == owner.user_id
        assert event["subject"] == client_id
        dumped = json.dumps(event)
        for secret in (created["client_secret"], rotated["client_secret"]):
            assert secret not in dumped and secret[4:] not in dumped
        assert "client_secret" not in event["details"]


def test_cli_creation_is_audited(app, owner: Actor, machine):
    made = machine
    events = audit_events(app, "client.created")
    assert [(e["tenant_id"], e["subject"]) for e in events] == [(owner.tenant_id, made.client_id)]
    assert made.secret not in json.dumps(events)


def test_refused_changes_are_not_audited(app, client, owner: Actor, member: Actor, other_owner: Actor):
    created = create(client, owner)
    client.patch(f"{URL}/{created['client_id']}", json={"name": "x"}, headers=member.headers)
    client.patch(f"{URL}/{created['client_id']}", json={"name": "x"}, headers=other_owner.headers)
    client.patch(f"{URL}/{created['client_id']}", json={"scopes": ["Bad Scope"]}, headers=owner.headers)
    assert audit_events(app, "client.updated") == []
