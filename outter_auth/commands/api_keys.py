"""``outter-auth api-keys``: API keys of a tenant (bootstrap and scripts)."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import with_appcontext

from outter_auth.commands import emit, emit_rows, fail, json_option, operator, tenant_option, tenant_or_fail, validated
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.runtime import runtime
from outter_auth.schemas.api_keys import ApiKeyCreateSchema, ApiKeySchema
from outter_auth.services import api_keys, tenancy
from outter_auth.services.api_key_format import ENVIRONMENTS
from outter_auth.services.exceptions import DomainError

api_keys_cli = click.Group("api-keys", help="Manage API keys (checked by the gateway).")
OPTIONS = {"name": "--name", "scopes": "--scope", "environment": "--environment", "project_id": "--project"}
COLUMNS = ("id", "name", "prefix", "last4", "environment", "scopes", "expires_at", "revoked_at")


@api_keys_cli.command("create")
@tenant_option
@click.option("--name", help='What the key is for, e.g. "billing service".')
@click.option("--scope", "scopes", multiple=True, help="A scope the key holds; repeat for several.")
@click.option("--no-scopes", is_flag=True, help="A key that holds no scope (it only says who calls).")
@click.option("--environment", help=f"{' or '.join(ENVIRONMENTS)} (default: live).")
@click.option("--project", "project_ref", metavar="PROJECT", help="Bind the key to one project (slug or id).")
@json_option
@with_appcontext
def api_keys_create(
    tenant_ref: str,
    name: str | None,
    scopes: tuple[str, ...],
    no_scopes: bool,
    environment: str | None,
    project_ref: str | None,
    as_json: bool,
) -> None:
    """Create an API key; prints it once.

    As in the API, the scopes must be given: --scope S for each, or --no-scopes for a key
    that holds none (the API's "scopes": []).
    """
    if scopes and no_scopes:
        raise click.UsageError("give --scope or --no-scopes, not both")
    tenant = tenant_or_fail(tenant_ref)
    project_id = _project_id(tenant.id, project_ref)
    given: dict[str, Any] = {"name": name, "environment": environment, "project_id": project_id}
    given = {field: value for field, value in given.items() if value is not None}
    if scopes or no_scopes:
        given["scopes"] = list(scopes)
    body = validated(ApiKeyCreateSchema(), given, OPTIONS)
    state = runtime()
    draft = api_keys.KeyDraft(body["name"], body["scopes"], body["environment"], body["project_id"])
    try:
        key, raw = api_keys.create_key(
            db.session, operator(tenant.id), draft, peppers=state.peppers, catalogue=state.settings.scopes
        )
    except DomainError as error:
        fail(error)
    emit({**_fields(key), "key": raw}, as_json, f"{raw}\n(shown once; id {key.id})")


def _project_id(tenant_id: str, ref: str | None) -> str | None:
    """A project slug as its id; anything else goes to the API's checks as it is."""
    if ref is None:
        return None
    project = tenancy.find_project(db.session, tenant_id, ref)
    return project.id if project is not None else ref


@api_keys_cli.command("list")
@tenant_option
@click.option("--include-revoked", is_flag=True, help="Revoked keys too.")
@json_option
@with_appcontext
def api_keys_list(tenant_ref: str, include_revoked: bool, as_json: bool) -> None:
    """List a tenant's API keys (never the keys themselves)."""
    tenant = tenant_or_fail(tenant_ref)
    keys = db.session.scalars(api_keys.keys_query(operator(tenant.id), include_revoked=include_revoked))
    emit_rows([_fields(key) for key in keys], as_json, COLUMNS, "no API keys")


@api_keys_cli.command("revoke")
@click.argument("key_id")
@tenant_option
@json_option
@with_appcontext
def api_keys_revoke(key_id: str, tenant_ref: str, as_json: bool) -> None:
    """Revoke the API key KEY_ID at once (the record stays)."""
    tenant = tenant_or_fail(tenant_ref)
    try:
        key = api_keys.revoke_key(db.session, operator(tenant.id), key_id)
    except DomainError as error:
        fail(error)
    emit(_fields(key), as_json, f"revoked {key.id}")


def _fields(key: ApiKey) -> dict[str, Any]:
    return dict(ApiKeySchema().dump(key))
