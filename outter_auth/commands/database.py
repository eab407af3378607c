"""``outter-auth db``: what an operator does with migrations, and nothing else.

Flask-Migrate's own group has a dozen commands, most of them for developers writing
migrations (``init``, ``revision``, ``migrate``, ``merge``, ``stamp``...): those stay on
``flask --app outter_auth.app:create_app db`` (README, development notes). The operator's
group reuses Flask-Migrate's commands as they are, less the options that point them at
another migrations folder or another env.py.
"""

from __future__ import annotations

import functools

import click
from flask import g
from flask.cli import with_appcontext
from flask_migrate import cli as migrate_cli

OPERATOR_COMMANDS = {
    "upgrade": "Apply the migrations up to REVISION (default: the latest).",
    "downgrade": "Revert the migrations down to REVISION (default: one step).",
    "current": "Show the revision the database is at.",
    "history": "List the migrations, newest first.",
    "check": "Fail when the models need a migration that does not exist yet.",
}
DEVELOPER_OPTIONS = {"directory", "x_arg", "tag"}  # another folder, env.py arguments


@click.group("db")
@with_appcontext
def db_cli() -> None:
    """Apply and inspect database migrations."""
    g.directory, g.x_arg = None, ()  # what Flask-Migrate's commands read from their own group


def _operators(command: click.Command, help_text: str) -> click.Command:
    assert command.callback is not None
    dropped = {p.name: p.get_default(click.Context(command)) for p in command.params if p.name in DEVELOPER_OPTIONS}
    return click.Command(
        command.name,
        callback=functools.partial(command.callback, **dropped),
        params=[p for p in command.params if p.name not in DEVELOPER_OPTIONS],
        help=help_text,
        short_help=help_text,
    )


for _name, _help in OPERATOR_COMMANDS.items():
    db_cli.add_command(_operators(getattr(migrate_cli, _name), _help))
