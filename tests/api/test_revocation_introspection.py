"""POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662).

``machine`` is acme's confidential client (the usual introspection caller),
``web_app`` acme's confidential first-party app, ``globex_machine`` a client of
another tenant. User tokens come from ``/api/auth/login`` (client ``outter-app``)
unless a test logs in through ``web_app``. Forged tokens are presented to both endpoints
(and every other place that reads a Bearer token) by tests/attacks/test_forged_jwts.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from outter_auth import clock
from tests.apps import extra_app
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import (
    AUDIENCE,
    INTROSPECT_URL,
    ISSUER,
    OUTTER_APP,
    REVOKE_URL,
    OAuthClient,
    assert_introspection,
    assert_oauth_error,
    assert_token_response,
    bearer,
    create_client,
    introspect,
    me_status,
    password_grant,
    post_form,
    refresh_grant,
    revoke,
    token_request,
    unverified_claims,
)

INACTIVE = {"active": False}


def cc_token(client, oauth_client: OAuthClient) -> str:
    response = token_request(client, {"grant_type": "client_credentials"}, oauth_client)
    return str(assert_token_response(response, refresh=False)["access_token"])


def assert_revoked_ok(response: Any) -> None:
    """RFC 7009 §2.2: 200 whether or not there was anything to revoke."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"


def is_active(client, introspector: OAuthClient, token: str) -> bool:
    body = assert_introspection(introspect(client, introspector, token))
    if not body["active"]:
        assert body == INACTIVE, "an inactive token reveals nothing else (RFC 7662 §2.2)"
    return bool(body["active"])


# ======================================================================================
# Revocation
# ======================================================================================


@pytest.fixture(params=["outter-app", "confidential-basic", "confidential-post", "public"])
def session_client(request, web_app: OAuthClient, mobile: OAuthClient) -> tuple[OAuthClient, str]:
    """A client that logs users in, and how it authenticates."""
    return {
        "outter-app": (OUTTER_APP, "none"),
        "confidential-basic": (web_app, "basic"),
        "confidential-post": (web_app, "post"),
        "public": (mobile, "none"),
    }[request.param]


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoking_a_refresh_token_ends_its_session(client, owner: Actor, machine, session_client, hint):
    oauth_client, method = session_client
    first = assert_token_response(password_grant(client, oauth_client, owner.email, PASSWORD, method=method))
    second = assert_token_response(refresh_grant(client, oauth_client, first["refresh_token"], method=method))

    extra = {"token_type_hint": hint} if hint else {}
    assert_revoked_ok(revoke(client, oauth_client, second["refresh_token"], method=method, **extra))

    assert_oauth_error(
        refresh_grant(client, oauth_client, second["refresh_token"], method=method), 400, "invalid_grant"
    )
    for access_token in (first["access_token"], second["access_token"]):
        assert me_status(client, access_token) == 401
        assert not is_active(client, machine, access_token)
    assert not is_active(client, machine, second["refresh_token"])
    assert me_status(client, owner.token) == 200, "the user's other sessions go on"


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoking_an_access_token_denies_only_that_token(client, owner: Actor, make, machine, session_client, hint):
    oauth_client, method = session_client
    login = assert_token_response(password_grant(client, oauth_client, owner.email, PASSWORD, method=method))
    refreshed = assert_token_response(refresh_grant(client, oauth_client, login["refresh_token"], method=method))
    assert me_status(client, login["access_token"]) == 200

    extra = {"token_type_hint": hint} if hint else {}
    assert_revoked_ok(revoke(client, oauth_client, login["access_token"], method=method, **extra))

    assert me_status(client, login["access_token"]) == 401
    assert not is_active(client, machine, login["access_token"])
    # The session and its other tokens go on.
    assert me_status(client, refreshed["access_token"]) == 200
    assert is_active(client, machine, refreshed["access_token"])
    again = assert_token_response(refresh_grant(client, oauth_client, refreshed["refresh_token"], method=method))
    assert me_status(client, again["access_token"]) == 200


def test_a_revoked_access_token_stays_denied_until_it_expires(client, owner: Actor, machine):
    clock.freeze(datetime.now(UTC))
    login = assert_token_response(password_grant(client, OUTTER_APP, owner.email, PASSWORD))
    assert_revoked_ok(revoke(client, OUTTER_APP, login["access_token"], method="none"))

    for seconds in (60, 600, 899):
        clock.freeze(datetime.fromtimestamp(unverified_claims(login["access_token"])["iat"] + seconds, UTC))
        assert me_status(client, login["access_token"]) == 401
        assert not is_active(client, machine, login["access_token"])


def test_revoking_a_client_credentials_token(client, owner: Actor, machine: OAuthClient):
    token = cc_token(client, machine)

    assert_revoked_ok(revoke(client, machine, token))

    assert me_status(client, token) == 401
    assert not is_active(client, machine, token)
    fresh = cc_token(client, machine)  # a revoked token is never handed out again
    assert fresh != token
    assert me_status(client, fresh) == 200


def test_revoking_twice_is_still_200(client, owner: Actor):
    for _ in range(2):
        assert_revoked_ok(revoke(client, OUTTER_APP, owner.refresh_token, method="none"))
    for _ in range(2):
        assert_revoked_ok(revoke(client, OUTTER_APP, owner.token, method="none"))
    assert me_status(client, owner.token) == 401


UNKNOWN_TOKENS = [
    pytest.param("", id="empty"),
    pytest.param("x", id="short"),
    pytest.param("d" * 43, id="refresh-shaped"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", id="jwt-shaped"),
    pytest.param("a" * 9000, id="huge"),
    pytest.param("outter_live_" + "0" * 38, id="api-key-shaped"),
    pytest.param("a\x00b", id="nul"),
]


@pytest.mark.parametrize("token", UNKNOWN_TOKENS)
@pytest.mark.parametrize("who", ["outter-app", "machine"])
def test_unknown_token_revocation_is_200(client, owner: Actor, machine, who: str, token: str):
    oauth_client, method = (OUTTER_APP, "none") if who == "outter-app" else (machine, "basic")
    assert_revoked_ok(revoke(client, oauth_client, token, method=method))
    assert me_status(client, owner.token) == 200


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.parametrize("revoker", ["same-tenant-client", "first-party-app", "other-tenant-client"])
def test_another_clients_token_is_200_and_keeps_working(
    client, owner: Actor, machine, web_app, globex_machine, kind: str, revoker: str
):
    """RFC 7009 §2.1: the server checks the token was issued to the client asking."""
    login = assert_token_response(password_grant(client, OUTTER_APP, owner.email, PASSWORD))  # outter-app's
    oauth_client = {
        "same-tenant-client": machine,
        "first-party-app": web_app,
        "other-tenant-client": globex_machine,
    }[revoker]

    assert_revoked_ok(revoke(client, oauth_client, login[kind], token_type_hint=kind))

    assert me_status(client, login["access_token"]) == 200
    assert_token_response(refresh_grant(client, OUTTER_APP, login["refresh_token"]))


def test_outter_app_cannot_revoke_a_tenant_clients_tokens(client, owner: Actor, web_app, machine):
    login = assert_token_response(password_grant(client, web_app, owner.email, PASSWORD, method="basic"))
    machine_token = cc_token(client, machine)

    for token in (login["access_token"], login["refresh_token"], machine_token):
        assert_revoked_ok(revoke(client, OUTTER_APP, token, method="none"))

    assert me_status(client, login["access_token"]) == 200
    assert me_status(client, machine_token) == 200
    assert_token_response(refresh_grant(client, web_app, login["refresh_token"], method="basic"))


@pytest.mark.parametrize("hint", ["foo", "id_token", "Access_Token"])
def test_revocation_ignores_an_unknown_hint(client, owner: Actor, hint: str):
    response = revoke(client, OUTTER_APP, owner.token, method="none", token_type_hint=hint)

    assert_revoked_ok(response)
    assert me_status(client, owner.token) == 401


@pytest.mark.parametrize("hint", ["foo", "id_token"])
def test_introspection_ignores_an_unknown_hint(client, owner: Actor, machine, hint: str):
    body = assert_introspection(introspect(client, machine, owner.token, token_type_hint=hint))
    assert body["active"] is True


@pytest.mark.parametrize("hint", ["foo", "id_token"])
def test_an_unknown_hint_never_reveals_or_revokes_anything_else(client, owner: Actor, machine, hint: str):
    """Whatever the answer to an odd hint, it is an RFC 6749 §5.2 error or a 200, never a 5xx."""
    for response in (
        revoke(client, machine, owner.token, token_type_hint=hint),
        introspect(client, machine, owner.token, token_type_hint=hint),
    ):
        assert response.status_code in (200, 400, 401), response.get_data(as_text=True)
        if response.status_code != 200:
            assert response.get_json()["error"] in ("unsupported_token_type", "invalid_request")
    assert me_status(client, owner.token) == 200  # machine may not revoke outter-app's token


@pytest.mark.parametrize("who", ["outter-app", "machine"])
def test_revocation_without_token_is_invalid_request(client, owner: Actor, machine, who: str):
    oauth_client, method = (OUTTER_APP, "none") if who == "outter-app" else (machine, "basic")
    response = post_form(client, REVOKE_URL, {"token_type_hint": "access_token"}, oauth_client, method)

    assert_oauth_error(response, 400, "invalid_request")


BAD_CLIENT_AUTH = [
    pytest.param(lambda m: (OAuthClient(m.client_id, "ocs_wrong"), "basic"), id="wrong-secret-basic"),
    pytest.param(lambda m: (OAuthClient(m.client_id, "ocs_wrong"), "post"), id="wrong-secret-post"),
    pytest.param(lambda m: (OAuthClient("cli_nope", "ocs_wrong"), "basic"), id="unknown-client"),
    pytest.param(lambda m: (OAuthClient("cli_nope"), "none"), id="unknown-client-id-only"),
    pytest.param(lambda m: (OAuthClient(m.client_id), "none"), id="confidential-without-secret"),
    pytest.param(lambda m: (OAuthClient("outter-app", "guess"), "basic"), id="public-with-a-secret"),
    pytest.param(lambda m: (None, "none"), id="no-client"),
    pytest.param(lambda m: (OAuthClient("a\x00b", "ocs_wrong"), "post"), id="nul-client-id"),
    pytest.param(
        lambda m: (OAuthClient("a\x00b", "ocs_wrong"), "basic"),
        id="nul-client-id-basic",
    ),
]


@pytest.mark.parametrize("bad", BAD_CLIENT_AUTH)
def test_revocation_with_bad_client_auth_is_401_and_revokes_nothing(client, owner: Actor, machine, bad):
    oauth_client, method = bad(machine)
    token = cc_token(client, machine)
    for victim in (token, owner.token, owner.refresh_token):
        response = post_form(client, REVOKE_URL, {"token": victim}, oauth_client, method)
        assert_oauth_error(response, 401, "invalid_client")

    assert me_status(client, token) == 200
    assert me_status(client, owner.token) == 200
    assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token))


# ======================================================================================
# Introspection
# ======================================================================================


@pytest.mark.parametrize("bad", BAD_CLIENT_AUTH)
def test_introspection_with_bad_client_auth_is_401(client, owner: Actor, machine, bad):
    oauth_client, method = bad(machine)
    assert_oauth_error(introspect(client, oauth_client, owner.token, method=method), 401, "invalid_client")


@pytest.mark.parametrize("who", ["outter-app", "tenant-public"])
def test_public_clients_cannot_introspect(client, owner: Actor, mobile, who: str):
    public = OUTTER_APP if who == "outter-app" else mobile
    response = introspect(client, public, owner.token, method="none")
    assert_oauth_error(response, 401, "invalid_client")


def test_introspection_without_token_is_invalid_request(client, owner: Actor, machine):
    assert_oauth_error(post_form(client, INTROSPECT_URL, {}, machine), 400, "invalid_request")


CLAIMS = {"sub", "client_id", "scope", "exp", "iat", "iss", "aud", "tenant_id", "token_type"}


@pytest.mark.parametrize("method", ["basic", "post"])
@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_active_user_access_token(client, owner: Actor, machine, method: str, hint):
    extra = {"token_type_hint": hint} if hint else {}
    body = assert_introspection(introspect(client, machine, owner.token, method=method, **extra))

    assert body["active"] is True
    assert CLAIMS <= set(body), CLAIMS - set(body)
    claims = unverified_claims(owner.token)
    for name in ("sub", "client_id", "scope", "exp", "iat", "iss", "aud", "tenant_id"):
        assert body[name] == claims[name], name
    assert body["sub"] == owner.user_id
    assert body["client_id"] == "outter-app"
    assert body["tenant_id"] == owner.tenant_id
    assert body["iss"] == ISSUER
    assert body["aud"] in (AUDIENCE, [AUDIENCE])
    assert body["token_type"] == "Bearer"  # RFC 7662 §2.2: the RFC 6749 §5.1 token type
    assert isinstance(body["exp"], int) and isinstance(body["iat"], int)


def test_active_client_credentials_token(client, owner: Actor, machine: OAuthClient):
    token = cc_token(client, machine)

    body = assert_introspection(introspect(client, machine, token))

    assert body["active"] is True
    assert body["sub"] == machine.client_id
    assert body["client_id"] == machine.client_id
    assert body["tenant_id"] == owner.tenant_id
    assert set(body["scope"].split()) == {"users:read", "content:generate"}
    assert body["token_type"] == "Bearer"


def test_a_tenant_client_introspects_another_clients_tokens_of_its_tenant(client, owner, machine, web_app):
    login = assert_token_response(password_grant(client, web_app, owner.email, PASSWORD, method="basic"))
    body = assert_introspection(introspect(client, machine, login["access_token"]))
    assert body["active"] is True
    assert body["client_id"] == web_app.client_id


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_active_refresh_token(client, owner: Actor, machine, hint):
    extra = {"token_type_hint": hint} if hint else {}
    body = assert_introspection(introspect(client, machine, owner.refresh_token, **extra))

    assert body["active"] is True
    assert body["token_type"] == "refresh_token"
    assert body["client_id"] == "outter-app"
    assert body["sub"] == owner.user_id
    assert body["tenant_id"] == owner.tenant_id
    assert set(body["scope"].split()) == set(owner.login_body["scope"].split())
    assert isinstance(body["exp"], int) and body["exp"] > unverified_claims(owner.token)["exp"]
    assert owner.refresh_token not in json.dumps(body)


def test_spent_refresh_token_is_inactive(client, owner: Actor, machine):
    refreshed = assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token))
    assert not is_active(client, machine, owner.refresh_token)
    assert is_active(client, machine, refreshed["refresh_token"])


def test_introspection_does_not_spend_or_alter_a_refresh_token(client, owner: Actor, machine):
    for _ in range(3):
        assert is_active(client, machine, owner.refresh_token)
    assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token))


@pytest.mark.parametrize(("seconds", "active"), [(0, True), (899, True), (900 + 30 + 1, False), (3600, False)])
def test_expired_access_token_is_inactive(client, owner: Actor, machine, seconds: int, active: bool):
    clock.freeze(datetime.now(UTC))
    login = assert_token_response(password_grant(client, OUTTER_APP, owner.email, PASSWORD))
    cc = cc_token(client, machine)

    clock.advance(seconds)

    assert is_active(client, machine, login["access_token"]) is active
    assert is_active(client, machine, cc) is active


def test_revoked_and_logged_out_tokens_are_inactive(client, owner: Actor, make: Factory, machine):
    revoked = make.login(owner.email)
    assert_revoked_ok(revoke(client, OUTTER_APP, revoked["access_token"], method="none"))
    ended = make.login(owner.email)
    assert_revoked_ok(revoke(client, OUTTER_APP, ended["refresh_token"], method="none"))
    logged_out = make.login(owner.email)
    assert client.post("/api/auth/logout", headers=bearer(logged_out["access_token"])).status_code == 204

    assert not is_active(client, machine, revoked["access_token"])
    for body in (ended, logged_out):
        assert not is_active(client, machine, body["access_token"])
        assert not is_active(client, machine, body["refresh_token"])
    assert is_active(client, machine, owner.token)


def test_reused_refresh_family_is_inactive(client, owner: Actor, machine):
    newest = assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token))
    assert_oauth_error(refresh_grant(client, OUTTER_APP, owner.refresh_token), 400, "invalid_grant")  # reuse

    for token in (owner.token, owner.refresh_token, newest["access_token"], newest["refresh_token"]):
        assert not is_active(client, machine, token)


@pytest.mark.parametrize("token", UNKNOWN_TOKENS)
def test_unknown_and_garbage_tokens_are_inactive(client, owner: Actor, machine, token: str):
    assert assert_introspection(introspect(client, machine, token)) == INACTIVE


def test_tokens_of_another_tenant_are_inactive(client, owner: Actor, other_owner: Actor, machine, globex_machine):
    globex_cc = cc_token(client, globex_machine)
    foreign = [other_owner.token, other_owner.refresh_token, globex_cc]

    for token in foreign:
        assert assert_introspection(introspect(client, machine, token)) == INACTIVE
        # Control: the owning tenant's client sees them as active.
        assert is_active(client, globex_machine, token)
    # And the other way round.
    for token in (owner.token, owner.refresh_token, cc_token(client, machine)):
        assert assert_introspection(introspect(client, globex_machine, token)) == INACTIVE


def test_a_user_of_two_tenants_token_is_seen_only_by_the_tenant_it_was_issued_for(
    client, owner: Actor, make: Factory, machine, globex_machine
):
    make.user("globex", owner.email, "member")
    globex_login = make.login(owner.email, tenant="globex")

    assert assert_introspection(introspect(client, machine, globex_login["access_token"])) == INACTIVE
    assert is_active(client, globex_machine, globex_login["access_token"])


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
@pytest.mark.parametrize("what", ["membership", "user"])
def test_tokens_of_a_deactivated_account_are_inactive(
    client, owner: Actor, make: Factory, machine, what: str, kind: str
):
    """The service refuses them (/me says 401, refresh fails): introspection must not call them active."""
    user_id = make.user("acme", "bob@acme.test", "member")
    bob = make.login("bob@acme.test")
    assert is_active(client, machine, bob[kind])
    if what == "membership":
        assert client.delete(f"/api/auth/users/{user_id}", headers=owner.headers).status_code == 204
    else:
        make.deactivate_account(user_id)
    assert me_status(client, bob["access_token"]) == 401

    assert not is_active(client, machine, bob[kind])


@pytest.fixture(scope="module")
def short_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    with extra_app({**base_config, "session_idle_timeout": 60, "refresh_token_ttl": 300}) as short:
        yield short


@pytest.fixture
def short_session(short_app: Flask, make: Factory) -> tuple[Any, OAuthClient, dict[str, Any]]:
    """(test client of ``short_app``, an introspecting client, a login made with the clock frozen)."""
    make.user("acme", "ann@acme.test", "owner")
    machine = create_client(short_app, "Gateway", "client_credentials", scope="users:read")
    short = short_app.test_client()
    clock.freeze(datetime.now(UTC))
    login = assert_token_response(short.post("/api/auth/login", json={"email": "ann@acme.test", "password": PASSWORD}))
    assert is_active(short, machine, login["refresh_token"])
    return short, machine, login


def test_refresh_token_of_an_idle_session_is_inactive(short_session):
    short, machine, login = short_session
    clock.advance(61)  # idle timeout 60 s: a refresh now would fail

    active = is_active(short, machine, login["refresh_token"])

    assert_oauth_error(refresh_grant(short, OUTTER_APP, login["refresh_token"]), 400, "invalid_grant")
    assert not active


def test_refresh_token_past_the_absolute_lifetime_is_inactive(short_session):
    short, machine, login = short_session
    token = login["refresh_token"]
    for _ in range(5):  # t = 250 s, never idle for 60 s
        clock.advance(50)
        token = assert_token_response(refresh_grant(short, OUTTER_APP, token))["refresh_token"]
    clock.advance(55)  # t = 305 s: past the 300 s lifetime, idle only 55 s

    assert not is_active(short, machine, token)
    assert_oauth_error(refresh_grant(short, OUTTER_APP, token), 400, "invalid_grant")
