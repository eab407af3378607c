"""Refresh tokens (SPEC §5): rotation, reuse detection, scope, client binding, lifetimes, logout.

Both doors are tested with one table: the OAuth grant at ``/oauth/token``
(``grant_type=refresh_token&client_id=outter-app``) and the JSON endpoint
``/api/auth/token/refresh``. Time moves with ``outter_auth.clock``, never by sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, update

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import RefreshToken, Session
from outter_auth.services import sessions
from tests.api_key_helpers import audit_events
from tests.apps import extra_app
from tests.assertions import assert_error
from tests.concurrency import race
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import (
    OUTTER_APP,
    OAuthClient,
    assert_oauth_error,
    assert_token_response,
    bearer,
    me_status,
    password_grant,
    refresh_grant,
    token_request,
    unverified_claims,
    verify_access_token,
)

JSON_REFRESH = "/api/auth/token/refresh"
LOGOUT = "/api/auth/logout"
VIAS = ["oauth", "json"]
TOKEN_KEYS = {"access_token", "token_type", "expires_in", "refresh_token", "scope"}


def do_refresh(client, via: str, refresh_token: str) -> Any:
    if via == "oauth":
        return refresh_grant(client, OUTTER_APP, refresh_token)
    return client.post(JSON_REFRESH, json={"refresh_token": refresh_token})


def assert_refreshed(response: Any, via: str) -> dict[str, Any]:
    body = assert_token_response(response)
    if via == "json":
        assert set(body) == TOKEN_KEYS
    return body


def assert_refused(response: Any, via: str) -> None:
    """invalid_grant at the OAuth endpoint; a 401 with a Bearer challenge at the JSON one."""
    if via == "oauth":
        assert_oauth_error(response, 400, "invalid_grant")
    else:
        assert_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def sid_of(body: dict[str, Any]) -> str:
    return unverified_claims(body["access_token"])["sid"]


@pytest.fixture(params=VIAS)
def via(request) -> str:
    return request.param


# --- rotation ------------------------------------------------------------------------------------


def test_each_refresh_returns_a_new_refresh_token_in_the_same_session(client, owner: Actor, via: str):
    seen = [owner.refresh_token]
    bodies = []
    for _ in range(3):
        body = assert_refreshed(do_refresh(client, via, seen[-1]), via)
        claims = verify_access_token(client, body["access_token"])
        assert claims["sub"] == owner.user_id and claims["client_id"] == "outter-app"
        assert me_status(client, body["access_token"]) == 200
        seen.append(body["refresh_token"])
        bodies.append(body)

    assert len(set(seen)) == len(seen), "every refresh hands out a new refresh token"
    assert {sid_of(b) for b in bodies} == {sid_of(owner.login_body)}
    assert {b["scope"] for b in bodies} == {owner.login_body["scope"]}


@pytest.mark.parametrize("second", VIAS)
def test_the_spent_token_stops_working(client, owner: Actor, via: str, second: str):
    assert_refreshed(do_refresh(client, via, owner.refresh_token), via)
    assert_refused(do_refresh(client, second, owner.refresh_token), second)


def test_tokens_from_either_door_work_at_the_other(client, owner: Actor):
    body = assert_refreshed(do_refresh(client, "json", owner.refresh_token), "json")
    body = assert_refreshed(do_refresh(client, "oauth", body["refresh_token"]), "oauth")
    body = assert_refreshed(do_refresh(client, "json", body["refresh_token"]), "json")
    assert sid_of(body) == sid_of(owner.login_body)


# --- reuse detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("reuse_via", VIAS)
def test_reuse_revokes_the_whole_session_and_is_audited(app, client, owner: Actor, make: Factory, via, reuse_via):
    other_session = make.login(owner.email)  # the same user's other session must survive
    first = assert_refreshed(do_refresh(client, via, owner.refresh_token), via)
    newest = assert_refreshed(do_refresh(client, via, first["refresh_token"]), via)

    assert_refused(do_refresh(client, reuse_via, owner.refresh_token), reuse_via)  # the spent first token

    assert_refused(do_refresh(client, via, newest["refresh_token"]), via)  # the newest one is dead too
    for access_token in (owner.token, first["access_token"], newest["access_token"]):
        assert me_status(client, access_token) == 401
    assert me_status(client, other_session["access_token"]) == 200
    assert_refreshed(do_refresh(client, via, other_session["refresh_token"]), via)

    events = audit_events(app, "refresh_token.reused")
    assert len(events) == 1
    event = events[0]
    assert event["tenant_id"] == owner.tenant_id
    assert event["subject"] == sid_of(owner.login_body)
    flat = repr(event)
    for secret in (owner.refresh_token, first["refresh_token"], newest["refresh_token"], owner.token):
        assert secret not in flat


def test_a_reused_token_stays_refused(app, client, owner: Actor, via: str):
    assert_refreshed(do_refresh(client, via, owner.refresh_token), via)
    for _ in range(2):
        assert_refused(do_refresh(client, via, owner.refresh_token), via)
    assert len(audit_events(app, "refresh_token.reused")) >= 1


@pytest.mark.parametrize("token", ["", "x", "not-a-refresh-token" * 3, "a" * 600])
def test_unknown_refresh_token_is_refused_at_the_oauth_endpoint(client, owner: Actor, token: str):
    response = refresh_grant(client, OUTTER_APP, token)
    if token == "":
        # An empty value: RFC 6749 treats empty parameters as omitted.
        assert response.status_code == 400 and response.get_json()["error"] in ("invalid_request", "invalid_grant")
    else:
        assert_oauth_error(response, 400, "invalid_grant")


@pytest.mark.parametrize("token", ["x", "not-a-refresh-token" * 3, "eyJhbGciOiJSUzI1NiJ9.e30.sig"])
def test_unknown_refresh_token_is_refused_at_the_json_endpoint(client, owner: Actor, token: str):
    assert_refused(client.post(JSON_REFRESH, json={"refresh_token": token}), "json")


def test_an_access_token_is_not_a_refresh_token(client, owner: Actor, via: str):
    response = do_refresh(client, via, owner.token)
    if via == "json" and response.status_code == 422:
        pass  # longer than any refresh token: refused by validation before any lookup
    else:
        assert_refused(response, via)
    assert_refreshed(do_refresh(client, via, owner.refresh_token), via)


@pytest.mark.parametrize("body", [{}, {"refresh_token": ""}, {"refresh_token": 42}, {"refresh_token": None}])
def test_json_refresh_validates_its_body(client, owner: Actor, body):
    assert_error(client.post(JSON_REFRESH, json=body), 422)


# --- scope ---------------------------------------------------------------------------------------


def test_refresh_with_a_narrower_scope(client, owner: Actor):
    narrowed = assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token, scope="users:read"))

    assert narrowed["scope"] == "users:read"
    assert verify_access_token(client, narrowed["access_token"])["scope"] == "users:read"
    # RFC 6749 §6: the session keeps its scope; omitting it later gives the original scope again.
    full = assert_token_response(refresh_grant(client, OUTTER_APP, narrowed["refresh_token"]))
    assert set(full["scope"].split()) == set(owner.login_body["scope"].split())


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("content:generate", id="never-granted"),
        pytest.param("users:read content:generate", id="partly-granted"),
        pytest.param("Users:Read", id="malformed"),
    ],
)
def test_refresh_with_a_wider_scope_is_invalid_scope_and_burns_nothing(app, client, owner: Actor, scope: str):
    assert_oauth_error(refresh_grant(client, OUTTER_APP, owner.refresh_token, scope=scope), 400, "invalid_scope")

    assert_token_response(refresh_grant(client, OUTTER_APP, owner.refresh_token))  # still unspent
    assert audit_events(app, "refresh_token.reused") == []


def test_member_cannot_widen_an_empty_scope(client, member: Actor):
    response = refresh_grant(client, OUTTER_APP, member.refresh_token, scope="users:read")
    assert_oauth_error(response, 400, "invalid_scope")
    assert_token_response(refresh_grant(client, OUTTER_APP, member.refresh_token))


# --- client binding ------------------------------------------------------------------------------


def _presenters(web_app: OAuthClient, mobile: OAuthClient) -> dict[str, tuple[OAuthClient, str]]:
    return {
        "outter-app": (OUTTER_APP, "none"),
        "confidential": (web_app, "basic"),
        "public": (mobile, "none"),
    }


@pytest.mark.parametrize(
    ("owner_name", "thief_name"),
    [
        ("outter-app", "confidential"),
        ("outter-app", "public"),
        ("confidential", "outter-app"),
        ("confidential", "public"),
        ("public", "confidential"),
    ],
)
def test_a_refresh_token_works_only_for_its_own_client(
    app, client, owner: Actor, web_app, mobile, owner_name: str, thief_name: str
):
    presenters = _presenters(web_app, mobile)
    issued_to, issued_method = presenters[owner_name]
    thief, thief_method = presenters[thief_name]
    login = assert_token_response(password_grant(client, issued_to, owner.email, PASSWORD, method=issued_method))

    stolen = refresh_grant(client, thief, login["refresh_token"], method=thief_method)

    assert_oauth_error(stolen, 400, "invalid_grant")
    body = assert_token_response(refresh_grant(client, issued_to, login["refresh_token"], method=issued_method))
    assert verify_access_token(client, body["access_token"])["client_id"] == issued_to.client_id
    assert audit_events(app, "refresh_token.reused") == []


def test_json_refresh_serves_only_the_first_party_client(client, owner: Actor, web_app):
    login = assert_token_response(password_grant(client, web_app, owner.email, PASSWORD, method="basic"))

    assert_refused(client.post(JSON_REFRESH, json={"refresh_token": login["refresh_token"]}), "json")
    assert_token_response(refresh_grant(client, web_app, login["refresh_token"], method="basic"))


# --- lifetimes (a separate app with short ones, same database) -------------------------------


@pytest.fixture(scope="module")
def short_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    with extra_app({**base_config, "session_idle_timeout": 60, "refresh_token_ttl": 300}) as short:
        yield short


@pytest.fixture
def short_login(short_app: Flask, make: Factory) -> dict[str, Any]:
    """A fresh login on ``short_app`` with the clock frozen at the moment it happens."""
    make.user("acme", "ann@acme.test", "owner")
    clock.freeze(datetime.now(UTC))
    response = short_app.test_client().post("/api/auth/login", json={"email": "ann@acme.test", "password": PASSWORD})
    return assert_token_response(response)


@pytest.mark.parametrize(("idle", "works"), [(59, True), (61, False), (3600, False)])
def test_idle_timeout(short_app: Flask, short_login, via: str, idle: int, works: bool):
    client = short_app.test_client()
    clock.advance(idle)

    response = do_refresh(client, via, short_login["refresh_token"])

    if works:
        assert_refreshed(response, via)
    else:
        assert_refused(response, via)


def test_idle_timeout_ends_the_session(short_app: Flask, short_login, via: str):
    client = short_app.test_client()
    clock.advance(61)
    assert_refused(do_refresh(client, via, short_login["refresh_token"]), via)

    clock.advance(-61)  # even if the clock were wound back, the session is over
    assert_refused(do_refresh(client, via, short_login["refresh_token"]), via)


def test_each_refresh_restarts_the_idle_timer(short_app: Flask, short_login, via: str):
    client = short_app.test_client()
    token = short_login["refresh_token"]
    for _ in range(4):  # 4 x 50 s: longer than the idle timeout, never idle that long
        clock.advance(50)
        token = assert_refreshed(do_refresh(client, via, token), via)["refresh_token"]


def test_absolute_lifetime_ends_an_active_session(short_app: Flask, short_login, via: str):
    client = short_app.test_client()
    token = short_login["refresh_token"]
    for _ in range(5):  # t = 50 .. 250
        clock.advance(50)
        token = assert_refreshed(do_refresh(client, via, token), via)["refresh_token"]
    clock.advance(49)  # t = 299
    token = assert_refreshed(do_refresh(client, via, token), via)["refresh_token"]

    clock.advance(1)  # t = 300: the session's absolute lifetime is over, however busy it was
    assert_refused(do_refresh(client, via, token), via)


def test_refresh_issues_an_access_token_from_now(short_app: Flask, short_login, via: str):
    """A refresh 55 s after login gives an access token expiring 55 s later than the first."""
    client = short_app.test_client()
    clock.advance(55)
    body = assert_refreshed(do_refresh(client, via, short_login["refresh_token"]), via)
    assert unverified_claims(body["access_token"])["exp"] == unverified_claims(short_login["access_token"])["exp"] + 55


# --- deactivation --------------------------------------------------------------------------------


@pytest.mark.parametrize("what", ["membership", "user"])
def test_deactivated_account_cannot_refresh(client, owner: Actor, make: Factory, via: str, what: str):
    user_id = make.user("acme", "bob@acme.test", "member")
    bob = make.login("bob@acme.test")
    if what == "membership":
        assert client.delete(f"/api/auth/users/{user_id}", headers=owner.headers).status_code == 204
    else:
        make.deactivate_account(user_id)

    assert_refused(do_refresh(client, via, bob["refresh_token"]), via)
    assert me_status(client, bob["access_token"]) == 401


# --- logout --------------------------------------------------------------------------------------


def test_logout_ends_the_session(app, client, owner: Actor, make: Factory, via: str):
    other_session = make.login(owner.email)
    refreshed = assert_refreshed(do_refresh(client, via, owner.refresh_token), via)

    response = client.post(LOGOUT, headers=bearer(refreshed["access_token"]))

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_refused(do_refresh(client, via, refreshed["refresh_token"]), via)
    assert me_status(client, owner.token) == 401
    assert me_status(client, refreshed["access_token"]) == 401
    assert me_status(client, other_session["access_token"]) == 200

    events = audit_events(app, "logout")
    assert len(events) == 1
    assert events[0]["tenant_id"] == owner.tenant_id
    assert events[0]["actor"] == owner.user_id
    assert events[0]["subject"] == sid_of(owner.login_body)
    assert refreshed["access_token"] not in repr(events[0])


def test_logout_with_an_ended_session_is_refused(client, owner: Actor):
    assert client.post(LOGOUT, headers=owner.headers).status_code == 204

    again = client.post(LOGOUT, headers=owner.headers)

    assert_error(again, 401)
    assert again.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic b3V0dGVyLWFwcDo="}],
    ids=["none", "garbage", "basic"],
)
def test_logout_needs_a_user_token(client, owner: Actor, headers):
    response = client.post(LOGOUT, headers=headers)
    assert_error(response, 401)
    assert "WWW-Authenticate" in response.headers
    assert me_status(client, owner.token) == 200


def test_client_credentials_token_cannot_log_out(client, owner: Actor, machine):
    token = assert_token_response(token_request(client, {"grant_type": "client_credentials"}, machine), refresh=False)

    response = client.post(LOGOUT, headers=bearer(token["access_token"]))

    assert_error(response, 401)
    assert me_status(client, token["access_token"]) == 200


# --- concurrency ---------------------------------------------------------------------------------

RACERS = 20


def _race(app: Flask, via: str, refresh_token: str) -> list[Any]:
    return race(app, RACERS, lambda client: do_refresh(client, via, refresh_token), "refresh")


def test_concurrent_refreshes_of_one_token_exactly_one_wins(app: Flask, owner: Actor, via: str):
    with app.app_context():
        engine = db.engine
    database_errors: list[str] = []

    def seen(context: Any) -> None:
        database_errors.append(str(context.original_exception))

    event.listen(engine, "handle_error", seen)
    try:
        results = _race(app, via, owner.refresh_token)
    finally:
        event.remove(engine, "handle_error", seen)

    errors = [r for r in results if isinstance(r, Exception)]
    statuses = sorted(r.status_code for r in results if not isinstance(r, Exception))
    if engine.dialect.name == "sqlite" and sqlite_was_locked(errors, statuses, database_errors):
        pytest.skip(f"SQLite cannot serve {RACERS} concurrent writers reliably: {database_errors[:1]}")
    assert not errors, errors
    assert statuses.count(200) == 1, statuses
    winners = [r for r in results if r.status_code == 200]
    losers = [r for r in results if r.status_code != 200]
    assert len(losers) == RACERS - 1
    for response in losers:
        assert_refused(response, via)
    assert_refreshed(winners[0], via)


def sqlite_was_locked(errors: list[Exception], statuses: list[int], database_errors: list[str]) -> bool:
    """The race lost only to SQLite's writer lock: no exception got out, every server error is
    the 503 that ``errors.py`` answers a database error with, and every database error of the
    race was "database is locked" (anything else fails the test instead of skipping it)."""
    unavailable = statuses.count(503)
    return (
        not errors
        and unavailable > 0
        and all(s < 500 or s == 503 for s in statuses)
        and len(database_errors) >= unavailable
        and all("database is locked" in e for e in database_errors)
    )


def test_the_loser_of_a_refresh_race_revokes_the_session_and_is_audited(
    app: Flask, client, owner: Actor, via: str, monkeypatch: pytest.MonkeyPatch
):
    """The losing side of the race above, made deterministic: between the moment the refresh
    read its token and its conditional spend (``used_at IS NULL``), another request spends the
    token. The loser cannot tell which of the two holders is the thief: it ends the session."""
    original = sessions.find_refresh_token
    spent: list[str] = []

    def find_then_spent_by_another(db_session: Any, token: str) -> Any:
        found = original(db_session, token)
        if found is not None and not spent:
            refresh, _ = found
            assert refresh.used_at is None  # this request saw it unspent...
            db_session.execute(  # ...and another spends it right then (the ORM row stays stale)
                update(RefreshToken)
                .where(RefreshToken.id == refresh.id)
                .values(used_at=clock.now())
                .execution_options(synchronize_session=False)
            )
            spent.append(refresh.id)
        return found

    monkeypatch.setattr(sessions, "find_refresh_token", find_then_spent_by_another)

    response = do_refresh(client, via, owner.refresh_token)

    assert spent, "the refresh never read its token: the hook is not on its path"
    assert_refused(response, via)
    session_id = sid_of(owner.login_body)
    with app.app_context():
        assert db.session.get(Session, session_id).revoked_at is not None
    events = audit_events(app, "refresh_token.reused")
    assert [(e["subject"], e["details"]["refresh_token_id"]) for e in events] == [(session_id, spent[0])]
    assert me_status(client, owner.token) == 401
