"""Signing-key rotation end to end (SPEC §5): CLI → keyring → JWKS → the tokens the app signs.

Every test here builds its own app on its own keys directory: the session ``keys_dir``
must keep its single active key for the rest of the suite. The apps share the migrated
test database. Time moves with ``outter_auth.clock`` (never ``sleep``), and the keyring
re-read check is set to 0 s so a change is seen at the next request.

PyJWT verifies against the served JWKS with the real clock, so the frozen clock starts
``OFFSET`` seconds in the past: a token issued up to ``OFFSET`` seconds of frozen time
later is neither "issued in the future" nor expired for PyJWT.
"""

from __future__ import annotations

import base64
import json
import os
import select
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from flask import Flask
from sqlalchemy import select as sql_select

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import AuditEvent
from outter_auth.services import signing_keys
from tests.factories import PASSWORD, Factory

ISSUER = "https://auth.outter.test"
AUDIENCE = "outter-api"
JWKS = "/.well-known/jwks.json"
MAX_AGE = 300  # OUTTER_JWKS_MAX_AGE default
TOKEN_LIFETIME = 900 + 30  # OUTTER_ACCESS_TOKEN_TTL + leeway
OFFSET = 600
EMAIL = "owner@acme.test"


# -- helpers ------------------------------------------------------------------------


def cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def cli_json(app: Flask, *args: str) -> Any:
    result = cli(app, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def statuses(app: Flask) -> dict[str, str]:
    return {row["kid"]: row["status"] for row in cli_json(app, "keys", "list")}


def active_kid(app: Flask) -> str:
    (kid,) = [kid for kid, status in statuses(app).items() if status == "active"]
    return kid


def jwks_kids(app: Flask) -> list[str]:
    response = app.test_client().get(JWKS)
    assert response.status_code == 200
    return [key["kid"] for key in response.get_json()["keys"]]


def kid_of(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


def login(app: Flask) -> str:
    response = app.test_client().post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def client_credentials(app: Flask, client_id: str, secret: str) -> str:
    response = app.test_client().post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()},
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


def me_status(app: Flask, token: str) -> int:
    return app.test_client().get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code


def verify_with_served_jwks(app: Flask, token: str) -> dict[str, Any]:
    """An independent verifier (PyJWT), picking the key by kid from what the app serves now."""
    jwks = jwt.PyJWKSet.from_dict(app.test_client().get(JWKS).get_json())
    return jwt.decode(
        token,
        jwks[kid_of(token)],
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        options={"require": ["iss", "aud", "exp", "iat", "sub", "jti"]},
    )


def signing_kids(app: Flask, client_id: str, secret: str) -> set[str]:
    """The kid of what the app signs now, through both token paths (login and OAuth)."""
    return {kid_of(login(app)), kid_of(client_credentials(app, client_id, secret))}


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture
def fast_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)


@pytest.fixture
def new_app(make_app: Callable[..., Flask], tmp_path: Path) -> Callable[..., Flask]:
    """Apps on the rotation keys dir ``tmp_path/keys`` (never the session one), same database."""
    return lambda **overrides: make_app(**{"keys_dir": str(tmp_path / "keys"), **overrides})


@pytest.fixture
def t0() -> datetime:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=OFFSET)
    clock.freeze(start)
    return start


@pytest.fixture
def rot_app(new_app: Callable[..., Flask], t0: datetime, fast_reload: None) -> Flask:
    """An app whose first key (generated at start, at ``t0``) is active."""
    return new_app()


@pytest.fixture
def acme_owner(make: Factory) -> str:
    return make.user("acme", EMAIL, "owner")


@pytest.fixture
def machine(rot_app: Flask, acme_owner: str) -> tuple[str, str]:
    """A confidential client_credentials client of tenant acme: (client_id, secret)."""
    created = cli_json(
        rot_app, "clients", "create", "svc", "--tenant", "acme", "--grant-type", "client_credentials", "--scope", ""
    )
    return created["client_id"], created["client_secret"]


def at(t0: datetime, seconds: float) -> None:
    clock.freeze(t0 + timedelta(seconds=seconds))


# -- rotate: pending first, signing only after max-age --------------------------------


def test_the_new_app_starts_with_its_own_single_active_key(rot_app: Flask, keys_dir: Path, tmp_path: Path):
    (kid,) = statuses(rot_app)
    assert statuses(rot_app) == {kid: "active"}
    assert (tmp_path / "keys" / f"{kid}.pem").exists()
    assert not (keys_dir / f"{kid}.pem").exists()
    assert jwks_kids(rot_app) == [kid]


def test_rotate_publishes_a_pending_key_that_signs_nothing_until_max_age(
    rot_app: Flask, machine: tuple[str, str], t0: datetime
):
    old = active_kid(rot_app)
    etag_before = rot_app.test_client().get(JWKS).headers["ETag"]

    rotated = cli_json(rot_app, "keys", "rotate")
    new = rotated["kid"]

    assert new != old
    assert rotated["status"] == "pending"
    assert datetime.fromisoformat(rotated["activates_at"]) == t0 + timedelta(seconds=MAX_AGE)
    # In the JWKS at once, next to the active key; the JWKS representation changed.
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])
    assert rot_app.test_client().get(JWKS).headers["ETag"] != etag_before
    assert statuses(rot_app) == {old: "active", new: "pending"}

    # ... but it signs nothing while it may still be unknown to a cached JWKS.
    for seconds in (0, 1, MAX_AGE / 2, MAX_AGE - 1):
        at(t0, seconds)
        assert signing_kids(rot_app, *machine) == {old}, f"signed with the pending key {seconds}s after rotate"

    at(t0, MAX_AGE)
    assert signing_kids(rot_app, *machine) == {new}
    assert statuses(rot_app) == {old: "retired", new: "active"}
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])


def test_tokens_signed_before_the_rotation_verify_until_they_expire(
    rot_app: Flask, machine: tuple[str, str], t0: datetime
):
    old = active_kid(rot_app)
    user_token, machine_token = login(rot_app), client_credentials(rot_app, *machine)
    new = cli_json(rot_app, "keys", "rotate")["kid"]

    at(t0, MAX_AGE + 1)  # the new key signs now
    assert kid_of(login(rot_app)) == new
    for token in (user_token, machine_token):
        assert kid_of(token) == old
        assert me_status(rot_app, token) == 200
        claims = verify_with_served_jwks(rot_app, token)
        assert claims["iat"] == int(t0.timestamp())

    at(t0, 900 + 30 - 1)  # expiry (900 s) plus the service's 30 s leeway: still accepted
    assert me_status(rot_app, user_token) == 200
    assert old in jwks_kids(rot_app)

    at(t0, 900 + 30 + 1)  # expired
    assert me_status(rot_app, user_token) == 401
    assert me_status(rot_app, machine_token) == 401


def test_a_token_of_the_new_key_verifies_with_pyjwt_against_the_served_jwks(
    rot_app: Flask, machine: tuple[str, str], t0: datetime
):
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, MAX_AGE)
    token = client_credentials(rot_app, *machine)
    assert kid_of(token) == new
    assert verify_with_served_jwks(rot_app, token)["sub"] == machine[0]
    assert me_status(rot_app, token) == 200


def test_the_retired_key_leaves_the_jwks_once_its_tokens_expired(rot_app: Flask, t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]

    at(t0, 0)
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])  # pending + active
    at(t0, MAX_AGE)
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])  # active + retired
    # The old key stopped signing at t0 + MAX_AGE; its last token lives 900 s + 30 s leeway.
    at(t0, MAX_AGE + TOKEN_LIFETIME - 1)
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])
    assert statuses(rot_app)[old] == "retired"
    at(t0, MAX_AGE + TOKEN_LIFETIME)
    assert jwks_kids(rot_app) == [new]
    rows = {row["kid"]: row for row in cli_json(rot_app, "keys", "list")}
    assert rows[old]["status"] == "expired" and rows[old]["published"] is False
    assert rows[new]["status"] == "active" and rows[new]["published"] is True


def test_two_rotations_at_the_same_instant_still_leave_exactly_one_signing_key(
    rot_app: Flask, machine: tuple[str, str], t0: datetime
):
    old = active_kid(rot_app)
    first = cli_json(rot_app, "keys", "rotate")["kid"]
    second = cli_json(rot_app, "keys", "rotate")["kid"]  # same clock reading: same activates_at

    at(t0, MAX_AGE)

    rows = statuses(rot_app)
    assert sorted(rows.values()).count("active") == 1
    assert rows[old] == "retired"
    assert rot_app.test_client().get(JWKS).status_code == 200
    assert signing_kids(rot_app, *machine) <= {first, second}
    assert len(signing_kids(rot_app, *machine)) == 1


# -- activate ---------------------------------------------------------------------


def test_activate_now_makes_a_pending_key_sign_at_once(rot_app: Flask, machine: tuple[str, str], t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, 5)
    assert signing_kids(rot_app, *machine) == {old}

    activated = cli_json(rot_app, "keys", "activate", new, "--now")

    assert datetime.fromisoformat(activated["activates_at"]) == t0 + timedelta(seconds=5)
    assert signing_kids(rot_app, *machine) == {new}
    assert statuses(rot_app) == {old: "retired", new: "active"}
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])


def test_activate_without_now_brings_a_key_forward_to_created_at_plus_max_age_at_the_earliest(
    new_app: Callable[..., Flask], t0: datetime, fast_reload: None, machine: tuple[str, str]
):
    # Rotated by a deployment that waited an hour; activated by one with the default 300 s.
    slow = new_app(jwks_max_age=3600)
    default = new_app()
    old = active_kid(default)
    new = cli_json(slow, "keys", "rotate")["kid"]
    assert datetime.fromisoformat(cli_json(slow, "keys", "list")[-1]["activates_at"]) == t0 + timedelta(hours=1)

    at(t0, 10)
    activated = cli_json(default, "keys", "activate", new)

    # Not now (t0 + 10): only once it has been published for the max-age.
    assert datetime.fromisoformat(activated["activates_at"]) == t0 + timedelta(seconds=MAX_AGE)
    at(t0, MAX_AGE - 1)
    assert statuses(default)[new] == "pending"
    assert signing_kids(default, *machine) == {old}
    at(t0, MAX_AGE)
    assert statuses(default)[new] == "active"
    assert signing_kids(default, *machine) == {new}


def test_activate_without_now_never_makes_a_key_sign_earlier_than_max_age(rot_app: Flask, t0: datetime):
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, 10)
    activated = cli_json(rot_app, "keys", "activate", new)
    assert datetime.fromisoformat(activated["activates_at"]) == t0 + timedelta(seconds=MAX_AGE)
    assert statuses(rot_app)[new] == "pending"


def test_activating_a_key_that_is_not_pending_fails_with_a_message(rot_app: Flask, t0: datetime):
    old = active_kid(rot_app)
    before = (Path(rot_app.extensions["outter_auth"].settings.keys_dir) / "keyring.json").read_text()

    result = cli(rot_app, "keys", "activate", old)
    assert result.exit_code != 0
    assert "only a pending key can be activated" in result.output
    assert old in result.output and "active" in result.output

    unknown = cli(rot_app, "keys", "activate", "no-such-kid", "--now")
    assert unknown.exit_code != 0
    assert "no signing key with kid no-such-kid" in unknown.output
    assert (Path(rot_app.extensions["outter_auth"].settings.keys_dir) / "keyring.json").read_text() == before

    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, MAX_AGE)
    retired = cli(rot_app, "keys", "activate", old, "--now")
    assert retired.exit_code != 0
    assert "is retired" in retired.output
    assert statuses(rot_app) == {old: "retired", new: "active"}


@pytest.mark.parametrize("command", ["activate", "retire"])
@pytest.mark.parametrize("kid", ["-kbKMkyOPkpeG4xAO5758LZx1G", "--J-x_4", "-n"])
def test_a_kid_that_begins_with_a_dash_is_read_as_the_kid_not_as_an_option(rot_app: Flask, command: str, kid: str):
    # A kid is a base64url thumbprint: one in 64 begins with "-" (CI met one).
    result = cli(rot_app, "keys", command, kid, "--json")
    assert result.exit_code != 0
    assert f"no signing key with kid {kid}" in result.output
    assert "No such option" not in result.output


# -- retire -------------------------------------------------------------------------


def test_retiring_the_active_key_is_refused_with_a_message(rot_app: Flask, machine: tuple[str, str]):
    old = active_kid(rot_app)

    result = cli(rot_app, "keys", "retire", old)

    assert result.exit_code != 0
    assert "signs every token" in result.output and "rotate" in result.output
    assert statuses(rot_app) == {old: "active"}
    assert signing_kids(rot_app, *machine) == {old}


def test_a_pending_key_retired_never_signs(rot_app: Flask, machine: tuple[str, str], t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, 1)
    retired = cli_json(rot_app, "keys", "retire", new)
    assert datetime.fromisoformat(retired["retired_at"]) == t0 + timedelta(seconds=1)

    for seconds in (MAX_AGE, MAX_AGE + 1, 2 * MAX_AGE, 24 * 3600):
        at(t0, seconds)
        assert signing_kids(rot_app, *machine) == {old}, f"the retired pending key signed at +{seconds}s"
        assert statuses(rot_app) == {old: "active", new: "retired" if seconds < 1 + TOKEN_LIFETIME else "expired"}
    assert jwks_kids(rot_app) == [old]
    again = cli(rot_app, "keys", "activate", new, "--now")
    assert again.exit_code != 0 and "only a pending key can be activated" in again.output


def test_retiring_a_superseded_key_keeps_it_published_until_its_tokens_expired(rot_app: Flask, t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, MAX_AGE + 60)
    assert cli(rot_app, "keys", "retire", old).exit_code == 0
    # It stopped signing at t0 + MAX_AGE; retiring it later does not extend nor cut that.
    at(t0, MAX_AGE + TOKEN_LIFETIME - 1)
    assert sorted(jwks_kids(rot_app)) == sorted([old, new])
    at(t0, MAX_AGE + TOKEN_LIFETIME)
    assert jwks_kids(rot_app) == [new]


# -- keys list, audit ---------------------------------------------------------------


def test_keys_list_json_shows_each_key_with_its_status(rot_app: Flask, t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]

    rows = cli_json(rot_app, "keys", "list")

    assert [row["kid"] for row in rows] == [old, new]
    for row in rows:
        assert {"kid", "status", "published", "created_at", "activates_at", "retired_at"} <= set(row)
    assert [(row["status"], row["published"]) for row in rows] == [("active", True), ("pending", True)]
    assert datetime.fromisoformat(rows[1]["created_at"]) == t0
    assert datetime.fromisoformat(rows[1]["activates_at"]) == t0 + timedelta(seconds=MAX_AGE)
    text = cli(rot_app, "keys", "list").output
    assert old in text and new in text and "pending" in text


def test_rotate_activate_and_retire_are_audited(rot_app: Flask, t0: datetime):
    old = active_kid(rot_app)
    new = cli_json(rot_app, "keys", "rotate")["kid"]
    at(t0, 1)
    cli_json(rot_app, "keys", "activate", new, "--now")
    at(t0, 2)
    cli_json(rot_app, "keys", "retire", old)
    # Refused commands leave no event.
    assert cli(rot_app, "keys", "retire", new).exit_code != 0
    assert cli(rot_app, "keys", "activate", old).exit_code != 0

    with rot_app.app_context():
        events = db.session.scalars(
            sql_select(AuditEvent).where(AuditEvent.type.like("signing_key.%")).order_by(AuditEvent.created_at)
        ).all()
        seen = [(e.type, e.subject, e.actor) for e in events]
        details = {e.type: e.details for e in events}

    assert seen == [
        ("signing_key.rotated", new, "cli"),
        ("signing_key.activated", new, "cli"),
        ("signing_key.retired", old, "cli"),
    ]
    assert datetime.fromisoformat(details["signing_key.rotated"]["activates_at"]) == t0 + timedelta(seconds=MAX_AGE)
    assert datetime.fromisoformat(details["signing_key.activated"]["activates_at"]) == t0 + timedelta(seconds=1)


# -- another process --------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import sys
    from werkzeug.serving import make_server
    from outter_auth.app import create_app

    app = create_app({
        "env": "testing",
        "database_url": sys.argv[1],
        "keys_dir": sys.argv[2],
        "issuer": "https://auth.outter.test",
        "bcrypt_rounds": 4,
    })
    server = make_server("127.0.0.1", 0, app, threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()
    """
)


def http_login(base: str) -> str:
    request = urllib.request.Request(
        f"{base}/api/auth/login",
        data=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())["access_token"]


def test_a_worker_process_that_did_not_run_the_command_picks_up_the_new_active_key(
    new_app: Callable[..., Flask], base_config: dict[str, object], tmp_path: Path, acme_owner: str
):
    cli_app = new_app()  # generates the first key; the clock is real here
    old = active_kid(cli_app)
    root = Path(__file__).resolve().parent.parent
    log_path = tmp_path / "worker.log"
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(base_config["database_url"]), str(tmp_path / "keys")],
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=root,
            env={**os.environ, "PYTHONPATH": str(root)},
            text=True,
        )
    try:
        assert worker.stdout is not None
        ready, _, _ = select.select([worker.stdout], [], [], 30)
        line = worker.stdout.readline() if ready else ""
        assert line.strip().isdigit(), f"worker did not start ({worker.poll()}): {log_path.read_text()[-2000:]}"
        base = f"http://127.0.0.1:{int(line)}"

        assert kid_of(http_login(base)) == old

        new = cli_json(cli_app, "keys", "rotate")["kid"]
        cli_json(cli_app, "keys", "activate", new, "--now")
        assert kid_of(login(cli_app)) == new  # the process that ran the command, at once

        deadline = time.monotonic() + 5  # the worker re-checks the keyring once a second
        seen = kid_of(http_login(base))
        while seen != new and time.monotonic() < deadline:
            time.sleep(0.1)
            seen = kid_of(http_login(base))
        assert seen == new, "the worker kept signing with the old key"
        assert worker.poll() is None
    finally:
        worker.kill()
        worker.communicate(timeout=10)
