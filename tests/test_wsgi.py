"""The WSGI entry points and the gunicorn settings (SPEC §9, §13; issue 17.6 and 17.11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from outter_auth.config import ConfigError, load_settings, require_explicit_env

REPO = Path(__file__).resolve().parent.parent
REFUSAL = "outter-auth: refusing to start: OUTTER_ENV must be set to one of development, production, testing"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """No OUTTER_ENV: what an operator who forgot it has."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "GUNICORN_"))}
    env.update(OUTTER_DATABASE_URL=f"sqlite:///{tmp_path / 'd.db'}", OUTTER_KEYS_DIR=str(tmp_path / "keys"), **extra)
    return env


@pytest.mark.parametrize("module", ["outter_auth.wsgi", "wsgi"])
def test_the_wsgi_entry_points_refuse_to_start_without_outter_env(tmp_path, module):
    result = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(REFUSAL), result.stderr
    assert "\n" not in result.stderr.strip() and "Traceback" not in result.stderr
    assert not (tmp_path / "keys").exists(), "nothing was started: no development key made"


def test_gunicorn_refuses_to_start_without_outter_env(tmp_path):
    """From a folder outside the checkout, with the package's settings (the app is preloaded)."""
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "python:outter_auth.gunicorn_conf", "--bind", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    assert REFUSAL in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("env", ["development", "testing", "production"])
def test_an_explicit_outter_env_is_enough(env):
    require_explicit_env({"OUTTER_ENV": env})


@pytest.mark.parametrize("environ", [{}, {"OUTTER_ENV": ""}])
def test_a_missing_or_empty_outter_env_is_refused(environ):
    with pytest.raises(ConfigError, match="OUTTER_ENV must be set"):
        require_explicit_env(environ)


def test_the_cli_keeps_its_development_default(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from outter_auth.cli import main; main()", "keys", "list"],
        capture_output=True,
        text=True,
        env=clean_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lower() == "no signing keys"


# -- several workers without Redis (17.11) --------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "workers", "warns"),
    [
        ({"OUTTER_ENV": "production"}, 2, True),
        ({"OUTTER_ENV": "production"}, 5, True),
        ({"OUTTER_ENV": "production"}, 1, False),
        ({"OUTTER_ENV": "production", "OUTTER_REDIS_URL": "redis://127.0.0.1:6379/0"}, 4, False),
        ({"OUTTER_ENV": "development"}, 4, False),
        ({"OUTTER_ENV": "testing"}, 4, False),
    ],
)
def test_several_workers_without_redis_warn_in_production(tmp_path, environ, workers, warns):
    warning = load_settings(environ=environ, instance_path=tmp_path).unshared_state_warning(workers)
    assert (warning is not None) == warns
    if warns:
        assert "OUTTER_REDIS_URL" in warning and f"{workers} workers" in warning


def test_the_gunicorn_hook_logs_the_warning(monkeypatch, caplog):
    from outter_auth import gunicorn_conf

    monkeypatch.setenv("OUTTER_ENV", "production")
    monkeypatch.delenv("OUTTER_REDIS_URL", raising=False)
    with caplog.at_level("WARNING", logger="outter_auth.gunicorn"):
        gunicorn_conf.when_ready(SimpleNamespace(cfg=SimpleNamespace(workers=3)))
    assert "OUTTER_REDIS_URL is empty with 3 workers" in caplog.text

    caplog.clear()
    monkeypatch.setenv("OUTTER_REDIS_URL", "redis://127.0.0.1:6379/0")
    with caplog.at_level("WARNING", logger="outter_auth.gunicorn"):
        gunicorn_conf.when_ready(SimpleNamespace(cfg=SimpleNamespace(workers=3)))
    assert caplog.text == ""
