"""An independent OAuth client (Authlib's requests ``OAuth2Session``) against a live server.

Nothing here calls the service's own code to check a result: endpoints come from the
RFC 8414 discovery document, tokens are verified by PyJWT's ``PyJWKClient`` against the
discovered ``jwks_uri``, over real HTTP. The discovered URLs are built from the configured
issuer (``https://auth.outter.test``); the test maps that base to the live server.

Rotation runs on a separate app and keys directory (the session ``keys_dir`` keeps its key).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from flask import Flask
from werkzeug.serving import make_server

from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.services import signing_keys
from tests.factories import PASSWORD, Factory
from tests.oauth_helpers import OAuthClient, create_client

ISSUER = "https://auth.outter.test"
AUDIENCE = "outter-api"
DISCOVERY = "/.well-known/oauth-authorization-server"
EMAIL = "owner@acme.test"
MACHINE_SCOPES = "content:generate content:read"


# -- a live server and what it discovers ---------------------------------------------


@dataclass
class Live:
    base: str
    app: Flask
    metadata: dict[str, Any]

    def url(self, name: str) -> str:
        """A discovered endpoint, moved from the issuer's base onto the live server."""
        value = self.metadata[name]
        assert value.startswith(ISSUER + "/"), value
        return self.base + value[len(ISSUER) :]

    @property
    def token_endpoint(self) -> str:
        return self.url("token_endpoint")

    def jwks_client(self) -> jwt.PyJWKClient:
        # A verifier that caches the JWK set and re-fetches it for an unknown kid.
        return jwt.PyJWKClient(self.url("jwks_uri"), cache_jwk_set=True, lifespan=300, cooldown_duration=0, timeout=10)


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch: pytest.MonkeyPatch) -> None:
    # Authlib's client insists on https except for loopback addresses; say so explicitly.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def serve(app: Flask) -> Iterator[Live]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="oauth-e2e-server", daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        response = requests.get(base + DISCOVERY, timeout=10)
        assert response.status_code == 200
        yield Live(base, app, response.json())
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def live(app: Flask) -> Iterator[Live]:
    yield from serve(app)


def credentials(made: OAuthClient) -> tuple[str, str]:
    """(client_id, client_secret), as ``OAuth2Session`` takes them."""
    return made.client_id, str(made.secret)


@pytest.fixture
def user_id(make: Factory) -> str:
    return make.user("acme", EMAIL, "owner")


@pytest.fixture
def machine(app: Flask, user_id: str) -> tuple[str, str]:
    """acme's confidential machine client, as (client_id, client_secret)."""
    return credentials(create_client(app, "e2e", "client_credentials", scope=MACHINE_SCOPES))


@pytest.fixture
def first_party(app: Flask, user_id: str) -> tuple[str, str]:
    """A confidential first-party app of acme: password and refresh_token grants."""
    made = create_client(app, "e2e", "password", "refresh_token", scope="users:read users:write", first_party=True)
    return credentials(made)


def verify(live: Live, token: str, jwks: jwt.PyJWKClient | None = None) -> dict[str, Any]:
    """Verify like a resource server: key by kid from the discovered jwks_uri, RS256 only."""
    signing_key = (jwks or live.jwks_client()).get_signing_key_from_jwt(token)
    assert signing_key.key_id == jwt.get_unverified_header(token)["kid"]
    return jwt.decode(
        token,
        signing_key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "exp", "iat", "sub", "jti"]},
    )


def introspect_live(live: Live, client: tuple[str, str], token: str, **hint: str) -> dict[str, Any]:
    with OAuth2Session(client[0], client[1], token_endpoint_auth_method="client_secret_basic") as session:
        response = session.introspect_token(live.url("introspection_endpoint"), token=token, **hint)
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    return response.json()


# -- discovery --------------------------------------------------------------------


class RFC8414Metadata(AuthorizationServerMetadata):  # type: ignore[misc]
    """Authlib's RFC 8414 validator, with RFC 8414's own rule for ``response_types_supported``.

    Authlib treats an empty array as missing; RFC 8414 §2 only requires the member to be
    a JSON array of the response types the server supports, and this server (no
    authorization endpoint yet) supports none. Everything else is Authlib's check.
    """

    def validate_response_types_supported(self) -> None:
        value = self.get("response_types_supported")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError('"response_types_supported" MUST be a JSON array of strings')


def test_discovery_document_passes_authlibs_rfc8414_validation(live: Live):
    RFC8414Metadata(live.metadata).validate()

    assert live.metadata["issuer"] == ISSUER
    for name in ("jwks_uri", "token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert live.metadata[name].startswith(ISSUER + "/"), name
    assert {"password", "refresh_token", "client_credentials"} <= set(live.metadata["grant_types_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(live.metadata["token_endpoint_auth_methods_supported"])
    assert live.metadata["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_rfc8414_validation_above_can_fail(live: Live):
    """Guards the test above: the validator really checks the served document."""
    broken = {**live.metadata, "issuer": "http://auth.outter.test?x=1"}
    with pytest.raises(ValueError, match="issuer"):
        RFC8414Metadata(broken).validate()
    with pytest.raises(ValueError, match="token_endpoint_auth_methods_supported"):
        RFC8414Metadata({**live.metadata, "token_endpoint_auth_methods_supported": "none"}).validate()


def test_every_discovered_endpoint_answers_on_the_live_server(live: Live):
    assert requests.get(live.url("jwks_uri"), timeout=10).json()["keys"]
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        response = requests.post(live.url(name), data={}, timeout=10)
        assert response.status_code in (400, 401), (name, response.status_code)
        assert "error" in response.json()


# -- client_credentials -------------------------------------------------------------


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_each_secret_method(live: Live, machine: tuple[str, str], method: str):
    with OAuth2Session(machine[0], machine[1], token_endpoint_auth_method=method) as session:
        token = session.fetch_token(live.token_endpoint, grant_type="client_credentials")

    assert token["token_type"].lower() == "bearer"
    assert "refresh_token" not in token
    assert set(token["scope"].split()) == set(MACHINE_SCOPES.split())
    claims = verify(live, token["access_token"])
    assert claims["sub"] == machine[0]
    assert claims["client_id"] == machine[0]
    assert set(claims["scope"].split()) == set(MACHINE_SCOPES.split())
    # A client asking again within OUTTER_CLIENT_TOKEN_REUSE may get the token it just got, with
    # expires_in counted down; never more than the token's own lifetime, never past its exp.
    assert claims["exp"] - claims["iat"] - 31 <= token["expires_in"] <= claims["exp"] - claims["iat"]

    me = requests.get(
        live.base + "/api/auth/me", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=10
    )
    assert me.status_code == 200 and me.json()["type"] == "client"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_client_credentials_with_a_wrong_secret_is_invalid_client(live: Live, machine: tuple[str, str], method: str):
    with OAuth2Session(machine[0], "ocs_wrong", token_endpoint_auth_method=method) as session:
        with pytest.raises(OAuthError) as raised:
            session.fetch_token(live.token_endpoint, grant_type="client_credentials")
    assert raised.value.error == "invalid_client"


def test_client_credentials_with_a_narrower_scope(live: Live, machine: tuple[str, str]):
    with OAuth2Session(machine[0], machine[1], scope="content:read") as session:
        token = session.fetch_token(live.token_endpoint, grant_type="client_credentials")
    assert verify(live, token["access_token"])["scope"] == "content:read"


# -- password grant, refresh, revoke, introspect ---------------------------------------


def test_password_grant_with_the_public_first_party_client(live: Live, user_id: str, machine: tuple[str, str]):
    with OAuth2Session("outter-app", token_endpoint_auth_method="none") as app_session:
        token = app_session.fetch_token(live.token_endpoint, username=EMAIL, password=PASSWORD)
        claims = verify(live, token["access_token"])
        assert claims["sub"] == user_id and claims["client_id"] == "outter-app" and claims["roles"] == ["owner"]
        first_refresh = token["refresh_token"]

        refreshed = app_session.refresh_token(live.token_endpoint, refresh_token=first_refresh)

        assert refreshed["refresh_token"] != first_refresh
        assert refreshed["access_token"] != token["access_token"]
        new_claims = verify(live, refreshed["access_token"])
        assert new_claims["sid"] == claims["sid"] and new_claims["sub"] == user_id

        # A confidential client of the same tenant may introspect (a public one may not).
        assert introspect_live(live, machine, refreshed["refresh_token"])["active"] is True
        assert introspect_live(live, machine, first_refresh)["active"] is False  # spent by the refresh
        assert introspect_live(live, machine, refreshed["access_token"])["sub"] == user_id

        revoked = app_session.revoke_token(
            live.url("revocation_endpoint"), token=refreshed["refresh_token"], token_type_hint="refresh_token"
        )
        assert revoked.status_code == 200

        assert introspect_live(live, machine, refreshed["refresh_token"])["active"] is False
        # Revoking the refresh token ended the session: its access tokens die with it.
        assert introspect_live(live, machine, refreshed["access_token"])["active"] is False
        with pytest.raises(OAuthError) as raised:
            app_session.refresh_token(live.token_endpoint, refresh_token=refreshed["refresh_token"])
        assert raised.value.error == "invalid_grant"


def test_a_public_client_cannot_introspect(live: Live, user_id: str):
    with OAuth2Session("outter-app", token_endpoint_auth_method="none") as session:
        token = session.fetch_token(live.token_endpoint, username=EMAIL, password=PASSWORD)
        response = session.introspect_token(live.url("introspection_endpoint"), token=token["access_token"])
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_password_grant_with_a_confidential_first_party_client(
    live: Live, user_id: str, first_party: tuple[str, str], method: str
):
    with OAuth2Session(first_party[0], first_party[1], token_endpoint_auth_method=method) as session:
        token = session.fetch_token(live.token_endpoint, username=EMAIL, password=PASSWORD, scope="users:read")
        claims = verify(live, token["access_token"])
        assert claims["sub"] == user_id and claims["client_id"] == first_party[0]
        assert claims["scope"] == "users:read"

        refreshed = session.refresh_token(live.token_endpoint, refresh_token=token["refresh_token"])
        assert verify(live, refreshed["access_token"])["scope"] == "users:read"

        described = introspect_live(live, first_party, refreshed["access_token"], token_type_hint="access_token")
        assert described["active"] is True
        assert described["sub"] == user_id and described["client_id"] == first_party[0]
        assert described["scope"] == "users:read"

        revoked = session.revoke_token(
            live.url("revocation_endpoint"), token=refreshed["access_token"], token_type_hint="access_token"
        )
        assert revoked.status_code == 200

        assert introspect_live(live, first_party, refreshed["access_token"])["active"] is False
        me = requests.get(
            live.base + "/api/auth/me", headers={"Authorization": f"Bearer {refreshed['access_token']}"}, timeout=10
        )
        assert me.status_code == 401
        # Only that access token: the session and its refresh token live on.
        assert introspect_live(live, first_party, refreshed["refresh_token"])["active"] is True
        again = session.refresh_token(live.token_endpoint, refresh_token=refreshed["refresh_token"])
        assert verify(live, again["access_token"])["sid"] == claims["sid"]


def test_introspection_by_another_tenants_client_learns_nothing(
    live: Live, machine: tuple[str, str], make: Factory, app: Flask
):
    make.tenant("globex")
    stranger = credentials(create_client(app, "e2e", "client_credentials", tenant="globex"))
    with OAuth2Session(*machine) as session:
        token = session.fetch_token(live.token_endpoint, grant_type="client_credentials")

    assert introspect_live(live, machine, token["access_token"])["active"] is True
    assert introspect_live(live, stranger, token["access_token"]) == {"active": False}


def test_revoking_an_unknown_token_answers_200(live: Live, machine: tuple[str, str]):
    with OAuth2Session(*machine) as session:
        response = session.revoke_token(live.url("revocation_endpoint"), token="not-a-token-of-ours")
    assert response.status_code == 200
    assert introspect_live(live, machine, "not-a-token-of-ours") == {"active": False}


# -- across a key rotation ---------------------------------------------------------


@pytest.fixture
def rotation_live(
    app: Flask, base_config: dict[str, object], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Live]:
    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)
    rotating = create_app({**base_config, "keys_dir": str(tmp_path / "keys")})
    try:
        yield from serve(rotating)
    finally:
        with rotating.app_context():
            db.engine.dispose()


def test_tokens_verify_across_a_key_rotation(rotation_live: Live, machine: tuple[str, str]):
    live = rotation_live
    jwks = live.jwks_client()
    cli = live.app.test_cli_runner()

    def fetch() -> str:
        with OAuth2Session(*machine, token_endpoint_auth_method="client_secret_post") as session:
            access_token: str = session.fetch_token(live.token_endpoint, grant_type="client_credentials")[
                "access_token"
            ]
            return access_token

    kid_of: Callable[[str], str] = lambda token: jwt.get_unverified_header(token)["kid"]  # noqa: E731
    before = fetch()
    old = kid_of(before)
    assert verify(live, before, jwks)["sub"] == machine[0]  # the verifier caches a JWKS with the old key only

    rotated = cli.invoke(args=["keys", "rotate", "--json"])
    assert rotated.exit_code == 0, rotated.output
    new = json.loads(rotated.output)["kid"]
    pending = fetch()
    assert kid_of(pending) == old, "a pending key must not sign"

    activated = cli.invoke(args=["keys", "activate", new, "--now"])
    assert activated.exit_code == 0, activated.output
    after = fetch()

    assert kid_of(after) == new != old
    claims = verify(live, after, jwks)  # unknown kid for the cached set: the verifier re-fetches it
    assert claims["sub"] == machine[0]
    assert verify(live, before, jwks)["jti"] == jwt.decode(before, options={"verify_signature": False})["jti"]
    assert verify(live, pending, jwks)["sub"] == machine[0]
    served = {key["kid"] for key in requests.get(live.url("jwks_uri"), timeout=10).json()["keys"]}
    assert served == {old, new}
    for token in (before, after):
        me = requests.get(live.base + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert me.status_code == 200
