"""The ``outter-auth`` command (SPEC §10): a Flask CLI group bound to the app factory that
offers our commands only (``outter_auth/commands/``), reads like a product's and fails in
one line.

Flask's ``FlaskGroup`` brings options for people developing Flask apps (``-A/--app``,
``-e/--env-file``, ``--debug``, a ``--version`` printing Flask's versions) and loads
``flask.commands`` plugins; :class:`OutterGroup` keeps its app loading (``ScriptInfo``,
``with_appcontext``) and drops the rest. ``flask --app outter_auth.app:create_app ...``
still sees every command, with Flask-Migrate's whole ``db`` group for developers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from click.exceptions import NoArgsIsHelpError
from flask import Flask
from flask.cli import FlaskGroup, run_command
from sqlalchemy.exc import SQLAlchemyError

from outter_auth import __version__
from outter_auth.commands.api_keys import api_keys_cli
from outter_auth.commands.audit import audit_cli
from outter_auth.commands.clients import clients_cli
from outter_auth.commands.database import db_cli
from outter_auth.commands.keys import keys_cli
from outter_auth.commands.tenants import tenants_cli
from outter_auth.commands.users import users_cli

PROG = "outter-auth"
SECTIONS: tuple[tuple[str, tuple[click.Command, ...]], ...] = (
    ("Set up", (db_cli, keys_cli)),
    ("Manage accounts", (tenants_cli, users_cli, clients_cli, api_keys_cli)),
    ("Operate", (audit_cli, run_command)),
)
EXAMPLES = (
    "outter-auth db upgrade",
    'outter-auth tenants create acme --name "Acme Inc"',
    "outter-auth users create ann@acme.test --tenant acme --role owner",
    "outter-auth api-keys create --tenant acme --name billing --scope invoices:read",
)


def _cli_app() -> Flask:
    from outter_auth.app import create_app
    from outter_auth.config import ConfigError

    try:
        return create_app(serving=_starting_server())
    except ConfigError as error:
        sys.exit(f"outter-auth: refusing to start: {error}")


def _starting_server() -> bool:
    """True for ``outter-auth run``: only the development server's start may make a key."""
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name == "run"


class OutterGroup(FlaskGroup):
    """``FlaskGroup`` without Flask's own options and commands, with sections and examples
    in its help, and errors on one line."""

    def __init__(self, **extra: Any) -> None:
        super().__init__(
            add_default_commands=False, add_version_option=False, load_dotenv=False, set_debug_flag=False, **extra
        )
        # FlaskGroup always adds -e/--env-file, -A/--app and --debug: the app is ours, set by OUTTER_*.
        self.params = [param for param in self.params if param.name not in {"env_file", "app", "debug"}]
        version = click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
        version(self)
        for _, commands in SECTIONS:
            for command in commands:
                self.add_command(command)

    # Only our commands: neither flask.commands plugins nor the app's (loading it to list them).
    def _load_plugin_commands(self) -> None:
        self._loaded_plugin_commands = True

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self.commands.get(name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(self.commands)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self.format_usage(ctx, formatter)
        self.format_help_text(ctx, formatter)
        for title, commands in SECTIONS:
            rows = [(c.name or "", c.get_short_help_str(limit=formatter.width)) for c in commands]
            with formatter.section(title):
                formatter.write_dl(rows)
        with formatter.section("Examples"):
            for example in EXAMPLES:  # as they are: help text would re-wrap them
                formatter.write(f"{'':>{formatter.current_indent}}$ {example}\n")
        click.Command.format_options(self, ctx, formatter)
        formatter.write_paragraph()
        formatter.write_text(f"Run '{PROG} COMMAND --help' for more on a command.")

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Every error on one line, ``Error: ...``, with a non-zero exit status."""
        if not standalone_mode:
            return super().main(args, prog_name or PROG, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name or PROG, standalone_mode=False, **extra)
        except NoArgsIsHelpError as error:  # a bare "outter-auth" (or group): its help, as --help gives it
            click.echo(error.ctx.get_help() if error.ctx is not None else error.format_message())
            sys.exit(0)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
            _exit(f"{error.format_message()}{hint}", error.exit_code)
        except click.ClickException as error:
            _exit(error.format_message(), error.exit_code)
        except click.Abort:
            _exit("aborted", 1)
        except SQLAlchemyError as error:
            _exit(
                f"the database refused: {_first_line(error)} (is it reachable and upgraded? outter-auth db upgrade)", 1
            )
        sys.exit(result if isinstance(result, int) else 0)


def _first_line(error: SQLAlchemyError) -> str:
    return str(getattr(error, "orig", None) or error).strip().splitlines()[0]


def _exit(message: str, status: int) -> NoReturn:
    click.echo(f"Error: {' '.join(message.split())}", err=True)
    sys.exit(status)


cli = OutterGroup(
    name=PROG,
    create_app=_cli_app,
    help="Outter Auth: API keys, JWTs and sessions for the Outter platform.",
    subcommand_metavar="COMMAND [ARGS]...",
)


def register_cli(app: Flask) -> None:
    """Our commands on ``app.cli`` as well, for ``flask --app ...`` (beside Flask-Migrate's ``db``)."""
    for group in (keys_cli, tenants_cli, users_cli, clients_cli, api_keys_cli, audit_cli):
        app.cli.add_command(group)


def main() -> None:
    cli.main()
