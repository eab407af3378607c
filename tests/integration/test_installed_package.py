"""Production from an installed package (SPEC §13), outside the checkout.

A wheel is built from the sources, installed into a fresh virtualenv (``--no-deps``: the
dependencies are this test run's own, reached through a ``.pth`` line, so nothing is
downloaded), and run from a folder that is not the checkout: ``outter-auth db upgrade``,
``keys generate``, then gunicorn with the package's entry point and settings, which must
answer ``/readyz`` with 200. Nothing of the checkout is importable there (no ``wsgi.py``,
no ``gunicorn.conf.py``), and with no ``OUTTER_DATABASE_URL`` nor ``OUTTER_KEYS_DIR`` the
database and the keys go to the package's instance folder, whatever the working directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.servers import REPO, free_port, running, wait_for, wait_until_serving

# What a wheel is built from: nothing else of the checkout goes into the build.
SOURCES = ("setup.py", "setup.cfg", "outter_auth", "migrations", "README.md")
PRODUCTION = {
    "OUTTER_ENV": "production",
    "OUTTER_ISSUER": "https://auth.outter.test",
    "OUTTER_SECRET_KEY": "s" * 43,
    "OUTTER_API_KEY_PEPPER": "p" * 43,
}


@dataclass
class Installed:
    python: Path
    bin: Path
    root: Path

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: no OUTTER_*/GUNICORN_* of the caller, no PYTHONPATH to the checkout."""
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "GUNICORN_", "FLASK_", "PYTHON"))}
        return {**keep, "PATH": f"{self.bin}{os.pathsep}{keep.get('PATH', '')}", **extra}

    def run(self, *argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(argv), env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("installed")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(REPO / name, source / name)
    wheels = root / "wheels"
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(source), "-w", str(wheels), "--no-deps", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("outter_auth-*.whl")

    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # The dependencies are this run's: a path line (not an editable finder: .pth files of that
    # directory are not executed), after the fresh venv's own site-packages, which hold the wheel.
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    (purelib / "zz_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    yield Installed(python, venv / "bin", root)


def test_the_wheel_holds_the_entry_point_and_the_gunicorn_settings(installed: Installed):
    elsewhere = installed.root / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    code = (
        "import outter_auth, outter_auth.wsgi, outter_auth.gunicorn_conf as c; print(outter_auth.__file__, c.wsgi_app)"
    )
    result = installed.run(str(installed.python), "-c", code, env=installed.env(**PRODUCTION), cwd=elsewhere)
    # production without a key refuses to start: the import of outter_auth.wsgi says so, in one line
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("outter-auth: refusing to start: no active signing key"), result.stderr
    assert "Traceback" not in result.stderr

    code = "import outter_auth, outter_auth.gunicorn_conf as c; print(outter_auth.__file__); print(c.wsgi_app)"
    result = installed.run(str(installed.python), "-c", code, env=installed.env(), cwd=elsewhere)
    package, app = result.stdout.split()
    assert Path(package).is_relative_to(installed.root / "venv"), package  # the wheel's, not the checkout's
    assert app == "outter_auth.wsgi:app"


def test_gunicorn_serves_the_installed_package_from_outside_the_checkout(installed: Installed):
    setup_dir, serve_dir = installed.root / "setup-here", installed.root / "serve-here"
    setup_dir.mkdir()
    serve_dir.mkdir()
    port = free_port()
    env = installed.env(**PRODUCTION, GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2")
    for command in (["db", "upgrade"], ["keys", "generate"]):
        result = installed.run(str(installed.bin / "outter-auth"), *command, env=env, cwd=setup_dir)
        assert result.returncode == 0, result.stderr
    assert list(setup_dir.iterdir()) == [], "the CLI wrote into its working directory"
    instance = installed.root / "venv" / "var" / "outter_auth-instance"
    assert len(list((instance / "keys").glob("*.pem"))) == 1, "the key is in the instance folder"

    argv = [str(installed.python), "-m", "gunicorn", "-c", "python:outter_auth.gunicorn_conf", "outter_auth.wsgi:app"]
    with running("gunicorn-installed", argv, installed.root / "gunicorn.log", env=env, cwd=serve_dir) as proc:
        wait_until_serving(proc, f"http://127.0.0.1:{port}/readyz")
        # the package's settings were used: two workers (gunicorn's own default is one)
        log = installed.root / "gunicorn.log"
        wait_for(lambda: log.read_text().count("Booting worker") == 2, 30, "two workers")
        # production, two workers, no OUTTER_REDIS_URL: said once, at start-up (issue 17.11)
        assert log.read_text().count("OUTTER_REDIS_URL is empty with 2 workers") == 1
    assert list(serve_dir.iterdir()) == []
