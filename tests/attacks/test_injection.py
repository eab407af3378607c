"""Injection: hostile text in what the service stores, queries with, or echoes back.

The JSON fields are validated by their schemas (tests/api/test_bad_input.py and
tests/attacks/test_oversized_input.py). Here is the rest: request metadata the audit trail
stores (User-Agent), OAuth form fields (RFC 6749 bodies have no schema of ours), query
filters, and headers a response might echo. Every answer is a clean 4xx/2xx (the suite's
``SafeClient`` fails any 5xx or trace), never another tenant's data, never an injected header.

NUL bytes matter most on PostgreSQL, which refuses them in text columns: a value that
reaches an INSERT or a WHERE unfiltered is a 500 there and nowhere else, which is why the
suite also runs against PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api_key_helpers import audit_events, create_key
from tests.attacks.places import KEYS, LOGOUT, ME, make_caller
from tests.factories import PASSWORD, Actor
from tests.oauth_helpers import OUTTER_APP, post_form

ON_POSTGRESQL = os.environ.get("OUTTER_DATABASE_URL", "").startswith("postgresql")
SQLISH = "' OR '1'='1' --"

# --- the User-Agent, which every audited action stores ---------------------------------------


USER_AGENTS = {
    "nul": "curl\x00/8.0",
    "newline": "curl/8.0\nFAKE 2030-01-01 login.succeeded admin",
    "escape-sequence": "\x1b[2J\x1b[31mcurl",
    "unicode-bidi": "Mozilla/5.0 \u202e🚀 שלום",
    "latin1-bytes": "\xff\xfe\xfd",
    "sql": SQLISH,
    "600-chars": "u" * 600,
}


def _login(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    return client.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD}, environ_overrides=environ)


def _login_failed(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    return client.post("/api/auth/login", json={"email": owner.email, "password": "wrong"}, environ_overrides=environ)


def _password_grant(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    form = {"grant_type": "password", "client_id": OUTTER_APP.client_id, "username": owner.email, "password": PASSWORD}
    return client.post("/oauth/token", data=form, environ_overrides=environ)


def _refresh(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    return client.post(
        "/api/auth/token/refresh", json={"refresh_token": owner.refresh_token}, environ_overrides=environ
    )


def _logout(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    return client.post(LOGOUT, headers=owner.headers, environ_overrides=environ)


def _create_key(client: FlaskClient, owner: Actor, environ: dict[str, str]) -> Any:
    body = {"name": "k", "scopes": ["content:generate"]}
    return client.post(KEYS, json=body, headers=owner.headers, environ_overrides=environ)


AUDITED: dict[str, tuple[Callable[[FlaskClient, Actor, dict[str, str]], Any], int]] = {
    "login": (_login, 200),
    "login-failed": (_login_failed, 401),
    "oauth-password-grant": (_password_grant, 200),
    "refresh": (_refresh, 200),
    "logout": (_logout, 204),
    "api-key-created": (_create_key, 201),
}


def _user_agent_cases() -> list[Any]:
    cases = []
    for action in AUDITED:
        for name, value in USER_AGENTS.items():
            cases.append(pytest.param(action, value, id=f"{action}-{name}"))
    return cases


@pytest.mark.parametrize(("action", "user_agent"), _user_agent_cases())
def test_a_hostile_user_agent_is_stored_safely(app, client, owner: Actor, action: str, user_agent: str):
    send, status = AUDITED[action]

    response = send(client, owner, {"HTTP_USER_AGENT": user_agent})

    assert response.status_code == status, response.get_data(as_text=True)
    for event in audit_events(app):
        assert len(event["user_agent"] or "") <= 512, event


# --- OAuth form fields --------------------------------------------------------------------------

FORM_VALUES = {
    "nul": "a\x00b",
    "sql": SQLISH,
    "like-wildcards": "%_%",
    "crlf": "a\r\nSet-Cookie: x=1",
    "unicode": "ünï🚀@مثال.test",
    "invalid-utf8": b"\xff\xfe",  # sent as %FF%FE
    "10kb": "x" * 10240,
}
FORM_FIELDS: dict[str, Callable[[dict[str, str], str], tuple[str, dict[str, str]]]] = {
    "password-username": lambda base, v: ("/oauth/token", {**base["password"], "username": v}),
    "password-password": lambda base, v: ("/oauth/token", {**base["password"], "password": v}),
    "password-tenant": lambda base, v: ("/oauth/token", {**base["password"], "tenant": v}),
    "password-scope": lambda base, v: ("/oauth/token", {**base["password"], "scope": v}),
    "password-client-id": lambda base, v: ("/oauth/token", {**base["password"], "client_id": v}),
    "refresh-token": lambda base, v: ("/oauth/token", {**base["refresh"], "refresh_token": v}),
    "grant-type": lambda base, v: ("/oauth/token", {**base["password"], "grant_type": v}),
    "client-credentials-id": lambda base, v: ("/oauth/token", {**base["cc"], "client_id": v}),
    "client-credentials-secret": lambda base, v: ("/oauth/token", {**base["cc"], "client_secret": v}),
    "introspect-token": lambda base, v: ("/oauth/introspect", {**base["secret"], "token": v}),
    "introspect-hint": lambda base, v: ("/oauth/introspect", {**base["secret"], "token": "x", "token_type_hint": v}),
    "revoke-token": lambda base, v: ("/oauth/revoke", {"client_id": OUTTER_APP.client_id, "token": v}),
}


@pytest.mark.parametrize("value", FORM_VALUES.values(), ids=FORM_VALUES.keys())
@pytest.mark.parametrize("field", FORM_FIELDS)
def test_hostile_oauth_form_fields_are_clean_oauth_answers(client, owner: Actor, field: str, value: Any):
    machine = make_caller(client, owner.headers).introspector
    secret = {"client_id": machine.client_id, "client_secret": str(machine.secret)}
    base = {
        "password": {"grant_type": "password", "client_id": OUTTER_APP.client_id, "username": owner.email},
        "refresh": {"grant_type": "refresh_token", "client_id": OUTTER_APP.client_id},
        "cc": {"grant_type": "client_credentials", **secret},
        "secret": secret,
    }
    base["password"]["password"] = PASSWORD
    url, form = FORM_FIELDS[field](base, value)

    response = post_form(client, url, form)

    assert response.status_code in (200, 400, 401), response.get_data(as_text=True)
    body = response.get_json()
    if url == "/oauth/token":
        assert response.status_code != 200 or field in ("password-tenant", "password-scope"), body
        if response.status_code != 200:
            assert isinstance(body["error"], str), body
    elif url == "/oauth/introspect":
        assert response.status_code == 200 and body == {"active": False}, body
    assert "Set-Cookie" not in response.headers
    assert client.get(ME, headers=owner.headers).status_code == 200


# --- query filters ------------------------------------------------------------------------------

FILTER_VALUES = {
    "sql": SQLISH,
    "like-percent": "%",
    "like-underscore": "_",
    "glob-star": "*",
    "nul": "a\x00b",
    "unicode": "🚀",
    "backslash": "\\",
    "10kb": "x" * 10240,
}
FILTERS = [
    ("/api/auth/audit-events", "type"),
    ("/api/auth/audit-events", "actor"),
    ("/api/auth/audit-events", "since"),
    ("/api/auth/api-keys", "project_id"),
    ("/api/auth/api-keys", "environment"),
]


@pytest.mark.parametrize("value", FILTER_VALUES.values(), ids=FILTER_VALUES.keys())
@pytest.mark.parametrize(("url", "field"), FILTERS, ids=[f"{u.rsplit('/', 1)[1]}-{f}" for u, f in FILTERS])
def test_hostile_filters_find_only_the_tenants_own_rows(
    client, owner: Actor, other_owner: Actor, url: str, field: str, value: str
):
    create_key(client, other_owner.headers, name="theirs")
    create_key(client, owner.headers, name="ours")

    response = client.get(url, query_string={field: value, "page_size": 100}, headers=owner.headers)

    assert response.status_code in (200, 422), response.get_data(as_text=True)
    if response.status_code == 200:
        assert all(row["tenant_id"] == owner.tenant_id for row in response.get_json())
        assert other_owner.tenant_id not in response.get_data(as_text=True)


# --- headers a response might echo -------------------------------------------------------------

ECHO_CANDIDATES = ["X-Request-Id", "X-Correlation-Id", "Origin", "X-Forwarded-For", "X-Forwarded-Host", "Host"]


@pytest.mark.parametrize("header", ECHO_CANDIDATES)
def test_no_header_injection_through_echoed_request_headers(client, owner: Actor, header: str):
    environ_key = "HTTP_" + header.upper().replace("-", "_")
    hostile = "a\r\nSet-Cookie: session=evil\r\nX-Injected: 1"

    for path in (ME, "/api/auth/gateway/check", "/healthz"):
        response = client.get(path, headers=owner.headers, environ_overrides={environ_key: hostile})
        assert "Set-Cookie" not in response.headers and "X-Injected" not in response.headers, path
        assert all("\n" not in value and "\r" not in value for _, value in response.headers.items()), path
