"""What a local run and the README's walk-through leave behind stays out of git (issue 13.3)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
SHELL_BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)


def test_the_walk_through_writes_its_secrets_to_a_temporary_folder():
    walk_through = "\n".join(block for block in SHELL_BLOCKS if "curl" in block)
    assert "WORK=$(mktemp -d)" in walk_through
    targets = re.findall(r"""(?:\btee|>>?)\s+("?[^\s|;)]+)""", walk_through)
    assert targets, "the walk-through saves responses"
    for target in targets:
        if target.startswith(("/dev/", "&")):
            continue
        assert target.startswith('"$WORK/'), f"written into the working directory: {target}"
    assert not re.search(r"""open\(["'][^"'$]""", walk_through), "reads a file of the working directory"


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
@pytest.mark.parametrize(
    "path",
    [
        "instance/outter_auth.db",
        "keys/0a1b2c.pem",
        "keys/keyring.json",
        ".venv/bin/python",
        "prometheus-multiproc/counter_1.db",
        "login.json",
        "key2.json",
        "outter_auth/__pycache__/app.cpython-311.pyc",
        "build/lib/outter_auth/app.py",
        "outter_auth.egg-info/PKG-INFO",
    ],
)
def test_what_a_local_run_makes_is_ignored(path: str):
    result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, timeout=30)
    assert result.returncode == 0, f"{path} is not ignored by git"


@pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(), reason="not a git checkout")
def test_the_keys_folder_keeps_its_readme_and_gitignore():
    for path in ("keys/README.md", "keys/.gitignore"):
        result = subprocess.run(["git", "check-ignore", "-q", "--no-index", path], cwd=REPO, timeout=30)
        assert result.returncode == 1, f"{path} is ignored"
