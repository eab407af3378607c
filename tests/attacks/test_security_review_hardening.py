"""Security review (issue 17), findings F6-F8, F11, F12: start-up, budgets, request parsing,
what is stored, and what the user API tells about other tenants.

F11's third item (a production warning when ``OUTTER_REDIS_URL`` is empty and gunicorn runs
more than one worker) has no seam to test cleanly yet and is not tested here.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from outter_auth.config import ConfigError
from outter_auth.services.signing_keys import KeyStore, SigningKeyError
from tests.api.test_rate_limits import LIMITS_OFF, assert_rest_429, from_ip, login, unknown_key
from tests.api_key_helpers import audit_events, create_key, plain_pepper_hashes, stored_pepper_id
from tests.apps import extra_app
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import (
    FIRST_PARTY,
    INTROSPECT_URL,
    REVOKE_URL,
    TOKEN_URL,
    OAuthClient,
    assert_oauth_error,
    basic_auth,
    me_status,
)

REPO = Path(__file__).resolve().parents[2]
VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"
USERS = "/api/auth/users"
LOGIN = "/api/auth/login"


# --- F6 (Medium): the WSGI entry point needs OUTTER_ENV said out loud ---------------------------


def entry_point_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "FLASK_", "GUNICORN_"))}
    env.update(
        OUTTER_DATABASE_URL=f"sqlite:///{tmp_path / 'entry.db'}",
        OUTTER_KEYS_DIR=str(tmp_path / "keys"),
        PYTHONDONTWRITEBYTECODE="1",
        **extra,
    )
    return env


def import_in_subprocess(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, env=env, cwd=REPO, timeout=120
    )


@pytest.mark.parametrize("module", ["wsgi", "outter_auth.wsgi"])
def test_f6_the_wsgi_entry_point_refuses_to_start_without_outter_env(tmp_path: Path, module: str):
    refused = import_in_subprocess(module, entry_point_env(tmp_path))

    assert refused.returncode != 0, refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "OUTTER_ENV" in lines[0], refused.stderr

    started = import_in_subprocess(module, entry_point_env(tmp_path, OUTTER_ENV="development"))
    assert started.returncode == 0, started.stderr


# --- F7 (Medium): per-IP budgets count an IPv6 /64 as one address ------------------------------

SAME_64 = ("2001:db8::1", "2001:db8::2", "2001:db8::ffff")
OTHER_64 = "2001:db8:0:1::1"
IPV4 = ("192.0.2.1", "192.0.2.2")


@pytest.fixture
def limited_app(make_app: Callable[..., Flask]) -> Callable[..., Flask]:
    """``limited_app(rate_limit_login_ip="2/minute", ...)``: rate limits on, the others generous."""
    return lambda **limits: make_app(rate_limits=True, **{**LIMITS_OFF, **limits})


def test_f7_failed_logins_from_one_ipv6_64_share_one_budget(limited_app, owner: Actor):
    client = limited_app(rate_limit_login_ip="2/minute").test_client()
    first, second, third = SAME_64

    assert login(client, "nobody@acme.test", "wrong password", ip=first).status_code == 401
    assert login(client, "nobody@acme.test", "wrong password", ip=second).status_code == 401
    assert_rest_429(login(client, owner.email, ip=third))  # even the right password waits
    assert login(client, "nobody@acme.test", "wrong password", ip=OTHER_64).status_code == 401
    # IPv4 addresses keep a budget each.
    assert login(client, "nobody@acme.test", "wrong password", ip=IPV4[0]).status_code == 401
    assert login(client, "nobody@acme.test", "wrong password", ip=IPV4[0]).status_code == 401
    assert_rest_429(login(client, owner.email, ip=IPV4[0]))
    assert login(client, owner.email, ip=IPV4[1]).status_code == 200


@pytest.mark.parametrize("endpoint", ["verify", "check"])
def test_f7_refused_keys_from_one_ipv6_64_share_one_budget(limited_app, endpoint: str):
    client = limited_app(rate_limit_refusals_ip="2/minute").test_client()

    def refuse(ip: str) -> Any:
        headers = {"X-API-Key": unknown_key()}
        if endpoint == "verify":
            return client.post(VERIFY, headers=headers, **from_ip(ip))
        return client.get(CHECK, headers=headers, **from_ip(ip))

    first, second, third = SAME_64
    assert refuse(first).status_code == 401
    assert refuse(second).status_code == 401
    over = refuse(third)
    assert over.status_code == 429 and 1 <= int(over.headers["Retry-After"]) <= 60
    assert refuse(OTHER_64).status_code == 401
    assert [refuse(IPV4[0]).status_code for _ in range(3)] == [401, 401, 429]
    assert refuse(IPV4[1]).status_code == 401


# --- F8 (Low): OAuth endpoints read the form body only ------------------------------------------


def oauth_request(owner: Actor, machine: OAuthClient, endpoint: str, where: str) -> tuple[str, dict, dict]:
    """(url, form, headers) with a parameter in the query only, or in both query and form."""
    if endpoint == "token":
        form = {"client_id": FIRST_PARTY, "username": owner.email, "password": PASSWORD, "grant_type": "password"}
        url, headers = TOKEN_URL, {}
    else:
        form = {"token": owner.token}
        url = REVOKE_URL if endpoint == "revoke" else INTROSPECT_URL
        if endpoint == "revoke":
            form["client_id"] = FIRST_PARTY
            headers = {}
        else:
            headers = basic_auth(machine.client_id, str(machine.secret))
    if where == "query-and-form":
        name = "grant_type" if endpoint == "token" else "token"
        return f"{url}?{name}={form[name]}", form, headers
    if endpoint == "token":
        return f"{url}?grant_type=password", {k: v for k, v in form.items() if k != "grant_type"}, headers
    return f"{url}?token_type_hint=access_token", form, headers  # RFC 7009/7662 body parameter


@pytest.mark.parametrize("where", ["query-only", "query-and-form"])
@pytest.mark.parametrize("endpoint", ["token", "revoke", "introspect"])
def test_f8_query_parameters_on_the_oauth_endpoints_are_refused(
    app, client: FlaskClient, owner: Actor, machine: OAuthClient, endpoint: str, where: str
):
    logins_before = len(audit_events(app, "login.succeeded"))
    url, form, headers = oauth_request(owner, machine, endpoint, where)

    response = client.post(url, data=form, headers=headers)

    assert_oauth_error(response, 400, "invalid_request")
    assert len(audit_events(app, "login.succeeded")) == logins_before  # no session was started
    assert me_status(client, owner.token) == 200  # nothing was revoked


# --- F11 (Low): nothing stored or loaded that gives a secret away -------------------------------

PEPPER_A = "review-pepper-a-0123456789abcdefghijklmn"
PEPPER_B = "review-pepper-b-nmlkjihgfedcba9876543210"


def test_f11_api_key_rows_do_not_store_a_plain_hash_of_the_pepper(app, make_app, owner: Actor):
    under_a, under_b = make_app(api_key_pepper=PEPPER_A), make_app(api_key_pepper=PEPPER_B)
    first, second = (create_key(under_a.test_client(), owner.headers)["id"] for _ in range(2))
    third = create_key(under_b.test_client(), owner.headers)["id"]

    ids = {key_id: stored_pepper_id(app, key_id) for key_id in (first, second, third)}

    assert ids[first] == ids[second]  # same pepper, same id
    assert ids[first] != ids[third]  # another pepper, another id
    assert ids[first] not in plain_pepper_hashes(PEPPER_A), ids
    assert ids[third] not in plain_pepper_hashes(PEPPER_B), ids


def signing_key_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A keys directory with one active signing key: (directory, its PEM file)."""
    directory = tmp_path / "keys"
    record = KeyStore(directory, timedelta(seconds=930)).generate()
    assert record is not None
    pem = directory / f"{record.kid}.pem"
    assert pem.stat().st_mode & 0o777 == 0o600
    return directory, pem


def test_f11_a_signing_key_file_readable_by_others_is_refused_at_load(tmp_path: Path):
    directory, pem = signing_key_dir(tmp_path)
    KeyStore(directory, timedelta(seconds=930)).reload(force=True)  # 0600: loads
    pem.chmod(0o644)

    with pytest.raises(SigningKeyError) as refused:
        KeyStore(directory, timedelta(seconds=930)).reload(force=True)

    assert pem.name in str(refused.value) and "600" in str(refused.value), str(refused.value)  # 0600, 0o600


def test_f11_production_refuses_to_start_with_a_signing_key_readable_by_others(tmp_path: Path):
    directory, pem = signing_key_dir(tmp_path)
    config = {
        "env": "production",
        "issuer": "https://auth.outter.test",
        "secret_key": "s" * 40,
        "api_key_pepper": "p" * 40,
        "database_url": f"sqlite:///{tmp_path / 'production.db'}",
        "keys_dir": str(directory),
    }
    with extra_app(config):  # 0600: starts
        pass
    pem.chmod(0o644)

    with pytest.raises((ConfigError, SigningKeyError)) as refused:
        with extra_app(config):
            pass

    assert pem.name in str(refused.value), str(refused.value)


# --- F12 (Low): creating a user tells nothing about other tenants' users ------------------------


def test_f12_a_user_of_another_tenant_is_created_like_a_new_one_and_keeps_their_password(
    client: FlaskClient, owner: Actor, make: Factory
):
    make.user("globex", "shared@globex.test", "member")  # password PASSWORD, in globex only
    new_password = "a brand new password 123"

    def create(email: str) -> Any:
        body = {"email": email, "password": new_password, "role": "member"}
        return client.post(USERS, json=body, headers=owner.headers)

    fresh, existing = create("fresh@acme.test"), create("shared@globex.test")

    assert (fresh.status_code, existing.status_code) == (201, 201), existing.get_data(as_text=True)
    assert set(existing.get_json()) == set(fresh.get_json())
    old = client.post(LOGIN, json={"email": "shared@globex.test", "password": PASSWORD, "tenant": "globex"})
    assert old.status_code == 200, old.get_data(as_text=True)
    for tenant in ("globex", "acme"):
        payload = {"email": "shared@globex.test", "password": new_password, "tenant": tenant}
        assert client.post(LOGIN, json=payload).status_code == 401
    assert create("fresh@acme.test").status_code == 409  # a member of this tenant already
