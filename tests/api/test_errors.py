"""The error shape of SPEC §4, for every kind of error the HTTP layer can answer."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from outter_auth import clock
from outter_auth.services import tenancy
from tests.assertions import assert_error
from tests.factories import Actor, Factory

LOGIN = "/api/auth/login"
GENERIC_500 = {"code": 500, "status": "Internal Server Error", "message": "internal server error"}


def allowed(response) -> set[str]:
    return {method.strip() for method in response.headers["Allow"].split(",")}


# --- 404 and 405 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nope"),
        ("GET", "/api/auth/nope"),
        ("POST", "/api/auth/nope"),
        ("GET", "/api/auth/projects/prj_1/extra"),
        ("DELETE", "/api/auth"),
    ],
)
def test_unknown_path_is_404_json(client, method, path):
    body = assert_error(client.open(path, method=method, json={} if method == "POST" else None), 404)
    assert set(body) == {"code", "status", "message"}


def test_unknown_path_is_404_whatever_the_body(client):
    assert_error(client.post("/api/auth/nope", data="hello", content_type="text/plain"), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", LOGIN, {"POST", "OPTIONS"}),
        ("GET", LOGIN, {"POST", "OPTIONS"}),
        ("DELETE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/api/auth/projects", {"GET", "HEAD", "POST", "OPTIONS"}),
        ("POST", "/api/auth/projects/prj_1", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
        ("PUT", "/api/auth/users/usr_1", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
        ("DELETE", "/api/auth/tenant", {"GET", "HEAD", "OPTIONS"}),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_wrong_method_is_405_with_allow(client, owner, method, path, allow):
    response = client.open(path, method=method, headers=owner.headers)

    assert_error(response, 405)
    assert allowed(response) == allow
    assert method not in allowed(response)


def test_wrong_method_with_a_json_body_is_405(client):
    response = client.put(LOGIN, json={"email": "a@b.test", "password": "x"})
    assert_error(response, 405)
    assert "POST" in allowed(response)


def test_wrong_method_is_405_whatever_the_body(client):
    response = client.put(LOGIN, data="email=a", content_type="application/x-www-form-urlencoded")
    assert_error(response, 405)
    assert "POST" in allowed(response)


# --- 400, 415, 422 ----------------------------------------------------------------------


def test_malformed_json_is_400(client):
    body = assert_error(client.post(LOGIN, data="{bad", content_type="application/json"), 400)
    assert body["errors"] == {"json": ["Invalid JSON body."]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", "application/octet-stream"]
)
def test_a_body_that_is_not_json_is_415(client, content_type):
    response = client.post(LOGIN, data="email=a&password=b", content_type=content_type)
    assert "JSON" in assert_error(response, 415)["message"]


def test_validation_error_is_422_with_errors_per_field(client):
    response = client.post(LOGIN, json={"email": 5, "unknown": True})

    body = assert_error(response, 422)
    assert set(body["errors"]) == {"json"}
    assert set(body["errors"]["json"]) == {"email", "password", "unknown"}
    assert all(isinstance(m, list) and m for m in body["errors"]["json"].values())


def test_error_messages_do_not_echo_a_password(client, owner):
    secret = "hunter2\x00secret"
    response = client.post(LOGIN, json={"email": "owner@acme.test", "password": secret})

    assert_error(response, 422)
    assert "hunter2" not in response.get_data(as_text=True)


# --- 401 --------------------------------------------------------------------------------

PROTECTED = [
    ("GET", "/api/auth/me"),
    ("GET", "/api/auth/tenant"),
    ("GET", "/api/auth/projects"),
    ("POST", "/api/auth/projects"),
    ("GET", "/api/auth/projects/prj_1"),
    ("PATCH", "/api/auth/projects/prj_1"),
    ("DELETE", "/api/auth/projects/prj_1"),
    ("GET", "/api/auth/users"),
    ("POST", "/api/auth/users"),
    ("GET", "/api/auth/users/usr_1"),
    ("PATCH", "/api/auth/users/usr_1"),
    ("DELETE", "/api/auth/users/usr_1"),
]
CREDENTIALS = {
    "none": (None, 'Bearer realm="outter", ApiKey realm="outter"'),
    "basic": ("Basic b3duZXI6cGFzcw==", 'error="invalid_request"'),
    "bearer-no-token": ("Bearer", 'error="invalid_request"'),
    "bearer-garbage": ("Bearer not-a-jwt", 'error="invalid_token"'),
    "bearer-unsigned-jwt": ("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", 'error="invalid_token"'),
}


@pytest.mark.parametrize(("method", "path"), PROTECTED, ids=[f"{m}-{p}" for m, p in PROTECTED])
@pytest.mark.parametrize(("authorization", "challenge"), CREDENTIALS.values(), ids=CREDENTIALS.keys())
def test_401_carries_a_challenge(client, method, path, authorization, challenge):
    headers = {"Authorization": authorization} if authorization else {}

    response = client.open(path, method=method, json={} if method in ("POST", "PATCH") else None, headers=headers)

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="outter"')
    assert challenge in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401_with_a_challenge(client, owner: Actor):
    clock.freeze(clock.now() + timedelta(hours=1))

    response = client.get("/api/auth/me", headers=owner.headers)

    assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_failed_login_is_401_with_a_challenge(client, make: Factory):
    make.user("acme", "ann@acme.test")
    response = client.post(LOGIN, json={"email": "ann@acme.test", "password": "wrong password"})
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- 500 --------------------------------------------------------------------------------


@pytest.fixture
def production_errors(app, monkeypatch):
    """Answer unexpected exceptions as production does (the ``app`` fixture is
    session-wide; monkeypatch puts the settings back after the test)."""
    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


def explode(*args, **kwargs):
    raise RuntimeError("secret detail")


@pytest.mark.parametrize(
    ("target", "method", "path", "body"),
    [
        ("get_tenant", "GET", "/api/auth/tenant", None),
        ("create_project", "POST", "/api/auth/projects", {"name": "Web", "slug": "web"}),
    ],
    ids=["tenant-get", "projects-create"],
)
def test_unexpected_exception_is_a_bare_500_and_is_logged(
    client, owner, production_errors, monkeypatch, caplog, target, method, path, body
):
    monkeypatch.setattr(tenancy, target, explode)

    with caplog.at_level(logging.ERROR):
        response = client.open(path, method=method, json=body, headers=owner.headers)

    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.get_json() == GENERIC_500
    text = response.get_data(as_text=True)
    assert "secret detail" not in text and "RuntimeError" not in text and "Traceback" not in text
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert logged, "the exception is logged server-side"
    error = logged[0].exc_info[1]
    assert isinstance(error, RuntimeError) and str(error) == "secret detail"
    assert path in logged[0].getMessage()
