"""Access tokens from POST /api/auth/login, checked against SPEC §5 with PyJWT.

PyJWT is the independent verifier here: nothing in this file verifies a token
with the service's own code, so a bug in ``services.tokens`` cannot hide itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import jwt
import pytest
from flask import Flask
from werkzeug.serving import make_server

from tests.assertions import SPEC_MANAGEMENT_SCOPES
from tests.factories import PASSWORD, Actor, Factory

ISSUER = "https://auth.outter.test"
AUDIENCE = "outter-api"
JWKS_PATH = "/.well-known/jwks.json"
SPEC_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "tenant_id", "roles", "sid"}
MANAGEMENT_SCOPES = SPEC_MANAGEMENT_SCOPES


def unverified_claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def verify_with_jwks(token: str, jwks: jwt.PyJWKSet) -> dict:
    """Verify like a gateway would: RS256 only, the key chosen by kid, iss/aud/exp required."""
    kid = jwt.get_unverified_header(token)["kid"]
    return jwt.decode(
        token,
        jwks[kid],
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "exp", "iat", "nbf", "sub", "jti"]},
    )


@pytest.fixture
def served_jwks(client) -> jwt.PyJWKSet:
    response = client.get(JWKS_PATH)
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.get_json())


# -- header ---------------------------------------------------------------------


def test_header_is_exactly_rs256_at_jwt_and_a_published_kid(owner: Actor, client):
    header = jwt.get_unverified_header(owner.token)

    assert set(header) == {"alg", "typ", "kid"}
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    assert isinstance(header["kid"], str) and header["kid"]
    served_kids = {key["kid"] for key in client.get(JWKS_PATH).get_json()["keys"]}
    assert header["kid"] in served_kids


# -- claims ---------------------------------------------------------------------


def test_every_spec_claim_is_present_with_its_value(owner: Actor):
    claims = unverified_claims(owner.token)

    assert SPEC_CLAIMS <= set(claims), f"missing: {SPEC_CLAIMS - set(claims)}"
    assert claims["iss"] == ISSUER
    assert claims["sub"] == owner.user_id
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == "outter-app"
    assert claims["tenant_id"] == owner.tenant_id
    assert claims["roles"] == ["owner"]
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert isinstance(claims["jti"], str) and claims["jti"]


def test_time_claims_are_integers_and_the_lifetime_is_900_seconds(owner: Actor, make: Factory):
    before = int(time.time())
    body = make.login(owner.email, PASSWORD)
    after = int(time.time())

    claims = unverified_claims(body["access_token"])

    for name in ("iat", "nbf", "exp"):
        assert type(claims[name]) is int, f"{name} must be a NumericDate integer"
    assert before - 5 <= claims["iat"] <= after + 5
    assert claims["nbf"] <= claims["iat"]
    assert claims["nbf"] >= claims["iat"] - 60
    assert claims["exp"] == claims["iat"] + 900
    assert body["expires_in"] == claims["exp"] - claims["iat"]


def test_scope_is_a_space_separated_string_matching_the_login_response(owner: Actor):
    claims = unverified_claims(owner.token)

    assert isinstance(claims["scope"], str)
    assert claims["scope"] == owner.login_body["scope"]
    scopes = claims["scope"].split(" ")
    assert "" not in scopes, "scopes are separated by single spaces"
    assert set(scopes) == MANAGEMENT_SCOPES
    assert len(scopes) == len(MANAGEMENT_SCOPES)


def test_roles_is_a_list_of_the_member_role(make: Factory):
    member = make.actor("acme", "max@acme.test", "member")
    claims = unverified_claims(member.token)
    assert claims["roles"] == ["member"]
    assert claims["scope"] == ""


def test_jti_is_unique_per_token(owner: Actor, make: Factory):
    tokens = [owner.token] + [make.login(owner.email)["access_token"] for _ in range(5)]
    jtis = [unverified_claims(token)["jti"] for token in tokens]
    assert len(set(jtis)) == len(jtis)


def test_sid_and_sub_name_the_session_and_user_that_me_reports(owner: Actor, client):
    claims = unverified_claims(owner.token)
    me = client.get("/api/auth/me", headers=owner.headers)
    assert me.status_code == 200
    assert me.get_json()["session_id"] == claims["sid"]
    assert me.get_json()["id"] == claims["sub"]


# -- independent verification ----------------------------------------------------


def test_token_verifies_with_pyjwt_against_the_served_jwks(owner: Actor, served_jwks: jwt.PyJWKSet):
    claims = verify_with_jwks(owner.token, served_jwks)
    assert claims["sub"] == owner.user_id
    assert claims["tenant_id"] == owner.tenant_id


def test_pyjwt_rejects_the_token_for_another_audience(owner: Actor, served_jwks: jwt.PyJWKSet):
    """Guards the check above: the served key really is what makes it pass."""
    key = served_jwks[jwt.get_unverified_header(owner.token)["kid"]]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(owner.token, key, algorithms=["RS256"], audience="someone-else", issuer=ISSUER)


def test_pyjwt_rejects_a_token_whose_signature_was_altered(owner: Actor, served_jwks: jwt.PyJWKSet):
    head, payload, signature = owner.token.split(".")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        verify_with_jwks(f"{head}.{payload}.{flipped}", served_jwks)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app on a real socket, in a background thread; stopped afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_token_verifies_with_pyjwkclient_over_real_http(owner: Actor, live_server: str):
    jwks_client = jwt.PyJWKClient(f"{live_server}{JWKS_PATH}", cache_keys=False, timeout=10)

    signing_key = jwks_client.get_signing_key_from_jwt(owner.token)
    claims = jwt.decode(
        owner.token,
        signing_key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "exp"]},
    )

    assert signing_key.key_id == jwt.get_unverified_header(owner.token)["kid"]
    assert claims["sub"] == owner.user_id
    assert claims["client_id"] == "outter-app"
