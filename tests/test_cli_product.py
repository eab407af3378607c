"""``outter-auth`` reads like a product's command (issue 13.7): its own version, only our
commands and options, help for every option, operators' ``db`` commands, lists, one-line
errors. ``outter_auth`` is run as the console script runs it (``cli.main``)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from outter_auth import __version__
from outter_auth.cli import SECTIONS, cli

FLASK_INTERNALS = ("--app", "-A,", "--env-file", "-e,", "python-dotenv", "--debug", "routes", "shell")
DEVELOPER_DB_COMMANDS = ("init", "revision", "migrate", "merge", "stamp", "edit", "heads", "branches", "show")
OPERATOR_DB_COMMANDS = ("upgrade", "downgrade", "current", "history", "check")


@pytest.fixture
def outter_auth(app, base_config, monkeypatch) -> Any:
    """``outter_auth(*args)``: the console script, on the test database."""
    monkeypatch.setenv("OUTTER_ENV", "testing")
    monkeypatch.setenv("OUTTER_DATABASE_URL", str(base_config["database_url"]))
    monkeypatch.setenv("OUTTER_KEYS_DIR", str(base_config["keys_dir"]))
    return lambda *args, input=None: CliRunner().invoke(cli, list(args), input=input)


def run(app, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


# --- version and help ----------------------------------------------------------------------


def test_version_is_the_packages_and_only_that():
    result = CliRunner().invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert result.output == f"outter-auth {__version__}\n"
    assert importlib.metadata.version("outter-auth") == __version__


def test_help_offers_no_flask_internals():
    result = CliRunner().invoke(cli, ["--help"])

    assert result.exit_code == 0
    for internal in FLASK_INTERNALS:
        assert internal not in result.output, internal


def test_help_reads_like_a_products():
    lines = CliRunner().invoke(cli, ["--help"]).output.splitlines()

    assert lines[0] == "Usage: outter-auth [OPTIONS] COMMAND [ARGS]..."
    assert lines[2].strip() == "Outter Auth: API keys, JWTs and sessions for the Outter platform."
    for title, commands in SECTIONS:
        start = lines.index(f"{title}:")
        listed = [line.split()[0] for line in lines[start + 1 : start + 1 + len(commands)]]
        assert listed == [command.name for command in commands]
    examples = lines[lines.index("Examples:") + 1 :]
    assert examples[0].strip() == "$ outter-auth db upgrade"
    assert lines[-1] == "Run 'outter-auth COMMAND --help' for more on a command."


def test_every_command_is_in_exactly_one_section():
    sectioned = [command.name for _, commands in SECTIONS for command in commands]

    assert sorted(sectioned) == sorted(cli.commands) == sorted(set(sectioned))


def test_a_bare_command_prints_its_help_and_succeeds():
    bare = CliRunner().invoke(cli, [])

    assert bare.exit_code == 0
    assert bare.output == CliRunner().invoke(cli, ["--help"]).output


def _options(command: click.Command, path: str) -> list[tuple[str, click.Parameter]]:
    found = [(path, param) for param in command.params]
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            found += _options(sub, f"{path} {name}")
    return found


def test_every_option_of_every_command_has_help_text():
    bare = [
        f"{path} {'/'.join(param.opts)}"
        for path, param in _options(cli, "outter-auth")
        if isinstance(param, click.Option) and not param.hidden and not (param.help or "").strip()
    ]
    assert not bare, f"options without help: {bare}"


def test_every_command_has_a_one_line_summary_that_fits():
    for path, command in [(f"outter-auth {name}", c) for name, c in cli.commands.items()] + [
        (f"outter-auth {group} {name}", c)
        for group, g in cli.commands.items()
        if isinstance(g, click.Group)
        for name, c in g.commands.items()
    ]:
        summary = command.get_short_help_str(limit=80)
        assert summary and not summary.endswith("..."), (path, summary)


# --- db: what an operator needs ------------------------------------------------------------


def test_db_offers_the_operators_commands_only():
    result = CliRunner().invoke(cli, ["db", "--help"])
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].strip().splitlines()]

    for command in OPERATOR_DB_COMMANDS:
        assert command in listed
    for command in DEVELOPER_DB_COMMANDS:
        assert command not in listed, command
    assert "--directory" not in CliRunner().invoke(cli, ["db", "upgrade", "--help"]).output


@pytest.mark.parametrize("command", ["current", "history", "check"])
def test_db_operator_commands_run(outter_auth, command):
    result = outter_auth("db", command)  # (Alembic prints to the real standard output)

    assert result.exit_code == 0, result.output


def test_developers_keep_flask_migrates_whole_db_group(app):
    """``flask --app outter_auth.app:create_app db migrate`` (README, development notes)."""
    listed = run(app, "db", "--help").output

    for command in ("migrate", "revision", *OPERATOR_DB_COMMANDS):
        assert command in listed


def test_flask_app_db_migrate_is_there_for_developers(tmp_path):
    flask = Path(sys.executable).with_name("flask")
    env = {
        "PATH": os.environ["PATH"],
        "OUTTER_ENV": "development",
        "OUTTER_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "OUTTER_KEYS_DIR": str(tmp_path / "keys"),
    }
    result = subprocess.run(
        [flask, "--app", "outter_auth.app:create_app", "db", "migrate", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Autogenerate a new revision file" in result.stdout


# --- lists -----------------------------------------------------------------------------------


def test_tenants_list(app, owner, other_owner):
    rows = json.loads(run(app, "tenants", "list", "--json").output)
    text = run(app, "tenants", "list").output.splitlines()

    assert [row["slug"] for row in rows] == ["acme", "globex"]
    assert set(rows[0]) == {"id", "slug", "name", "created_at"}
    assert text[0].split() == ["SLUG", "NAME", "ID", "CREATED_AT"]
    assert [line.split()[0] for line in text[1:]] == ["acme", "globex"]


def test_users_list(app, owner, make):
    make.user("acme", "bob@acme.test", "member")
    rows = json.loads(run(app, "users", "list", "--tenant", "acme", "--json").output)
    text = run(app, "users", "list", "--tenant", "acme").output.splitlines()

    assert [(row["email"], row["role"], row["is_active"]) for row in rows] == [
        (owner.email, "owner", True),
        ("bob@acme.test", "member", True),
    ]
    assert text[0].split() == ["ID", "EMAIL", "ROLE", "IS_ACTIVE", "CREATED_AT"]
    assert [line.split()[1:4] for line in text[1:]] == [
        [owner.email, "owner", "yes"],
        ["bob@acme.test", "member", "yes"],
    ]


def test_clients_list(app, client, owner):
    created = client.post(
        "/api/auth/clients", json={"name": "billing", "grant_types": ["client_credentials"]}, headers=owner.headers
    ).get_json()
    rows = json.loads(run(app, "clients", "list", "--tenant", "acme", "--json").output)
    text = run(app, "clients", "list", "--tenant", "acme").output

    assert [row["client_id"] for row in rows] == [created["client_id"]]
    assert "client_secret" not in rows[0] and created["client_secret"] not in text
    assert created["client_id"] in text and "billing" in text


@pytest.mark.parametrize("group", ["users", "clients", "api-keys"])
def test_lists_of_a_tenant_without_any(app, make, group):
    make.tenant("empty")

    assert json.loads(run(app, group, "list", "--tenant", "empty", "--json").output) == []
    assert run(app, group, "list", "--tenant", "empty").output.startswith("no ")


def test_tenants_list_without_tenants(app):
    assert json.loads(run(app, "tenants", "list", "--json").output) == []
    assert run(app, "tenants", "list").output == "no tenants\n"


# --- errors: one line, non-zero ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["nope"], 2, "Error: No such command 'nope'. (see 'outter-auth --help')"),
        (["users", "list"], 2, "Error: Missing option '--tenant'. (see 'outter-auth users list --help')"),
        (
            ["tenants", "list", "--colour"],
            2,
            "Error: No such option '--colour'. (see 'outter-auth tenants list --help')",
        ),
        (["users", "list", "--tenant", "nope"], 1, "Error: no tenant 'nope'"),
        (["users", "create", "not-an-email", "--tenant", "acme"], 1, "Error: email: Not a valid email address."),
        (["api-keys", "revoke", "key_nope", "--tenant", "acme"], 1, "Error: API key not found"),
    ],
)
def test_errors_are_one_line_with_a_non_zero_status(outter_auth, owner, args, status, expected):
    result = outter_auth(*args)

    assert result.exit_code == status
    assert result.stdout == ""
    assert result.stderr == expected + "\n"


def test_a_database_without_tables_is_one_line_too(tmp_path, monkeypatch):
    monkeypatch.setenv("OUTTER_ENV", "testing")
    monkeypatch.setenv("OUTTER_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    monkeypatch.setenv("OUTTER_KEYS_DIR", str(tmp_path / "keys"))

    result = CliRunner().invoke(cli, ["tenants", "list"])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: the database refused: no such table: tenants")
    assert "outter-auth db upgrade" in result.stderr and result.stderr.count("\n") == 1
