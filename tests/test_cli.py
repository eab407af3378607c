"""The command line (SPEC §10), through ``app.test_cli_runner()``."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from outter_auth.extensions import db
from outter_auth.models import Membership, User
from outter_auth.services import passwords


def run(app, *args: str, input: str | None = None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_keys_list_shows_the_active_key(app, keys_dir):
    result = run(app, "keys", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    active = [r for r in rows if r["status"] == "active"]
    assert len(active) == 1
    assert (keys_dir / f"{active[0]['kid']}.pem").exists()
    assert run(app, "keys", "list").output.startswith(active[0]["kid"])


def test_keys_generate_refuses_a_second_active_key(app):
    result = run(app, "keys", "generate")
    assert result.exit_code != 0
    assert "keys rotate" in result.output


def test_keys_generate_into_an_empty_dir(app, tmp_path, base_config):
    from outter_auth.app import create_app

    production = {"env": "production", "secret_key": "s" * 32, "api_key_pepper": "p" * 32}
    fresh = create_app({**base_config, **production, "keys_dir": str(tmp_path)}, serving=False)
    result = run(fresh, "keys", "generate", "--json")
    assert result.exit_code == 0, result.output
    kid = json.loads(result.output)["kid"]
    assert (tmp_path / f"{kid}.pem").stat().st_mode & 0o777 == 0o600


def test_tenants_create(app, ctx):
    result = run(app, "tenants", "create", "acme", "--name", "Acme Inc", "--json")
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert (created["slug"], created["name"]) == ("acme", "Acme Inc")
    assert created["id"].startswith("ten_") and created["created_at"]

    again = run(app, "tenants", "create", "acme")
    assert again.exit_code != 0
    assert "exists already" in again.output


def test_tenants_create_refuses_a_bad_slug(app):
    result = run(app, "tenants", "create", "Not A Slug")
    assert result.exit_code != 0
    assert "slug: 1-64 characters of a-z, 0-9 and '-'" in result.output  # the projects API's message


def test_users_create_reads_the_password_from_stdin(app, client):
    run(app, "tenants", "create", "acme")
    result = run(
        app,
        "users",
        "create",
        "Owner@Acme.test",
        "--tenant",
        "acme",
        "--role",
        "owner",
        "--password-stdin",
        "--json",
        input="a long passphrase\n",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert created["email"] == "owner@acme.test" and created["role"] == "owner"
    assert "a long passphrase" not in result.output

    login = client.post("/api/auth/login", json={"email": "owner@acme.test", "password": "a long passphrase"})
    assert login.status_code == 200


def test_users_create_prompts_for_the_password_twice(app):
    run(app, "tenants", "create", "acme")
    result = run(app, "users", "create", "ann@acme.test", "--tenant", "acme", input="passphrase1\npassphrase1\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.query(User).filter_by(email="ann@acme.test").one()
        assert passwords.verify_password("passphrase1", user.password_hash)
        assert user.password_hash.startswith("$2")  # bcrypt, never the password


def test_users_create_adds_an_existing_user_to_another_tenant(app):
    run(app, "tenants", "create", "acme")
    run(app, "tenants", "create", "globex")
    run(app, "users", "create", "ann@acme.test", "--tenant", "acme", "--password-stdin", input="passphrase1\n")
    result = run(app, "users", "create", "ann@acme.test", "--tenant", "globex", "--role", "admin")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.query(Membership).count() == 2


def test_users_create_errors(app):
    run(app, "tenants", "create", "acme")
    unknown_tenant = run(app, "users", "create", "a@b.test", "--tenant", "nope", "--password-stdin", input="x" * 9)
    assert unknown_tenant.exit_code != 0 and "no tenant" in unknown_tenant.output
    weak = run(app, "users", "create", "a@b.test", "--tenant", "acme", "--password-stdin", input="short\n")
    assert weak.exit_code != 0 and "password: Length must be between 8 and 72." in weak.output
    empty = run(app, "users", "create", "a@b.test", "--tenant", "acme", "--password-stdin", input="\n")
    assert empty.exit_code != 0 and "no password" in empty.output
    bad_role = run(app, "users", "create", "a@b.test", "--tenant", "acme", "--role", "root")
    assert bad_role.exit_code != 0


def test_console_script_is_a_flask_group_with_our_commands(tmp_path):
    env = {
        "OUTTER_KEYS_DIR": str(tmp_path / "keys"),
        "OUTTER_DATABASE_URL": f"sqlite:///{tmp_path}/c.db",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", "from outter_auth.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for command in ("db", "keys", "tenants", "users", "run"):
        assert f"  {command} " in result.stdout


def test_clients_create_prints_the_secret_once_and_stores_a_digest(app, client):
    from outter_auth.models import OAuthClient

    run(app, "tenants", "create", "acme")
    result = run(
        app,
        "clients",
        "create",
        "Billing",
        "--tenant",
        "acme",
        "--grant-type",
        "client_credentials",
        "--scope",
        "users:read content:generate",
        "--json",
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    assert set(created) == {"client_id", "client_secret"}
    assert created["client_secret"].startswith("ocs_") and len(created["client_secret"]) >= 47
    with app.app_context():
        stored = db.session.get(OAuthClient, created["client_id"])
        assert stored.scopes == ["users:read", "content:generate"]
        assert len(stored.secret_digest) == 32
        assert created["client_secret"].encode() not in stored.secret_digest

    token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **created},
    )
    assert token.status_code == 200, token.get_json()


def test_clients_create_public_and_first_party(app):
    run(app, "tenants", "create", "acme")
    result = run(
        app,
        "clients",
        "create",
        "Mobile",
        "--tenant",
        "acme",
        "--grant-type",
        "password",
        "--grant-type",
        "refresh_token",
        "--first-party",
        "--public",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["client_secret"] is None
    assert (
        "client_secret"
        not in run(
            app, "clients", "create", "Mobile2", "--tenant", "acme", "--grant-type", "refresh_token", "--public"
        ).output
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grant-type", "password"], "first-party"),
        (["--grant-type", "client_credentials", "--public"], "public client"),
        (["--grant-type", "client_credentials", "--scope", "Bad Scope!"], "invalid scope"),
        (["--grant-type", "implicit"], "Must be one of: "),
    ],
)
def test_clients_create_refusals(app, args, message):
    run(app, "tenants", "create", "acme")
    result = run(app, "clients", "create", "X", "--tenant", "acme", *args)
    assert result.exit_code != 0
    assert message in result.output


# -- only `keys generate` and the development server's first start make a key (issue 13.1) --


@pytest.fixture
def fresh_development(tmp_path, monkeypatch):
    """A development set-up with a migrated database and no signing key, run from elsewhere."""
    from outter_auth.app import create_app

    keys, elsewhere = tmp_path / "keys", tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("OUTTER_ENV", "development")
    monkeypatch.setenv("OUTTER_DATABASE_URL", f"sqlite:///{tmp_path / 'dev.db'}")
    monkeypatch.setenv("OUTTER_KEYS_DIR", str(keys))
    monkeypatch.chdir(elsewhere)
    with create_app(serving=False).app_context():
        import flask_migrate

        flask_migrate.upgrade()
    return keys, elsewhere


def invoke(*args: str):
    from click.testing import CliRunner

    from outter_auth.cli import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.parametrize(
    "args",
    [
        ("keys", "list"),
        ("keys", "kong-config"),
        ("tenants", "create", "acme"),
        ("audit", "prune"),
        ("db", "current"),
    ],
)
def test_commands_other_than_keys_generate_make_no_signing_key(fresh_development, args):
    keys, elsewhere = fresh_development
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert not list(keys.glob("*.pem")), f"outter-auth {' '.join(args)} generated a key"
    assert list(elsewhere.iterdir()) == []


def test_keys_generate_makes_the_key_where_every_command_finds_it(fresh_development):
    keys, _ = fresh_development
    assert invoke("keys", "list", "--json").output.strip() == "[]"
    kid = json.loads(invoke("keys", "generate", "--json").output)["kid"]
    assert [row["kid"] for row in json.loads(invoke("keys", "list", "--json").output)] == [kid]
    assert [p.name for p in keys.glob("*.pem")] == [f"{kid}.pem"]


def test_the_development_server_makes_its_key_on_first_start(fresh_development):
    """``outter-auth run`` builds its app inside the ``run`` command (``serving=True``)."""
    import click

    from outter_auth.cli import _cli_app

    keys, _ = fresh_development
    with click.Context(click.Command("list"), info_name="list"):
        _cli_app()
    assert not list(keys.glob("*.pem"))
    with click.Context(click.Command("run"), info_name="run"):
        _cli_app()
    assert len(list(keys.glob("*.pem"))) == 1


def test_the_cli_from_another_folder_makes_no_key_there(tmp_path):
    """The new user's report: ``outter-auth keys list`` in /tmp made a second key in ./keys."""
    env = {
        "PATH": os.environ["PATH"],
        "OUTTER_ENV": "development",
        "OUTTER_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "OUTTER_KEYS_DIR": str(tmp_path / "keys"),
    }
    outter_auth = Path(sys.executable).with_name("outter-auth")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for args in (["db", "upgrade"], ["keys", "list"]):
        result = subprocess.run(
            [outter_auth, *args], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60
        )
        assert result.returncode == 0, result.stderr
    assert list(elsewhere.iterdir()) == []
    assert not (tmp_path / "keys").exists() or not list((tmp_path / "keys").glob("*.pem"))


# -- noise (issue 13.8): the first-steps hint is for the development server only ------------

HINT = "no users yet"
NO_TABLES = "run `outter-auth db upgrade`"


def test_cli_commands_do_not_repeat_the_first_steps_hint(fresh_development, caplog):
    with caplog.at_level(logging.WARNING):
        assert invoke("keys", "list").exit_code == 0
        assert invoke("tenants", "create", "acme").exit_code == 0
    assert HINT not in caplog.text


def test_the_development_server_gives_the_hint_when_it_starts(fresh_development, caplog):
    import click

    from outter_auth.cli import _cli_app

    with caplog.at_level(logging.WARNING), click.Context(click.Command("run"), info_name="run"):
        _cli_app()
    assert HINT in caplog.text


def test_db_upgrade_does_not_ask_for_itself(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OUTTER_ENV", "development")
    monkeypatch.setenv("OUTTER_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    monkeypatch.setenv("OUTTER_KEYS_DIR", str(tmp_path / "keys"))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO):
        result = invoke("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert NO_TABLES not in caplog.text
    with sqlite3.connect(tmp_path / "new.db") as migrated:
        assert migrated.execute("SELECT version_num FROM alembic_version").fetchone()
