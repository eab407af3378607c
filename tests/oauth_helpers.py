"""Helpers for the OAuth 2.0 tests: clients made by the CLI, token requests, independent checks.

Tokens are verified here with PyJWT against the served JWKS, never with the
service's own code, so a bug in ``services.tokens`` cannot hide itself.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jwt
from flask import Flask
from flask.testing import FlaskClient

ISSUER = "https://auth.outter.test"
AUDIENCE = "outter-api"
FIRST_PARTY = "outter-app"
TOKEN_URL = "/oauth/token"
REVOKE_URL = "/oauth/revoke"
INTROSPECT_URL = "/oauth/introspect"
ME_URL = "/api/auth/me"
JWKS_URL = "/.well-known/jwks.json"
RFC6749_ERROR_KEYS = {"error", "error_description", "error_uri"}


@dataclass(frozen=True)
class OAuthClient:
    """Credentials of an OAuth client; ``secret`` is None for a public client."""

    client_id: str
    secret: str | None = None

    def auth(self, method: str = "basic") -> tuple[dict[str, str], dict[str, str]]:
        """(headers, form fields) that authenticate this client with ``method``.

        ``basic``: client_secret_basic; ``post``: client_secret_post; ``none``: client_id only.
        """
        if method == "basic":
            assert self.secret is not None, "a public client has no secret"
            return basic_auth(self.client_id, self.secret), {}
        if method == "post":
            assert self.secret is not None, "a public client has no secret"
            return {}, {"client_id": self.client_id, "client_secret": self.secret}
        if method == "none":
            return {}, {"client_id": self.client_id}
        raise ValueError(method)


OUTTER_APP = OAuthClient(FIRST_PARTY)


def basic_auth(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then HTTP Basic."""
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}


def create_client(
    app: Flask,
    name: str,
    *grant_types: str,
    tenant: str = "acme",
    scope: str = "",
    first_party: bool = False,
    public: bool = False,
) -> OAuthClient:
    """Register a client with ``outter-auth clients create`` (the tenant must exist)."""
    args = ["clients", "create", name, "--tenant", tenant, "--json"]
    for grant in grant_types:
        args += ["--grant-type", grant]
    if scope:
        args += ["--scope", scope]
    if first_party:
        args.append("--first-party")
    if public:
        args.append("--public")
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    if public:
        assert created["client_secret"] is None
    else:
        assert created["client_secret"], created
    return OAuthClient(created["client_id"], created["client_secret"])


def post_form(
    client: FlaskClient,
    url: str,
    form: dict[str, str],
    oauth_client: OAuthClient | None = None,
    method: str = "basic",
    headers: dict[str, str] | None = None,
) -> Any:
    auth_headers, auth_form = oauth_client.auth(method) if oauth_client else ({}, {})
    return client.post(url, data={**form, **auth_form}, headers={**auth_headers, **(headers or {})})


def token_request(
    client: FlaskClient, form: dict[str, str], oauth_client: OAuthClient | None = None, method: str = "basic"
) -> Any:
    return post_form(client, TOKEN_URL, form, oauth_client, method)


def password_grant(
    client: FlaskClient,
    oauth_client: OAuthClient,
    username: str,
    password: str,
    method: str = "none",
    **extra: str,
) -> Any:
    form = {"grant_type": "password", "username": username, "password": password, **extra}
    return token_request(client, form, oauth_client, method)


def refresh_grant(
    client: FlaskClient, oauth_client: OAuthClient, refresh_token: str, method: str = "none", **extra: str
) -> Any:
    return token_request(
        client, {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, oauth_client, method
    )


def assert_no_store(response: Any) -> None:
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)


def assert_token_response(response: Any, *, refresh: bool = True, expires_in: int = 900) -> dict[str, Any]:
    """A successful RFC 6749 §5.1 answer."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert_no_store(response)
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == expires_in
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["scope"], str)
    if refresh:
        assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    else:
        assert "refresh_token" not in body
    return body


def assert_oauth_error(response: Any, status: int, error: str) -> dict[str, Any]:
    """An RFC 6749 §5.2 error: JSON ``{"error", "error_description"?}``, no-store, a challenge on 401."""
    text = response.get_data(as_text=True)
    assert response.status_code == status, text
    assert response.mimetype == "application/json", response.mimetype
    assert "Traceback" not in text
    assert_no_store(response)
    body = response.get_json()
    assert body["error"] == error, body
    assert set(body) <= RFC6749_ERROR_KEYS, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str)
    if status == 401:
        assert response.headers.get("WWW-Authenticate", "").startswith("Basic"), dict(response.headers)
    return body


def served_jwks(client: FlaskClient) -> jwt.PyJWKSet:
    response = client.get(JWKS_URL)
    assert response.status_code == 200
    return jwt.PyJWKSet.from_dict(response.get_json())


def verify_access_token(client: FlaskClient, token: str) -> dict[str, Any]:
    """Verify like a gateway (RFC 9068): header exactly RS256/at+jwt/kid, signature by the served JWKS."""
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    assert isinstance(header.get("kid"), str) and header["kid"]
    return jwt.decode(
        token,
        served_jwks(client)[header["kid"]],
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "exp", "iat", "sub", "jti"]},
    )


def unverified_claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def me_status(client: FlaskClient, token: str) -> int:
    return int(client.get(ME_URL, headers=bearer(token)).status_code)


def introspect(client: FlaskClient, oauth_client: OAuthClient, token: str, method: str = "basic", **extra: str) -> Any:
    return post_form(client, INTROSPECT_URL, {"token": token, **extra}, oauth_client, method)


def assert_introspection(response: Any) -> dict[str, Any]:
    """A successful RFC 7662 §2.2 answer: JSON with a boolean ``active``, never cached."""
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert_no_store(response)
    body = response.get_json()
    assert isinstance(body["active"], bool), body
    return body


def revoke(client: FlaskClient, oauth_client: OAuthClient, token: str, method: str = "basic", **extra: str) -> Any:
    return post_form(client, REVOKE_URL, {"token": token, **extra}, oauth_client, method)
