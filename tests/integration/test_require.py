"""``servers.require``: a missing tool or service skips a test on a developer's machine and
fails it under CI (``.ci/run`` exports CI=true and provides every one of them), and every
skip of the suite for a missing tool or service goes through it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration import servers
from tests.integration.servers import require

TESTS = Path(__file__).resolve().parents[1]
MISSING = "nginx is not installed (apt-get install nginx)"
# Skips that are not about the machine: a test that needs PostgreSQL while the suite runs on
# SQLite, and SQLite's "database is locked" under many concurrent writers.
NOT_ABOUT_THE_MACHINE = {
    "api/test_outage_and_headers.py",
    "api/test_refresh.py",
    "api/test_lockout.py",
    "test_repository_hygiene.py",  # a tarball, not a git clone: nothing to check there
    "attacks/test_authorization_code_attacks.py",  # the code race on SQLite: "database is locked"
}
SKIPPING = re.compile(r"pytest\.skip\(|skipif\(|importorskip\(")


@pytest.mark.parametrize("ci", [None, "", "0", "false", "False", "no", "off"])
def test_outside_ci_a_missing_tool_skips_with_its_reason(monkeypatch: pytest.MonkeyPatch, ci: str | None):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)

    with pytest.raises(pytest.skip.Exception, match=re.escape(MISSING)):
        require(MISSING)


@pytest.mark.parametrize("ci", ["true", "True", "1", "yes"])
def test_under_ci_a_missing_tool_fails_the_test(monkeypatch: pytest.MonkeyPatch, ci: str):
    monkeypatch.setenv("CI", ci)

    with pytest.raises(pytest.fail.Exception, match=re.escape(MISSING)) as failed:
        require(MISSING)

    assert "CI must provide it" in str(failed.value)


@pytest.mark.parametrize("ci", [None, "true"])
def test_nothing_missing_goes_on(monkeypatch: pytest.MonkeyPatch, ci: str | None):
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    require(None)


def test_the_reasons_name_what_is_missing_and_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(servers.shutil, "which", lambda name: None)
    monkeypatch.setattr(servers, "CHROMIUM", "/nonexistent/chromium")
    for reason in (
        servers.nginx_missing(),
        servers.luajit_missing(),
        servers.apache_missing(),
        servers.chromium_missing(),
    ):
        assert reason is not None and "apt-get install" in reason
    monkeypatch.setattr(servers.shutil, "which", lambda name: f"/usr/bin/{name}")
    assert servers.nginx_missing() is None and servers.luajit_missing() is None


def test_every_skip_for_the_machine_goes_through_require():
    """A new ``pytest.skip``/``skipif``/``importorskip`` outside ``require`` is either about the
    machine (then use ``require``) or belongs in NOT_ABOUT_THE_MACHINE, with its reason."""
    here, helper = Path(__file__).resolve(), Path(servers.__file__).resolve()
    found = [
        f"{path.relative_to(TESTS)}:{number}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path.resolve() not in (here, helper) and str(path.relative_to(TESTS)) not in NOT_ABOUT_THE_MACHINE
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if SKIPPING.search(line)
    ]
    assert found == []
