"""deploy/systemd: the units pass ``systemd-analyze verify`` (deploy/systemd/check-units).

The check runs the shipped units with the install prefix pointed at this test run's virtualenv
(``systemd-analyze verify`` demands that every ExecStart program exists).
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.servers import require

REPO = Path(__file__).resolve().parent.parent
UNITS = REPO / "deploy" / "systemd"
CHECK = UNITS / "check-units"
VENV = Path(sys.executable).parent.parent  # the virtualenv running the tests


@pytest.fixture
def needs_systemd() -> None:
    """``.ci/run`` installs systemd: missing there, this fails rather than skips."""
    if shutil.which("systemd-analyze") is None:
        require("systemd-analyze is not installed (apt-get install systemd)")


def check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(folder / "check-units"), str(VENV)], capture_output=True, text=True, timeout=120)


@pytest.mark.usefixtures("needs_systemd")
def test_the_units_pass_systemd_analyze_verify():
    result = check(UNITS)
    assert result.returncode == 0, result.stderr
    assert "outter-auth.service" in result.stdout


@pytest.mark.usefixtures("needs_systemd")
def test_the_check_fails_on_a_broken_unit(tmp_path):
    copy = tmp_path / "systemd"
    shutil.copytree(UNITS, copy)
    unit = copy / "outter-auth-audit-prune.timer"
    unit.write_text(unit.read_text().replace("OnCalendar=", "OnCalender="))
    result = check(copy)
    assert result.returncode == 1
    assert "OnCalender" in result.stderr


def units() -> dict[str, configparser.ConfigParser]:
    parsed = {}
    for path in sorted([*UNITS.glob("*.service"), *UNITS.glob("*.timer")]):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        parser.read(path)
        parsed[path.name] = parser
    return parsed


def test_every_service_runs_the_installed_package_as_its_own_user():
    services = {name: unit for name, unit in units().items() if name.endswith(".service")}
    assert set(services) == {
        "outter-auth.service",
        "outter-auth-keys-rotate.service",
        "outter-auth-audit-prune.service",
    }
    for name, unit in services.items():
        service = unit["Service"]
        assert service["User"] == "outter-auth", name
        assert service["EnvironmentFile"] == "/etc/outter-auth/outter-auth.env", name
        assert service["UMask"] == "0077", name
        assert service["ExecStart"].startswith("/opt/outter-auth/venv/bin/"), name
    gunicorn = services["outter-auth.service"]["Service"]["ExecStart"]
    assert gunicorn.endswith("gunicorn -c python:outter_auth.gunicorn_conf outter_auth.wsgi:app")
    assert services["outter-auth-keys-rotate.service"]["Service"]["ExecStart"].endswith("outter-auth keys rotate")
    assert services["outter-auth-audit-prune.service"]["Service"]["ExecStart"].endswith("outter-auth audit prune")


def test_each_job_has_a_timer():
    found = units()
    for job in ("outter-auth-keys-rotate", "outter-auth-audit-prune"):
        timer = found[f"{job}.timer"]
        assert timer["Timer"]["OnCalendar"]
        assert timer["Timer"]["Persistent"] == "true"
        assert timer["Install"]["WantedBy"] == "timers.target"


def test_the_environment_file_names_what_production_requires():
    settings = dict(
        line.split("=", 1) for line in (UNITS / "outter-auth.env").read_text().splitlines() if line and line[0] != "#"
    )
    assert settings["OUTTER_ENV"] == "production"
    for name in (
        "OUTTER_ISSUER",
        "OUTTER_SECRET_KEY",
        "OUTTER_API_KEY_PEPPER",
        "OUTTER_DATABASE_URL",
        "OUTTER_REDIS_URL",
    ):
        assert settings[name], name
    assert settings["OUTTER_KEYS_DIR"].startswith("/var/lib/outter-auth/")  # the units' StateDirectory
    assert "OUTTER_TRUSTED_PROXIES" in settings and "FORWARDED_ALLOW_IPS" in settings
