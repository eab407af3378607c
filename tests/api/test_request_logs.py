"""Request logs (issue 6, item 6): one JSON line per request with its request id, and no secret
in any log output of any logger, at any level, during a full flow.

Log lines are read from stderr (file descriptor 2) as the service's handler writes them, not from
the records, so the tests see what an operator sees.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from outter_auth import request_log
from outter_auth.app import create_app
from outter_auth.services import api_key_format, tenancy
from tests.api_key_helpers import create_key, key_headers, secret_parts
from tests.assertions import assert_error
from tests.factories import Factory
from tests.oauth_helpers import (
    OUTTER_APP,
    OAuthClient,
    assert_token_response,
    bearer,
    introspect,
    password_grant,
    refresh_grant,
    revoke,
    token_request,
)

GENERATED_ID = re.compile(r"[0-9a-f]{32}")
REQUEST_LOGGER = "outter_auth.request"
# A PostgreSQL URL on a port where nothing listens (as in test_outage_and_headers.py).
UNREACHABLE = "postgresql+psycopg://outter@127.0.0.1:1/outter?connect_timeout=1"


class Logs:
    """What the service wrote to stderr since the last read: raw text and its JSON records."""

    def __init__(self, capfd: pytest.CaptureFixture[str]) -> None:
        self.capfd = capfd
        self.text = ""
        self.records: list[dict[str, Any]] = []

    def read(self) -> Logs:
        err = self.capfd.readouterr().err
        self.text += err
        for line in err.splitlines():
            if line.startswith("{"):
                self.records.append(json.loads(line))  # every JSON-looking line must be JSON
        return self

    def requests(self, **match: Any) -> list[dict[str, Any]]:
        self.read()
        return [
            r for r in self.records if r["logger"] == REQUEST_LOGGER and all(r.get(k) == v for k, v in match.items())
        ]

    def request(self, **match: Any) -> dict[str, Any]:
        found = self.requests(**match)
        assert len(found) == 1, (match, self.records)
        return found[0]


@pytest.fixture
def logs(capfd: pytest.CaptureFixture[str]) -> Logs:
    capfd.readouterr()  # start clean
    return Logs(capfd)


@pytest.fixture
def production_errors(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answer unexpected exceptions as production does (500, logged)."""
    monkeypatch.setitem(app.config, "TESTING", False)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


@pytest.fixture
def text_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    yield create_app({**base_config, "log_format": "text"})
    request_log.configure_logging("json")  # the default outside an app context, as before


def explode(*args: Any, **kwargs: Any) -> None:
    raise RuntimeError("unexpected failure")


# --- X-Request-Id -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status", "kwargs"),
    [
        ("GET", "/healthz", 200, {}),
        ("GET", "/.well-known/jwks.json", 200, {}),
        ("GET", "/nope", 404, {}),
        ("GET", "/api/auth/login", 405, {}),
        ("POST", "/api/auth/login", 415, {"data": "x", "content_type": "text/plain"}),
        ("POST", "/api/auth/login", 422, {"json": {}}),
        ("GET", "/api/auth/me", 401, {}),
        ("GET", "/api/auth/gateway/check", 401, {}),
        ("POST", "/api/auth/api-keys/verify", 401, {}),
        ("POST", "/oauth/token", 400, {"data": {"grant_type": "nope"}}),
        ("OPTIONS", "/api/auth/me", 200, {}),
    ],
)
def test_every_response_carries_a_request_id_that_its_log_line_repeats(client, logs, method, path, status, kwargs):
    response = client.open(path, method=method, **kwargs)

    assert response.status_code == status, response.get_data(as_text=True)
    request_id = response.headers["X-Request-Id"]
    assert GENERATED_ID.fullmatch(request_id)
    line = logs.request(request_id=request_id)
    assert (line["method"], line["path"], line["status"]) == (method, path, status)


def test_each_request_gets_its_own_id(client):
    ids = {client.get("/healthz").headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize(
    "incoming",
    ["abc-123", "0", "req.42:7_x-Y", "0b1e8f2c-6a0d-4a6e-9a57-3c1a5a2f4e11", "r" * 128],
)
def test_a_sane_incoming_request_id_is_kept(client, logs, incoming):
    response = client.get("/api/auth/me", headers={"X-Request-Id": incoming})

    assert response.status_code == 401
    assert response.headers["X-Request-Id"] == incoming
    assert logs.request(request_id=incoming)["status"] == 401


INSANE_IDS = {
    "too long": "r" * 129,
    "empty": "",
    "crlf injection": "evil1\r\nX-Evil: injected",
    "newline in log": 'evil2\n{"logger":"outter_auth.request","status":200}',
    "unicode": "evil3-\u00e9\u2603",
    "utf-8 as latin-1": "evil4-\u00e9".encode().decode("latin-1"),
    "double quote": 'evil5"quoted',
    "single quote": "evil6'quoted",
    "markup": "<script>evil7</script>",
    "space": "evil8 spaced",
    "semicolon": "evil9;x",
    "slash": "../evil10",
    "nul": "evil11\x00",
}


@pytest.mark.parametrize("incoming", INSANE_IDS.values(), ids=INSANE_IDS.keys())
def test_an_insane_incoming_request_id_is_replaced_never_reflected(client, logs, incoming):
    # Raw in the WSGI environ: the test client itself refuses to build some of these headers.
    response = client.get("/api/auth/me", environ_overrides={"HTTP_X_REQUEST_ID": incoming})

    assert response.status_code == 401
    request_id = response.headers["X-Request-Id"]
    assert GENERATED_ID.fullmatch(request_id), request_id
    assert "X-Evil" not in response.headers and "evil" not in str(response.headers)
    assert logs.request(request_id=request_id)["status"] == 401
    assert "evil" not in logs.text and "r" * 129 not in logs.text


# --- the line itself ----------------------------------------------------------------------


def test_the_line_is_json_with_the_request_and_no_query_string(client, owner, logs):
    response = client.get(
        "/api/auth/api-keys", query_string={"page_size": 5, "marker": "querystring-marker"}, headers=owner.headers
    )

    assert response.status_code == 200
    line = logs.request(request_id=response.headers["X-Request-Id"])
    assert line["logger"] == REQUEST_LOGGER and line["level"] == "INFO"
    assert line["method"] == "GET"
    assert line["path"] == "/api/auth/api-keys"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float) and 0 <= line["duration_ms"] < 60_000
    assert line["remote_ip"] == "127.0.0.1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
    assert "querystring-marker" not in logs.text and "page_size" not in logs.text


def test_the_principal_of_an_authenticated_call_is_logged(client, owner, logs):
    as_user = client.get("/api/auth/me", headers=owner.headers)
    key = create_key(client, owner.headers)
    as_key = client.get("/api/auth/me", headers=key_headers(key["key"]))

    user_line = logs.request(request_id=as_user.headers["X-Request-Id"])
    assert (user_line["principal_type"], user_line["principal_id"]) == ("user", owner.user_id)
    assert user_line["tenant_id"] == owner.tenant_id
    key_line = logs.request(request_id=as_key.headers["X-Request-Id"])
    assert (key_line["principal_type"], key_line["principal_id"]) == ("api_key", key["id"])


def test_anonymous_and_refused_calls_have_no_principal(client, owner, logs):
    responses = [
        client.get("/healthz"),
        client.get("/api/auth/me"),
        client.get("/api/auth/me", headers=bearer("not.a.token")),
        client.get("/api/auth/me", headers=key_headers(api_key_format.generate("live"))),
    ]

    for response in responses:
        line = logs.request(request_id=response.headers["X-Request-Id"])
        assert line["principal_id"] is None and line["principal_type"] is None and line["tenant_id"] is None


def test_errors_are_logged_with_their_status(client, owner, logs):
    statuses = {
        404: client.get(f"/api/auth/api-keys/{'k' * 20}", headers=owner.headers),
        405: client.delete("/api/auth/login"),
        415: client.post("/api/auth/api-keys", data="{}", headers=owner.headers),
        422: client.post("/api/auth/api-keys", json={"name": ""}, headers=owner.headers),
        401: client.post("/api/auth/login", json={"email": owner.email, "password": "wrong password"}),
    }

    for status, response in statuses.items():
        assert response.status_code == status, response.get_data(as_text=True)
        assert logs.request(request_id=response.headers["X-Request-Id"])["status"] == status


def test_an_unexpected_500_keeps_its_request_id_on_the_traceback_record(
    client, owner, logs, production_errors, monkeypatch
):
    monkeypatch.setattr(tenancy, "get_tenant", explode)

    response = client.get("/api/auth/tenant", headers=owner.headers, environ_overrides={"HTTP_X_REQUEST_ID": "gw-500"})

    assert_error(response, 500)
    assert response.headers["X-Request-Id"] == "gw-500"
    line = logs.request(request_id="gw-500")
    assert (line["status"], line["level"], line["principal_id"]) == (500, "WARNING", owner.user_id)
    errors = [r for r in logs.records if r["level"] == "ERROR" and r.get("request_id") == "gw-500"]
    assert errors and "RuntimeError: unexpected failure" in errors[0]["exc_info"], logs.records


def test_an_exception_that_escapes_flask_is_still_logged_as_500(client, owner, logs, monkeypatch):
    monkeypatch.setattr(tenancy, "get_tenant", explode)  # TESTING: the exception reaches the caller

    with pytest.raises(RuntimeError):
        client.get("/api/auth/tenant", headers=owner.headers, environ_overrides={"HTTP_X_REQUEST_ID": "gw-raise"})

    assert logs.request(request_id="gw-raise")["status"] == 500


def test_a_database_outage_503_carries_the_request_id_and_so_does_its_error_record(app, base_config, logs):
    down = create_app({**base_config, "database_url": UNREACHABLE})
    down.config["PROPAGATE_EXCEPTIONS"] = False

    response = down.test_client().post("/api/auth/login", json={"email": "a@b.test", "password": "whatever1"})

    assert response.status_code == 503
    request_id = response.headers["X-Request-Id"]
    assert logs.request(request_id=request_id)["status"] == 503
    errors = [r for r in logs.records if r["logger"] == "outter_auth.errors" and r.get("request_id") == request_id]
    assert errors and errors[0]["message"].startswith("database unavailable"), logs.records


def test_control_characters_in_the_path_cannot_forge_a_line(client, logs):
    response = client.get("/nope%0A%7B%22forged%22%3A1%7D%0D")

    assert response.status_code == 404
    line = logs.request(request_id=response.headers["X-Request-Id"])
    assert line["path"] == '/nope\n{"forged":1}\r'
    assert not any(text.startswith('{"forged"') for text in logs.text.splitlines())


def test_text_format_is_one_readable_line(text_app, logs):
    client = text_app.test_client()
    ok = client.get("/healthz?token=querysecret", headers={"X-Request-Id": "text-1"})
    client.get("/nope%0Aforged-line")

    assert ok.headers["X-Request-Id"] == "text-1"
    logs.read()
    lines = [line for line in logs.text.splitlines() if re.match(r"\d{4}-\S+ \w+ outter_auth\.request ", line)]
    assert len(lines) == 2, logs.text
    assert re.search(r" INFO outter_auth\.request \[text-1\] GET /healthz 200 [\d.]+ms ip=127\.0\.0\.1$", lines[0])
    assert "/nope\\nforged-line 404" in lines[1]
    assert not any(line.startswith("forged-line") for line in logs.text.splitlines())
    assert "querysecret" not in logs.text
    assert not logs.records  # no JSON from this app


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_any_record_is_one_line_before_its_traceback(log_format):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        record = logging.makeLogRecord(
            {"name": "outter_auth.x", "levelname": "ERROR", "msg": "Exception on %s", "args": ("/a\nforged",)}
        )
        record.exc_info = sys.exc_info()

    first, *rest = request_log.LogFormatter(log_format).format(record).split("\n")

    assert "/a\\nforged" in first  # the newline escaped
    if log_format == "json":
        assert rest == [] and json.loads(first)["exc_info"].startswith("Traceback")
    else:
        assert rest[0].startswith("Traceback") and rest[-1] == "RuntimeError: boom"


def test_the_session_app_still_logs_json_after_a_text_app_was_made(text_app, client, logs):
    response = client.get("/healthz")
    assert logs.request(request_id=response.headers["X-Request-Id"])["status"] == 200


def test_records_reach_caplog_too(client, caplog):
    with caplog.at_level(logging.INFO, logger=REQUEST_LOGGER):
        response = client.get("/healthz")

    records = [r for r in caplog.records if r.name == REQUEST_LOGGER]
    assert [r.getMessage() for r in records] == ["GET /healthz 200"]
    assert records[0].request_id == response.headers["X-Request-Id"]


# --- no secret in any log output ------------------------------------------------------------


def enable_all_logging(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every logger at DEBUG into caplog, including ones a logging config set higher or disabled."""
    for name in ("sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "werkzeug", "authlib", "flask_cors"):
        logging.getLogger(name)
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)
            caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)


def captured(caplog: pytest.LogCaptureFixture, logs: Logs) -> str:
    """Everything logged: each record whole (message, args, extras, traceback) and stderr."""
    parts = [caplog.text, logs.read().text]
    for record in caplog.records:
        parts.append(f"{record.name} {record.levelname} {record.getMessage()} {record.args!r} {vars(record)!r}")
    return "\n".join(parts)


def windows(secret: str, size: int, start: int = 0) -> list[str]:
    """``secret`` and every ``size`` characters of its random part (from ``start``)."""
    body = secret[start:]
    return [secret, *(body[i : i + size] for i in range(len(body) - size + 1))]


def jwt_parts(token: str) -> list[str]:
    """A JWT and every 16 characters of its signature (header and claims are not secret)."""
    return windows(token.rsplit(".", 1)[1], 16) + [token]


def leaks(text: str, secrets_: dict[str, list[str]]) -> dict[str, str]:
    """The secrets found in ``text``, each with where it was found."""
    found = {}
    for name, parts in secrets_.items():
        for part in parts:
            at = text.find(part)
            if at >= 0:
                found[name] = text[max(0, at - 300) : at + len(part) + 100]
                break
    return found


@pytest.fixture
def capture_all(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch, logs: Logs) -> None:
    enable_all_logging(caplog, monkeypatch)


def test_no_secret_reaches_any_log_in_a_full_flow(app, make: Factory, capture_all, caplog, logs):
    client = app.test_client()
    password = "Pw-" + secrets.token_urlsafe(18)
    wrong_password = "Wrong-" + secrets.token_urlsafe(18)
    found: dict[str, list[str]] = {"password": [password], "wrong password": [wrong_password]}
    statuses: list[tuple[str, int, int]] = []

    def expect(label: str, response: Any, status: int) -> Any:
        statuses.append((label, response.status_code, status))
        return response

    def tokens(label: str, body: dict[str, Any]) -> dict[str, Any]:
        found[f"{label} access token"] = jwt_parts(body["access_token"])
        if "refresh_token" in body:
            found[f"{label} refresh token"] = windows(body["refresh_token"], 12)
        return body

    # A tenant and its owner (the factory logs in once), then the session API.
    owner = make.actor("acme", "owner@acme.test", "owner", password=password)
    tokens("factory", owner.login_body)
    login = tokens(
        "login",
        expect(
            "login", client.post("/api/auth/login", json={"email": owner.email, "password": password}), 200
        ).get_json(),
    )
    expect("me", client.get("/api/auth/me", headers=bearer(login["access_token"])), 200)
    refreshed = tokens(
        "refresh",
        expect(
            "refresh", client.post("/api/auth/token/refresh", json={"refresh_token": login["refresh_token"]}), 200
        ).get_json(),
    )
    tokens("oauth refresh", assert_token_response(refresh_grant(client, OUTTER_APP, refreshed["refresh_token"])))
    granted = tokens("password grant", assert_token_response(password_grant(client, OUTTER_APP, owner.email, password)))

    # An OAuth client (its secret shown once), a client_credentials token, introspection, revocation.
    created = expect(
        "client",
        client.post(
            "/api/auth/clients",
            json={"name": "Billing", "grant_types": ["client_credentials"], "scopes": ["users:read"]},
            headers=bearer(granted["access_token"]),
        ),
        201,
    ).get_json()
    machine = OAuthClient(created["client_id"], created["client_secret"])
    found["client secret"] = windows(machine.secret or "", 12, start=4)
    machine_token = tokens(
        "client_credentials",
        assert_token_response(token_request(client, {"grant_type": "client_credentials"}, machine), refresh=False),
    )["access_token"]
    for token, method in (
        (machine_token, "basic"),
        (granted["access_token"], "post"),
        (login["refresh_token"], "basic"),
    ):
        expect("introspect", introspect(client, machine, token, method=method), 200)
    expect("revoke", revoke(client, machine, machine_token), 200)
    expect("revoked me", client.get("/api/auth/me", headers=bearer(machine_token)), 401)

    # An API key: created, used, verified by the gateway endpoints, rotated, revoked.
    key = create_key(client, owner.headers, name="ci", scopes=["api_keys:read", "content:generate"])
    found["api key"] = secret_parts(key["key"])
    expect("key me", client.get("/api/auth/me", headers=key_headers(key["key"])), 200)
    expect("verify", client.post("/api/auth/api-keys/verify", headers=key_headers(key["key"])), 200)
    expect("verify body", client.post("/api/auth/api-keys/verify", json={"key": key["key"]}), 200)
    expect("check key", client.get("/api/auth/gateway/check", headers=key_headers(key["key"])), 200)
    expect("check jwt", client.get("/api/auth/gateway/check", headers=bearer(granted["access_token"])), 200)
    expect("introspect key", introspect(client, machine, key["key"]), 200)
    rotated = expect(
        "rotate", client.post(f"/api/auth/api-keys/{key['id']}/rotate", json={}, headers=owner.headers), 201
    ).get_json()
    found["rotated api key"] = secret_parts(rotated["key"])
    expect("revoke key", client.delete(f"/api/auth/api-keys/{rotated['id']}", headers=owner.headers), 204)
    expect("revoked key", client.post("/api/auth/api-keys/verify", headers=key_headers(rotated["key"])), 401)
    expect("old key", client.get("/api/auth/gateway/check", headers=key_headers(key["key"])), 401)
    expect("logout", client.post("/api/auth/logout", headers=bearer(login["access_token"])), 204)
    expect(
        "ended session", client.post("/api/auth/token/refresh", json={"refresh_token": refreshed["refresh_token"]}), 401
    )

    # Failed attempts carry secrets too.
    header, claims, signature = granted["access_token"].split(".")
    forged = f"{header}.{claims}.{signature[::-1]}"
    garbage = "g" + secrets.token_urlsafe(40)
    unknown_key = api_key_format.generate("live")
    wrong_secret = "ocs_" + secrets.token_urlsafe(32)
    found.update(
        {
            "forged token": jwt_parts(forged),
            "garbage token": windows(garbage, 12),
            "unknown key": secret_parts(unknown_key),
            "wrong client secret": windows(wrong_secret, 12, start=4),
        }
    )
    expect(
        "wrong password", client.post("/api/auth/login", json={"email": owner.email, "password": wrong_password}), 401
    )
    expect(
        "invalid login",
        client.post("/api/auth/login", json={"email": ["not a string"], "password": wrong_password}),
        422,
    )
    expect("wrong password grant", password_grant(client, OUTTER_APP, owner.email, wrong_password), 400)
    expect("forged", client.get("/api/auth/me", headers=bearer(forged)), 401)
    expect("garbage", client.get("/api/auth/me", headers=bearer(garbage)), 401)
    expect("forged check", client.get("/api/auth/gateway/check", headers=bearer(forged)), 401)
    expect("unknown key", client.post("/api/auth/api-keys/verify", headers=key_headers(unknown_key)), 401)
    expect("unknown key me", client.get("/api/auth/me", headers=key_headers(unknown_key)), 401)
    expect("unknown key check", client.get("/api/auth/gateway/check", headers=key_headers(unknown_key)), 401)
    wrong = OAuthClient(machine.client_id, wrong_secret)
    expect("wrong secret", token_request(client, {"grant_type": "client_credentials"}, wrong), 401)
    expect("wrong secret post", token_request(client, {"grant_type": "client_credentials"}, wrong, "post"), 401)
    expect("reused refresh", refresh_grant(client, OUTTER_APP, login["refresh_token"]), 400)
    app.extensions["outter_auth"].key_usage.flush()

    assert [s for s in statuses if s[1] != s[2]] == []
    text = captured(caplog, logs)
    # The capture did see the flow: request lines, SQL, and the third-party libraries.
    assert text.count('"logger":"outter_auth.request"') >= len(statuses)
    assert "INSERT INTO api_keys" in text and "SELECT" in text
    # Authlib logs each token it issues at DEBUG: the record is there, the token is blanked.
    assert "Issue token {" in text and f"'access_token': '{request_log.REDACTED}'" in text
    assert len(found) >= 15
    assert leaks(text, found) == {}


def test_the_leak_check_can_fail(app, client, capture_all, caplog, logs):
    """The capture sees request lines and third-party DEBUG records, and a planted secret is found."""
    key = api_key_format.generate("live")
    client.get("/api/auth/me", headers=key_headers(key))
    logging.getLogger("sqlalchemy.engine.Engine").debug("params %r", (key[20:28],))
    logging.getLogger("outter_auth.anything").debug("token=%s", "x")

    text = captured(caplog, logs)
    assert '"path":"/api/auth/me","status":401' in text
    assert list(leaks(text, {"api key": secret_parts(key)})) == ["api key"]
    assert leaks(text, {"other": secret_parts(api_key_format.generate("live"))}) == {}
    assert '"message":"token=x"' in text  # outter_auth DEBUG records reach stderr as JSON here


def test_the_development_server_logs_each_request_once(app, caplog):
    """werkzeug's own request line ("GET /healthz HTTP/1.1" 200 -) is dropped: ours is the line.

    Served by werkzeug's real server in a thread, as ``outter-auth run`` does."""
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with caplog.at_level(logging.INFO):
            with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/healthz", timeout=10) as response:
                assert response.status == 200
            server.shutdown()
            thread.join(timeout=10)
    finally:
        server.server_close()
    lines = [r for r in caplog.records if "/healthz" in r.getMessage()]
    assert [r.name for r in lines] == [REQUEST_LOGGER], [(r.name, r.getMessage()) for r in lines]


def test_werkzeugs_banner_and_errors_still_pass():
    from outter_auth.request_log import WerkzeugRequestLineFilter

    keep = WerkzeugRequestLineFilter().filter

    def record(level: int, msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("werkzeug", level, __file__, 1, msg, args, None)

    assert not keep(record(logging.INFO, '127.0.0.1 - - [x] "%s" %s %s', "GET / HTTP/1.1", "200", "-"))
    assert keep(record(logging.INFO, " * Running on %s", "http://127.0.0.1:5000"))
    assert keep(record(logging.INFO, "Press CTRL+C to quit"))
    assert keep(record(logging.ERROR, "127.0.0.1 - - [x] code %d, message %s", 400, "Bad request syntax"))
