"""CORS (issue 6, item 5): off unless OUTTER_CORS_ORIGINS lists origins; then for /api/*, /oauth/*
and /.well-known/*, never for the gateway endpoints, without credentials (bearer tokens only)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from outter_auth.services import api_key_format
from tests.api_key_helpers import create_key, key_headers
from tests.factories import Actor
from tests.oauth_helpers import bearer

APP_ORIGIN = "https://app.example.com"
ADMIN_ORIGIN = "https://admin.example.com"
ACAO = "Access-Control-Allow-Origin"
GATEWAY = [("GET", "/api/auth/gateway/check"), ("POST", "/api/auth/api-keys/verify")]
COVERED = [
    ("GET", "/api/auth/me"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/auth/api-keys"),
    ("PATCH", "/api/auth/api-keys/key_0123456789abcdef"),
    ("DELETE", "/api/auth/api-keys/key_0123456789abcdef"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/introspect"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/openid-configuration"),
]


def cors_headers(response: Any) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def varies_on_origin(response: Any) -> bool:
    return "origin" in {v.strip().lower() for v in response.headers.get("Vary", "").split(",")}


def exposed(response: Any) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Access-Control-Expose-Headers", "").split(",")}


def preflight(client: FlaskClient, path: str, method: str, origin: str = APP_ORIGIN, headers: str = "") -> Any:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return client.options(path, headers=request_headers)


@pytest.fixture
def cors(make_app) -> FlaskClient:
    """The service with one allowed origin."""
    return make_app(cors_origins=(APP_ORIGIN,)).test_client()


@pytest.fixture
def two_origins(make_app) -> FlaskClient:
    return make_app(cors_origins=f"{APP_ORIGIN}, {ADMIN_ORIGIN}/").test_client()


@pytest.fixture
def any_origin(make_app) -> FlaskClient:
    return make_app(cors_origins=("*",)).test_client()


# --- off by default -----------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), COVERED + GATEWAY)
def test_off_by_default_no_access_control_header_at_all(client, owner, method, path):
    simple = client.open(path, method=method, headers={"Origin": APP_ORIGIN, **owner.headers})
    pre = preflight(client, path, method, headers="authorization, content-type")

    assert cors_headers(simple) == {} and cors_headers(pre) == {}
    assert pre.status_code == 200
    assert not varies_on_origin(simple)


# --- on, for an allowed origin ------------------------------------------------------------


def test_a_simple_request_from_an_allowed_origin(cors, owner: Actor):
    response = cors.get("/api/auth/me", headers={"Origin": APP_ORIGIN, **owner.headers})

    assert response.status_code == 200
    assert response.headers[ACAO] == APP_ORIGIN
    assert response.headers.getlist(ACAO) == [APP_ORIGIN]
    assert varies_on_origin(response)
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert {"www-authenticate", "retry-after", "x-request-id", "x-pagination"} <= exposed(response)
    # Preflight-only headers stay out of actual responses.
    assert "Access-Control-Allow-Methods" not in response.headers
    assert "Access-Control-Max-Age" not in response.headers


@pytest.mark.parametrize(("method", "path"), COVERED)
def test_a_preflight_is_answered_without_a_credential(cors, method, path):
    response = preflight(cors, path, method, headers="Authorization, Content-Type, X-Request-Id")

    assert response.status_code == 200, response.get_data(as_text=True)  # never 401, 415 or 405
    assert response.headers[ACAO] == APP_ORIGIN
    assert method in {m.strip() for m in response.headers["Access-Control-Allow-Methods"].split(",")}
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert allowed == {"authorization", "content-type", "x-request-id"}
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert varies_on_origin(response)
    assert "WWW-Authenticate" not in response.headers


def test_a_preflight_with_a_content_type_is_not_a_415(cors):
    response = cors.options(
        "/api/auth/login",
        headers={"Origin": APP_ORIGIN, "Access-Control-Request-Method": "POST", "Content-Type": "text/plain"},
    )
    assert response.status_code == 200 and response.headers[ACAO] == APP_ORIGIN


def test_a_preflight_cannot_get_other_headers_allowed(cors):
    response = preflight(cors, "/api/auth/me", "GET", headers="X-API-Key, Cookie, Authorization")

    allowed = {h.strip().lower() for h in response.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert allowed == {"authorization"}


def test_a_preflight_for_a_method_the_api_does_not_use_gets_no_methods(cors):
    response = preflight(cors, "/api/auth/me", "PUT")
    assert "Access-Control-Allow-Methods" not in response.headers


def test_errors_carry_cors_headers_so_the_browser_can_read_them(cors, owner: Actor):
    unauthenticated = cors.get("/api/auth/me", headers={"Origin": APP_ORIGIN})
    not_found = cors.get("/api/auth/api-keys/key_0123456789abcdef", headers={"Origin": APP_ORIGIN, **owner.headers})
    oauth_error = cors.post("/oauth/token", data={"grant_type": "nope"}, headers={"Origin": APP_ORIGIN})

    assert unauthenticated.status_code == 401 and unauthenticated.headers["WWW-Authenticate"]
    assert not_found.status_code == 404
    assert oauth_error.status_code == 400
    for response in (unauthenticated, not_found, oauth_error):
        assert response.headers[ACAO] == APP_ORIGIN
        assert {"www-authenticate", "x-request-id"} <= exposed(response)
        assert response.headers["X-Request-Id"]


def test_the_pagination_header_is_exposed(cors, owner: Actor):
    create_key(cors, owner.headers)
    response = cors.get("/api/auth/api-keys", headers={"Origin": APP_ORIGIN, **owner.headers})

    assert response.status_code == 200
    assert "X-Pagination" in response.headers
    assert "x-pagination" in exposed(response)


def test_the_discovery_documents_and_jwks(cors):
    for path in ("/.well-known/jwks.json", "/.well-known/oauth-authorization-server"):
        response = cors.get(path, headers={"Origin": APP_ORIGIN})
        assert response.status_code == 200
        assert response.headers[ACAO] == APP_ORIGIN and varies_on_origin(response)


def test_a_cacheable_answer_varies_on_origin_even_without_one(cors):
    """The JWKS is cacheable: a copy cached without CORS headers must not go to a browser."""
    response = cors.get("/.well-known/jwks.json")

    assert ACAO not in response.headers
    assert varies_on_origin(response)
    assert response.headers["Vary"].lower().count("origin") == 1


# --- never for others -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example.com",
        "https://app.example.com.evil.com",
        "https://evilapp.example.com",
        "http://app.example.com",
        "https://app.example.com:8443",
        "null",
        "https://app.example.co",
    ],
)
def test_a_disallowed_origin_gets_no_cors_headers(cors, owner: Actor, origin):
    simple = cors.get("/api/auth/me", headers={"Origin": origin, **owner.headers})
    pre = preflight(cors, "/api/auth/me", "GET", origin=origin, headers="authorization")

    assert simple.status_code == 200
    assert cors_headers(simple) == {} and cors_headers(pre) == {}
    assert varies_on_origin(simple) and varies_on_origin(pre)


def test_no_origin_no_cors_headers(cors, owner: Actor):
    response = cors.get("/api/auth/me", headers=owner.headers)
    assert cors_headers(response) == {}


@pytest.mark.parametrize(("method", "path"), GATEWAY)
def test_the_gateway_endpoints_never_answer_cors(cors, owner: Actor, method, path):
    key = create_key(cors, owner.headers)
    simple = cors.open(path, method=method, headers={"Origin": APP_ORIGIN, **key_headers(key["key"])})
    refused = cors.open(
        path, method=method, headers={"Origin": APP_ORIGIN, **key_headers(api_key_format.generate("live"))}
    )
    pre = preflight(cors, path, method, headers="x-api-key")

    assert simple.status_code == 200 and refused.status_code == 401
    for response in (simple, refused, pre):
        assert cors_headers(response) == {}
        assert not varies_on_origin(response)


def test_the_gateway_check_with_a_bearer_token_gets_no_cors_either(cors, owner: Actor):
    response = cors.get("/api/auth/gateway/check", headers={"Origin": APP_ORIGIN, **bearer(owner.token)})
    assert response.status_code == 200 and cors_headers(response) == {}


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
def test_paths_outside_the_api_are_not_covered(cors, path):
    response = cors.get(path, headers={"Origin": APP_ORIGIN})
    assert response.status_code == 200 and cors_headers(response) == {}


# --- configurations -------------------------------------------------------------------------


def test_several_origins_each_get_their_own(two_origins, owner: Actor):
    for origin in (APP_ORIGIN, ADMIN_ORIGIN):
        response = two_origins.get("/api/auth/me", headers={"Origin": origin, **owner.headers})
        assert response.headers.getlist(ACAO) == [origin]
        assert varies_on_origin(response)
    other = two_origins.get("/api/auth/me", headers={"Origin": "https://evil.example.com", **owner.headers})
    assert cors_headers(other) == {}


def test_a_wildcard_answers_any_origin_with_a_star_and_no_credentials(any_origin, owner: Actor):
    response = any_origin.get("/api/auth/me", headers={"Origin": "https://anything.example", **owner.headers})
    pre = preflight(any_origin, "/oauth/token", "POST", origin="https://anything.example", headers="content-type")

    assert response.headers[ACAO] == "*" and pre.headers[ACAO] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Access-Control-Allow-Credentials" not in pre.headers
    gateway = any_origin.get("/api/auth/gateway/check", headers={"Origin": "https://anything.example"})
    assert cors_headers(gateway) == {}
