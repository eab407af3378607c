"""Apache + mod_auth_openidc (deploy/apache/) verifying our access tokens offline.

The service runs under gunicorn over TLS (a certificate made here; mod_auth_openidc fetches
the JWKS over https only, and checks the certificate against it), on its own keys directory.
Apache includes deploy/apache/outter-oauth20.conf as it ships and proxies to an upstream that
echoes the headers it received. Bad tokens are forged with PyJWT and the service's real
private key, so that each is refused for the one thing that is wrong with it; a forged token
with nothing wrong is accepted, which shows the forging itself is sound.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from tests.factories import PASSWORD, Factory
from tests.integration.servers import (
    AUDIENCE,
    ISSUER,
    Apache,
    Echo,
    Service,
    apache,
    apache_missing,
    echo_upstream,
    gunicorn,
    outter_cli_json,
    require,
    self_signed_certificate,
    service_env,
    wait_for,
)


@pytest.fixture(scope="module", autouse=True)
def _apache_installed() -> None:
    """Before the module's servers start: skipped without Apache and mod_auth_openidc, a failure under CI."""
    require(apache_missing())


EMAIL = "owner@acme.test"
JWKS_PATH = "/.well-known/jwks.json"


@dataclass
class Stack:
    apache: Apache
    service: Service
    upstream: Echo
    keys_dir: Path
    certfile: Path
    env: dict[str, str]

    def get(self, path: str = "/api/things", token: str | None = None, **headers: str) -> requests.Response:
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.get(self.apache.base + path, headers=headers, timeout=10)

    def login(self) -> str:
        response = requests.post(
            self.service.base + "/api/auth/login",
            json={"email": EMAIL, "password": PASSWORD},
            verify=str(self.certfile),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        token: str = response.json()["access_token"]
        return token

    def jwks_fetches(self) -> int:
        """How often mod_auth_openidc fetched the JWKS, from its debug log: written before it
        answers the request (the service's access log may lag behind the response)."""
        fetch = f"oidc_util_http_call: url={self.service.base}{JWKS_PATH},"
        return self.apache.error_log.read_text().count(fetch)


@pytest.fixture(scope="module")
def tls_upstream() -> Iterator[Echo]:
    with echo_upstream() as upstream:
        yield upstream


def run_stack(root: Path, database_url: str, upstream: Echo) -> Iterator[Stack]:
    """The service on ``root/keys`` (never the session keys dir) over TLS, and Apache in front."""
    keys_dir = root / "keys"
    certfile, keyfile = self_signed_certificate(root / "tls")
    env = service_env(database_url, keys_dir)
    with gunicorn(env, root / "service", workers=2, tls=(certfile, keyfile)) as service:
        defines = {
            "OUTTER_JWKS_URI": service.base + JWKS_PATH,
            "OUTTER_ISSUER": ISSUER,
            "OUTTER_AUDIENCE": AUDIENCE,
            "OUTTER_UPSTREAM": upstream.base,
        }
        with apache(root / "apache", defines, ca_bundle=certfile) as httpd:
            yield Stack(httpd, service, upstream, keys_dir, certfile, env)


@pytest.fixture(scope="module")
def stack(
    app: Flask, database_url: str, tls_upstream: Echo, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Depends on ``app``: the database is migrated, and its rows are cleaned after each test."""
    yield from run_stack(tmp_path_factory.mktemp("apache-jwt"), database_url, tls_upstream)


@pytest.fixture
def user_id(make: Factory) -> str:
    return make.user("acme", EMAIL, "owner")


# -- forging ------------------------------------------------------------------------------


def signing_key_of(stack: Stack, token: str) -> tuple[str, bytes]:
    """(kid, private PEM) of the key that signed ``token``, read from the service's keys directory."""
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid, (stack.keys_dir / f"{kid}.pem").read_bytes()


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


DROP = object()  # forge(..., claim=DROP) leaves the claim out


def forge(stack: Stack, token: str, *, key: Any = None, kid: str | None = None, **changes: Any) -> str:
    """The claims of ``token`` with ``changes``, signed RS256 (by our real key unless ``key``)."""
    our_kid, our_pem = signing_key_of(stack, token)
    claims = {name: value for name, value in {**claims_of(token), **changes}.items() if value is not DROP}
    headers = {"kid": kid or our_kid, "typ": "at+jwt"}
    return jwt.encode(claims, key if key is not None else our_pem, algorithm="RS256", headers=headers)


def tampered(token: str, **changes: Any) -> str:
    """The same signature over a changed payload."""
    header, _, signature = token.split(".")
    payload = b64url(json.dumps({**claims_of(token), **changes}, separators=(",", ":")).encode())
    return f"{header}.{payload}.{signature}"


def unsigned(token: str) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "at+jwt"}).encode())
    return f"{header}.{token.split('.')[1]}."


def foreign_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def received(response: requests.Response) -> dict[str, list[str]]:
    assert response.status_code == 200, response.text
    headers: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return headers


def outter_headers(headers: dict[str, list[str]]) -> dict[str, str]:
    found = {}
    for name, values in headers.items():
        if name.startswith(("x-outter-", "x_outter_")):
            assert len(values) == 1, f"{name} reached the upstream {len(values)} times"
            found[name] = values[0]
    return found


# -- accepted -----------------------------------------------------------------------------------


def test_a_token_from_login_is_accepted_and_its_identity_reaches_the_upstream(stack: Stack, user_id: str):
    token = stack.login()
    claims = claims_of(token)

    headers = received(stack.get("/api/things/1", token))

    assert outter_headers(headers) == {
        "x-outter-tenant-id": claims["tenant_id"],
        "x-outter-scopes": claims["scope"],
        "x-outter-user-id": user_id,
    }
    assert "authorization" not in headers
    assert token not in json.dumps(headers)


def test_spoofed_identity_headers_do_not_reach_the_upstream(stack: Stack, user_id: str):
    token = stack.login()
    spoofed = {
        "X-Outter-Tenant-Id": "ten_evil",
        "X-Outter-User-Id": "usr_admin",
        "X-Outter-Client-Id": "cli_evil",
        "X-Outter-Key-Id": "key_evil",
        "X-Outter-Scopes": "api_keys:write",
        "X-Outter-Project-Id": "prj_evil",
        "X_Outter_Tenant_Id": "ten_evil_underscore",
        "X_Outter_User_Id": "usr_admin_underscore",
    }

    found = outter_headers(received(stack.get("/api/things/2", token, **spoofed)))

    assert found == {
        "x-outter-tenant-id": claims_of(token)["tenant_id"],
        "x-outter-scopes": claims_of(token)["scope"],
        "x-outter-user-id": user_id,
    }


def test_a_client_credentials_token_reaches_the_upstream_as_the_client(stack: Stack, app: Flask, user_id: str):
    created = app.test_cli_runner().invoke(
        args=["clients", "create", "svc", "--tenant", "acme", "--grant-type", "client_credentials", "--json"]
    )
    assert created.exit_code == 0, created.output
    client = json.loads(created.output)
    response = requests.post(
        stack.service.base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client["client_id"], client["client_secret"]),
        verify=str(stack.certfile),
        timeout=10,
    )
    assert response.status_code == 200, response.text

    found = outter_headers(received(stack.get("/api/things/3", response.json()["access_token"])))

    assert found["x-outter-client-id"] == client["client_id"]
    assert "x-outter-user-id" not in found


def test_a_token_forged_with_our_key_and_nothing_wrong_is_accepted(stack: Stack, user_id: str):
    """The control for the refusals below: forging alone does not make a token fail."""
    now = int(time.time())
    token = forge(stack, stack.login(), iat=now - 1000, nbf=now - 1000, exp=now + 600)
    assert stack.get("/api/things/4", token).status_code == 200


# -- refused ----------------------------------------------------------------------------------


def bad_tokens(stack: Stack, good: str) -> dict[str, str]:
    now = int(time.time())
    our_kid, _ = signing_key_of(stack, good)
    return {
        "expired": forge(stack, good, iat=now - 1000, nbf=now - 1000, exp=now - 100),
        "tampered payload": tampered(good, tenant_id="ten_someone_else"),
        "tampered scope": tampered(good, scope=claims_of(good)["scope"] + " api_keys:write"),
        "wrong audience": forge(stack, good, aud="another-api"),
        "wrong issuer": forge(stack, good, iss="https://evil.example"),
        "no audience": forge(stack, good, aud=DROP),
        "no issuer": forge(stack, good, iss=DROP),
        "no expiry": forge(stack, good, exp=DROP),
        "not yet valid": forge(stack, good, iat=now, nbf=now + 600, exp=now + 900),
        "foreign key under our kid": forge(stack, good, key=foreign_key(), kid=our_kid),
        "foreign key, unknown kid": forge(stack, good, key=foreign_key(), kid="not-a-kid-of-ours"),
        "alg none": unsigned(good),
        "not a jwt": "abc.def.ghi",
    }


REFUSALS = [
    "expired",
    "tampered payload",
    "tampered scope",
    "wrong audience",
    "wrong issuer",
    "no audience",
    "no issuer",
    "no expiry",
    pytest.param(
        "not yet valid",
        marks=pytest.mark.xfail(
            strict=True,
            reason="LIMITATION of mod_auth_openidc 2.4 (not of ours): nbf is not checked; see deploy/apache/README.md",
        ),
    ),
    "foreign key under our kid",
    "foreign key, unknown kid",
    "alg none",
    "not a jwt",
]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_bad_token_is_401(stack: Stack, user_id: str, case: str):
    good = stack.login()
    assert stack.get("/api/things/good", good).status_code == 200
    path = "/api/things/" + case.replace(" ", "-")

    response = stack.get(path, bad_tokens(stack, good)[case])

    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")
    assert not any(seen["path"] == path for seen in stack.upstream.requests)


def test_no_token_is_401(stack: Stack):
    response = stack.get("/api/things/none", **{"X-API-Key": "outter_live_" + "A" * 38})
    assert response.status_code == 401
    assert not any(seen["path"] == "/api/things/none" for seen in stack.upstream.requests)


# -- signing-key rotation -----------------------------------------------------------------------


@pytest.fixture
def rotation_stack(app: Flask, database_url: str, tls_upstream: Echo, tmp_path: Path) -> Iterator[Stack]:
    """A stack of its own: the rotation changes its keys directory."""
    yield from run_stack(tmp_path, database_url, tls_upstream)


def test_tokens_of_a_key_activated_at_once_are_accepted(rotation_stack: Stack, user_id: str):
    stack = rotation_stack
    old_token = stack.login()
    old_kid = jwt.get_unverified_header(old_token)["kid"]
    for _ in range(3):
        assert stack.get("/api/things/old", old_token).status_code == 200
    assert stack.jwks_fetches() == 1, "mod_auth_openidc should cache the JWKS"

    new_kid = outter_cli_json(stack.env, "keys", "rotate")["kid"]
    outter_cli_json(stack.env, "keys", "activate", new_kid, "--now")

    # The service re-reads its keyring within a second; then it signs with the new key.
    def signed_by_the_new_key() -> str | None:
        token = stack.login()
        return token if jwt.get_unverified_header(token)["kid"] == new_kid else None

    new_token = wait_for(signed_by_the_new_key, 10, "the service to sign with the new key", interval=0.1)
    assert new_kid != old_kid

    # Apache has the old JWKS cached; the unknown kid makes it fetch the JWKS again, once.
    assert stack.get("/api/things/new", new_token).status_code == 200
    assert stack.jwks_fetches() == 2
    assert "doing a forced refresh" in stack.apache.error_log.read_text()
    assert stack.get("/api/things/new", new_token).status_code == 200
    assert stack.get("/api/things/old", old_token).status_code == 200  # the old key is still published
    assert stack.jwks_fetches() == 2
