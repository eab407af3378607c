"""The pages ship with the package: ``pip install .`` must carry every template and asset."""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "outter_auth"


def package_data() -> list[str]:
    """The ``outter_auth`` globs of setup.py's ``package_data`` (read, not run)."""
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "package_data":
            return list(ast.literal_eval(node.value)["outter_auth"])
    raise AssertionError("setup.py has no package_data")


def test_every_template_and_asset_is_in_package_data():
    globs = package_data()
    shipped = [
        path.relative_to(PACKAGE).as_posix()
        for folder in ("templates", "static")
        for path in (PACKAGE / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert shipped, "no templates or static files found"
    assert [name for name in shipped if not any(fnmatch(name, pattern) for pattern in globs)] == []


def test_every_folder_of_python_modules_is_a_package():
    """``find_packages`` ships only folders with an ``__init__.py``: one without is missing from
    ``pip install .``, yet works from a checkout."""
    folders = {path.parent for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts}
    assert sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").exists()) == []
