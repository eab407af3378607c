"""Security review (issue 17), findings F4, F5, F9, F10: a token the service refuses is refused
everywhere, at once (SPEC §7: "a Bearer token that the service itself refuses (revoked, its
session ended, its user deactivated or demoted, its client deleted) is refused by ``check`` too").
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outter_auth.extensions import db
from outter_auth.models import Session
from outter_auth.services import sessions, signing_keys
from tests.api.test_refresh import assert_refused, do_refresh, sid_of
from tests.api_key_helpers import audit_events
from tests.assertions import SPEC_MANAGEMENT_SCOPES, assert_error
from tests.attacks.places import bearer_refusal_problems
from tests.factories import Actor, Factory
from tests.oauth_helpers import (
    OUTTER_APP,
    assert_token_response,
    bearer,
    create_client,
    revoke,
    token_request,
)
from tests.test_key_rotation import active_kid, cli, cli_json, jwks_kids, kid_of, login, me_status, statuses

ME = "/api/auth/me"
CHECK = "/api/auth/gateway/check"
LOGOUT = "/api/auth/logout"
USERS = "/api/auth/users"
PROJECTS = "/api/auth/projects"
CLIENTS = "/api/auth/clients"
REQUIRED = "X-Outter-Required-Scopes"


def check(client: FlaskClient, token: str, required: str | None = None) -> Any:
    return client.get(CHECK, headers={**bearer(token), **({REQUIRED: required} if required else {})})


def assert_check_refuses(client: FlaskClient, token: str) -> None:
    problems = bearer_refusal_problems("check", check(client, token), token)
    assert not problems, problems


# --- F4 (Medium): the gateway check refuses what /api/auth/me refuses -------------------------


def _log_out(client: FlaskClient, owner: Actor, admin: Actor) -> None:
    assert client.post(LOGOUT, headers=admin.headers).status_code == 204


def _revoke_access_token(client: FlaskClient, owner: Actor, admin: Actor) -> None:
    assert revoke(client, OUTTER_APP, admin.token, method="none").status_code == 200  # RFC 7009


def _deactivate(client: FlaskClient, owner: Actor, admin: Actor) -> None:
    response = client.patch(f"{USERS}/{admin.user_id}", json={"is_active": False}, headers=owner.headers)
    assert response.status_code == 200, response.get_data(as_text=True)


REFUSALS: dict[str, Callable[[FlaskClient, Actor, Actor], None]] = {
    "logout": _log_out,
    "rfc7009-revocation": _revoke_access_token,
    "membership-deactivated": _deactivate,
}


@pytest.mark.parametrize("refusal", list(REFUSALS))
def test_f4_gateway_check_refuses_a_bearer_token_the_service_refuses(client, owner: Actor, admin: Actor, refusal):
    assert check(client, admin.token).status_code == 200  # seen (and cached) while it was good

    REFUSALS[refusal](client, owner, admin)

    assert client.get(ME, headers=admin.headers).status_code == 401  # what the service says
    assert_check_refuses(client, admin.token)


def test_f4_gateway_check_forwards_the_scopes_of_a_demoted_admin_as_they_are_now(client, owner: Actor, admin: Actor):
    assert check(client, admin.token, required="users:read").status_code == 200

    demoted = client.patch(f"{USERS}/{admin.user_id}", json={"role": "member"}, headers=owner.headers)
    assert demoted.status_code == 200, demoted.get_data(as_text=True)

    assert client.get(ME, headers=admin.headers).get_json()["scopes"] == []
    allowed = check(client, admin.token)
    assert allowed.status_code == 200
    assert not set(allowed.headers["X-Outter-Scopes"].split()) & SPEC_MANAGEMENT_SCOPES, dict(allowed.headers)
    refused = check(client, admin.token, required="users:read")
    assert refused.status_code == 403 and refused.get_data() == b""


# --- F5 (Medium): client tokens do not outlive their client ------------------------------------


@pytest.fixture
def machine_token(app: Flask, client, owner: Actor) -> tuple[str, str]:
    """(client_id, access token) of a client_credentials client holding users:read projects:read."""
    made = create_client(app, "machine", "client_credentials", scope="users:read projects:read")
    body = assert_token_response(token_request(client, {"grant_type": "client_credentials"}, made), refresh=False)
    token = body["access_token"]
    assert check(client, token, required="users:read").status_code == 200  # seen (and cached) while it was good
    return made.client_id, token


def test_f5_a_token_of_a_deleted_client_is_refused(client, owner: Actor, machine_token):
    client_id, token = machine_token

    assert client.delete(f"{CLIENTS}/{client_id}", headers=owner.headers).status_code == 204

    response = client.get(ME, headers=bearer(token))
    problems = bearer_refusal_problems("me", response, token)
    assert not problems, problems
    assert_check_refuses(client, token)


def test_f5_a_token_of_a_narrowed_client_acts_with_the_remaining_scopes(client, owner: Actor, machine_token):
    client_id, token = machine_token

    narrowed = client.patch(f"{CLIENTS}/{client_id}", json={"scopes": ["projects:read"]}, headers=owner.headers)
    assert narrowed.status_code == 200, narrowed.get_data(as_text=True)

    assert client.get(ME, headers=bearer(token)).get_json()["scopes"] == ["projects:read"]
    allowed = check(client, token)
    assert allowed.status_code == 200 and allowed.headers["X-Outter-Scopes"] == "projects:read"
    assert check(client, token, required="users:read").status_code == 403
    assert_error(client.get(USERS, headers=bearer(token)), 403)
    assert client.get(PROJECTS, headers=bearer(token)).status_code == 200


# --- F9 (Low): a refresh racing a logout mints nothing after the logout committed ---------------

LOGOUT_WAIT = 2.0  # seconds the refresh waits for the logout inside the hook


def session_revoked(app: Flask, session_id: str) -> bool:
    with app.app_context():
        revoked = db.session.get(Session, session_id).revoked_at is not None
        db.session.rollback()
        return revoked


def test_f9_a_refresh_racing_a_logout_cannot_mint_a_token_after_the_logout(
    app: Flask, client, owner: Actor, via: str, monkeypatch: pytest.MonkeyPatch
):
    """Deterministic: the logout runs (in another thread, with its own app context) right after
    the refresh has read its token and session. Either it finished there, and the refresh must
    fail; or it was held back (the fix may lock the session row), and it must complete after."""
    session_id = sid_of(owner.login_body)
    original = sessions.find_refresh_token
    race: dict[str, Any] = {}

    def log_out() -> None:
        try:
            race["logout"] = app.test_client().post(LOGOUT, headers=owner.headers).status_code
        except Exception as error:  # noqa: BLE001 - reported by the test below
            race["logout"] = error

    def find_then_log_out(db_session: Any, token: str) -> Any:
        found = original(db_session, token)
        if found is not None and "thread" not in race:
            race["thread"] = threading.Thread(target=log_out, name="logout")
            race["thread"].start()
            race["thread"].join(timeout=LOGOUT_WAIT)
            race["logged_out_first"] = not race["thread"].is_alive()
        return found

    monkeypatch.setattr(sessions, "find_refresh_token", find_then_log_out)

    response = do_refresh(client, via, owner.refresh_token)

    assert "thread" in race, "the refresh never read its token: the hook is not on its path"
    race["thread"].join(timeout=30)
    assert not race["thread"].is_alive(), "the logout never completed"
    assert race["logout"] == 204, race["logout"]
    if race["logged_out_first"]:
        assert_refused(response, via)
    assert session_revoked(app, session_id)
    if response.status_code == 200:  # minted before the logout committed: dead with the session now
        assert client.get(ME, headers=bearer(response.get_json()["access_token"])).status_code == 401


@pytest.fixture(params=["oauth", "json"])
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- F10 (Low): `keys revoke` withdraws a signing key at once ----------------------------------


@pytest.fixture
def keyring_app(make_app: Callable[..., Flask], tmp_path: Path, make: Factory, monkeypatch) -> Flask:
    """An app with a keys directory of its own (never the session one) and the acme owner."""
    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)
    app = make_app(keys_dir=str(tmp_path / "keys"))
    make.user("acme", "owner@acme.test", "owner")
    return app


def test_f10_an_emergency_revocation_refuses_every_token_of_the_old_key(keyring_app: Flask):
    app = keyring_app
    client = app.test_client()
    old = active_kid(app)
    token = login(app)
    assert kid_of(token) == old
    assert me_status(app, token) == 200 and check(client, token).status_code == 200  # seen while good

    new = cli_json(app, "keys", "rotate")["kid"]
    cli_json(app, "keys", "activate", new, "--now")
    revoked = cli(app, "keys", "revoke", old)

    assert revoked.exit_code == 0, revoked.output
    assert jwks_kids(app) == [new]
    assert me_status(app, token) == 401
    assert_check_refuses(client, token)
    fresh = login(app)
    assert kid_of(fresh) == new and me_status(app, fresh) == 200
    events = audit_events(app, "signing_key.revoked")
    assert [(e["tenant_id"], e["actor"], e["subject"]) for e in events] == [(None, "cli", old)]


def test_f10_revoking_the_active_signing_key_is_refused_with_the_way_out(keyring_app: Flask):
    app = keyring_app
    active = active_kid(app)
    token = login(app)

    result = cli(app, "keys", "revoke", active)

    assert "No such command" not in result.output, result.output
    assert result.exit_code != 0
    assert "rotate" in result.output and "activate" in result.output, result.output
    assert statuses(app) == {active: "active"}
    assert me_status(app, token) == 200
    assert audit_events(app, "signing_key.revoked") == []
