"""The operator's commands (SPEC §10), one module per resource, thin over the services.

Input goes through the REST API's own marshmallow schemas and then its services, so the
command line refuses exactly what the API refuses, with the API's messages (a field's
message is prefixed with the option or argument that carried it). Commands that print a
result accept ``--json``; lists print JSON arrays.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import click
from marshmallow import Schema, ValidationError

from outter_auth.extensions import db
from outter_auth.models import Tenant
from outter_auth.services import tenancy
from outter_auth.services.ceilings import Caller

OPERATOR = "cli"  # the actor of the operator's commands in the audit trail

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
tenant_option = click.option("--tenant", "tenant_ref", required=True, metavar="SLUG", help="The tenant (slug or id).")


def emit(data: Mapping[str, Any] | list[Mapping[str, Any]], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def emit_rows(rows: list[Mapping[str, Any]], as_json: bool, columns: Iterable[str], none: str) -> None:
    """A list: a JSON array, or one aligned line per row under a header."""
    if as_json or not rows:
        emit(rows, as_json, none)
        return
    names = list(columns)
    table = [[name.upper() for name in names]] + [[_cell(row.get(name)) for name in names] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(names))]
    for line in table:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return " ".join(map(str, value)) or "-"
    return str(value)


def fail(error: Exception | str) -> NoReturn:
    """One line on standard error, ``Error: ...``, exit status 1."""
    raise click.ClickException(str(error))


def operator(tenant_id: str) -> Caller:
    """The operator acting on a tenant: unbounded (SPEC §3 binds credentials, not the operator)."""
    return Caller(tenant_id, OPERATOR)


def tenant_or_fail(tenant_ref: str) -> Tenant:
    tenant = tenancy.find_tenant(db.session, tenant_ref)
    if tenant is None:
        fail(f"no tenant {tenant_ref!r}")
    return tenant


def validated(
    schema: Schema, data: Mapping[str, Any], options: Mapping[str, str] | None = None, partial: tuple[str, ...] = ()
) -> dict[str, Any]:
    """``data`` loaded by the REST API's schema: its rules and its messages. ``options`` names
    the option or argument that carried each field (``{"scopes": "--scope"}``)."""
    try:
        loaded: dict[str, Any] = schema.load(data, partial=partial)
    except ValidationError as error:
        fail(_one_line(error.normalized_messages(), options or {}))
    return loaded


def _one_line(messages: Mapping[str, Any], options: Mapping[str, str]) -> str:
    """``{"scopes": {0: ["Invalid."]}}`` as ``--scope (scopes[0]): Invalid.``; fields joined by "; "."""
    parts = []
    for field, value in messages.items():
        items = value.items() if isinstance(value, dict) else [(None, value)]  # a list field: by index
        for index, texts in items:
            label = field if index is None else f"{field}[{index}]"
            if field in options:
                label = f"{options[field]} ({label})"
            text = " ".join(map(str, texts)) if isinstance(texts, list) else str(texts)
            parts.append(text if field == "_schema" else f"{label}: {text}")
    return "; ".join(parts)
