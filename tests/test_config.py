"""Settings from the environment, and production's refusals (SPEC §9)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from outter_auth.app import create_app
from outter_auth.config import ConfigError, load_settings

REPO = Path(__file__).resolve().parent.parent
SAFE_PRODUCTION = {
    "OUTTER_ENV": "production",
    "OUTTER_ISSUER": "https://auth.outter.io",
    "OUTTER_SECRET_KEY": "s" * 40,
    "OUTTER_API_KEY_PEPPER": "p" * 40,
}


def test_defaults_work_for_a_local_run(tmp_path):
    settings = load_settings(environ={}, instance_path=tmp_path)
    assert settings.env == "development"
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'outter_auth.db'}"
    assert settings.audience == "outter-api"
    assert (settings.access_token_ttl, settings.refresh_token_ttl) == (900, 30 * 24 * 3600)
    assert (settings.bcrypt_rounds, settings.jwks_max_age, settings.api_key_cache_ttl) == (12, 300, 5)
    assert settings.first_party_client_id == "outter-app"
    assert not settings.issuer_explicit


def test_environment_variables_are_read_and_converted(tmp_path):
    settings = load_settings(
        environ={
            "OUTTER_ACCESS_TOKEN_TTL": "60",
            "OUTTER_SCOPES": "content:generate, content:read content:generate",
            "OUTTER_ISSUER": "https://auth.example/",
            "OUTTER_KEYS_DIR": str(tmp_path / "k"),
        },
        instance_path=tmp_path,
    )
    assert settings.access_token_ttl == 60
    assert settings.scopes == ("content:generate", "content:read")
    assert settings.issuer == "https://auth.example"  # trailing slash dropped
    assert settings.keys_dir == str(tmp_path / "k")


def test_browser_sign_in_settings(tmp_path):
    """SPEC §9 and §11: the built-in client's redirect URIs (space separated), the SSO lifetime."""
    defaults = load_settings(environ={}, instance_path=tmp_path)
    assert (defaults.first_party_redirect_uris, defaults.browser_session_ttl) == ((), 12 * 3600)
    settings = load_settings(
        environ={
            "OUTTER_FIRST_PARTY_REDIRECT_URIS": "https://app.outter.io/callback  http://127.0.0.1/callback",
            "OUTTER_BROWSER_SESSION_TTL": "3600",
        },
        instance_path=tmp_path,
    )
    assert settings.first_party_redirect_uris == ("https://app.outter.io/callback", "http://127.0.0.1/callback")
    assert settings.browser_session_ttl == 3600


def test_overrides_win_over_the_environment(tmp_path):
    settings = load_settings({"audience": "mine"}, environ={"OUTTER_AUDIENCE": "theirs"}, instance_path=tmp_path)
    assert settings.audience == "mine"


def test_testing_uses_cheap_bcrypt(tmp_path):
    assert load_settings({"env": "testing"}, environ={}, instance_path=tmp_path).bcrypt_rounds == 4


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"OUTTER_ENV": "staging"}, "OUTTER_ENV must be one of"),
        ({"OUTTER_ACCESS_TOKEN_TTL": "soon"}, "OUTTER_ACCESS_TOKEN_TTL must be an integer"),
        ({"OUTTER_ACCESS_TOKEN_TTL": "0"}, "OUTTER_ACCESS_TOKEN_TTL must be >= 1"),
        ({"OUTTER_BCRYPT_ROUNDS": "3"}, "OUTTER_BCRYPT_ROUNDS must be between 4 and 31"),
        ({"OUTTER_JWT_LEEWAY": "300"}, "OUTTER_JWT_LEEWAY must be between 0 and 30"),
        ({"OUTTER_BROWSER_SESSION_TTL": "10"}, "OUTTER_BROWSER_SESSION_TTL must be between 60 and"),
        ({"OUTTER_FIRST_PARTY_REDIRECT_URIS": "http://app.example/cb"}, "OUTTER_FIRST_PARTY_REDIRECT_URIS: http is"),
        ({"OUTTER_FIRST_PARTY_REDIRECT_URIS": "https://a.example/#x"}, "OUTTER_FIRST_PARTY_REDIRECT_URIS: .*fragment"),
    ],
)
def test_malformed_settings_are_refused_with_a_reason(tmp_path, environ, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ, instance_path=tmp_path)


def test_unknown_override_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings({"isuer": "typo"}, environ={}, instance_path=tmp_path)


@pytest.mark.parametrize(
    ("missing", "reason"),
    [
        ("OUTTER_ISSUER", "OUTTER_ISSUER must be set in production"),
        ("OUTTER_SECRET_KEY", "OUTTER_SECRET_KEY must be set"),
        ("OUTTER_API_KEY_PEPPER", "OUTTER_API_KEY_PEPPER must be set"),
    ],
)
def test_production_refuses_unsafe_defaults(tmp_path, monkeypatch, missing, reason):
    for name, value in SAFE_PRODUCTION.items():
        if name != missing:
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("OUTTER_KEYS_DIR", str(tmp_path / "keys"))
    with pytest.raises(ConfigError, match=reason) as error:
        create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}"})
    assert "\n" not in str(error.value)


def test_production_refuses_the_default_secret_key_even_when_set_explicitly(tmp_path, monkeypatch):
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OUTTER_SECRET_KEY", "dev-secret-key-change-me")
    with pytest.raises(ConfigError, match="OUTTER_SECRET_KEY"):
        create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(tmp_path)})


def test_production_refuses_to_serve_without_a_signing_key(tmp_path, monkeypatch):
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    keys = tmp_path / "keys"
    with pytest.raises(ConfigError, match="no active signing key .*outter-auth keys generate"):
        create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(keys)})
    assert not (keys / "keyring.json").exists()  # production never invents a key


def test_production_cli_starts_without_a_key_so_one_can_be_generated(tmp_path, monkeypatch):
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(tmp_path)}, serving=False)
    result = app.test_cli_runner().invoke(args=["keys", "generate", "--json"])
    assert result.exit_code == 0, result.output
    create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(tmp_path)})  # now it starts


def test_production_on_sqlite_warns_but_runs(tmp_path, monkeypatch, caplog):
    for name, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(name, value)
    with caplog.at_level(logging.WARNING):
        create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(tmp_path)}, serving=False)
    assert "SQLite" in caplog.text


def test_development_generates_a_signing_key_on_first_start_and_says_so(tmp_path, caplog):
    keys = tmp_path / "keys"
    config = {"env": "development", "database_url": f"sqlite:///{tmp_path / 'd.db'}", "keys_dir": str(keys)}
    with caplog.at_level(logging.WARNING, logger="outter_auth.app"):
        create_app(config)
    assert "generated a development signing key" in caplog.text
    pems = list(keys.glob("*.pem"))
    assert len(pems) == 1
    assert pems[0].stat().st_mode & 0o777 == 0o600

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="outter_auth.app"):
        create_app(config)  # second start reuses it
    assert "generated" not in caplog.text
    assert len(list(keys.glob("*.pem"))) == 1


@pytest.mark.parametrize("name", ["OUTTER_SECRET_KEY", "OUTTER_API_KEY_PEPPER"])
def test_production_refuses_short_secrets(tmp_path, monkeypatch, name):
    for key, value in SAFE_PRODUCTION.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv(name, "short-but-not-default")
    with pytest.raises(ConfigError, match=f"{name} must be at least 32 characters"):
        create_app({"database_url": f"sqlite:///{tmp_path / 'p.db'}", "keys_dir": str(tmp_path)})


@pytest.mark.parametrize("entry", ["wsgi", "cli"])
def test_refusal_is_one_line_without_a_traceback(tmp_path, entry):
    """What gunicorn (``wsgi:app``) and ``outter-auth`` print when production refuses."""
    env = {
        **SAFE_PRODUCTION,
        "OUTTER_KEYS_DIR": str(tmp_path),
        "PATH": os.environ["PATH"],
        "OUTTER_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}",
    }
    del env["OUTTER_ISSUER"]
    code = "import wsgi" if entry == "wsgi" else "from outter_auth.cli import main; main()"
    args = [sys.executable, "-c", code] + (["keys", "list"] if entry == "cli" else [])
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "outter-auth: refusing to start: OUTTER_ISSUER must be set in production"


# -- OUTTER_KEYS_DIR is anchored (SPEC §9): never the current directory ----------------


@pytest.mark.parametrize("environ", [{}, {"OUTTER_KEYS_DIR": "keys"}, {"OUTTER_KEYS_DIR": "./keys"}])
def test_a_relative_keys_dir_of_a_checkout_is_the_project_roots(tmp_path, monkeypatch, environ):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ=environ, instance_path=tmp_path / "instance")
    assert settings.keys_dir == str(REPO / "keys")


def test_a_relative_keys_dir_of_an_installed_package_is_in_the_instance_folder(tmp_path, monkeypatch):
    from outter_auth import config

    monkeypatch.setattr(config, "source_checkout", lambda: None)  # as in site-packages
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"OUTTER_KEYS_DIR": "signing"}, instance_path=tmp_path / "instance")
    assert settings.keys_dir == str(tmp_path / "instance" / "signing")


def test_an_absolute_keys_dir_stays_as_it_is(tmp_path):
    assert load_settings(environ={"OUTTER_KEYS_DIR": str(tmp_path / "k")}).keys_dir == str(tmp_path / "k")


def test_the_keys_dir_is_the_same_from_any_folder(tmp_path):
    """Two processes, two working directories, one keys dir (issue 13.1)."""
    code = (
        "from outter_auth.app import create_app; "
        "print(create_app(serving=False).extensions['outter_auth'].settings.keys_dir)"
    )
    env = {"PATH": os.environ["PATH"], "OUTTER_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    seen = set()
    for cwd in (tmp_path / "one", tmp_path / "two"):
        cwd.mkdir()
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
        )
        assert result.returncode == 0, result.stderr
        seen.add(result.stdout.strip().splitlines()[-1])
    assert seen == {str(REPO / "keys")}
    assert not list(tmp_path.glob("*/keys"))


# -- metrics (SPEC §13) ------------------------------------------------------------------------


def test_metrics_are_off_by_default_and_read_from_the_environment(tmp_path):
    assert not load_settings(environ={}, instance_path=tmp_path).metrics
    settings = load_settings(
        environ={"OUTTER_METRICS": "true", "OUTTER_METRICS_TOKEN": "t" * 32}, instance_path=tmp_path
    )
    assert settings.metrics and settings.metrics_token == "t" * 32
    with pytest.raises(ConfigError, match="OUTTER_METRICS must be true or false"):
        load_settings(environ={"OUTTER_METRICS": "maybe"}, instance_path=tmp_path)


def test_production_warns_about_open_metrics(tmp_path, caplog):
    environ = {**SAFE_PRODUCTION, "OUTTER_METRICS": "true"}
    with caplog.at_level(logging.WARNING):
        load_settings(environ=environ, instance_path=tmp_path).check_production()
    assert "set OUTTER_METRICS_TOKEN" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_settings(environ={**environ, "OUTTER_METRICS_TOKEN": "t" * 32}, instance_path=tmp_path).check_production()
    assert "OUTTER_METRICS_TOKEN" not in caplog.text
