"""``outter-auth tenants``: Outter accounts."""

from __future__ import annotations

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from outter_auth.commands import emit, emit_rows, fail, json_option, validated
from outter_auth.extensions import db
from outter_auth.models import Tenant
from outter_auth.schemas.tenancy import TenantCreateSchema, TenantSchema
from outter_auth.services import tenancy
from outter_auth.services.exceptions import DomainError

tenants_cli = click.Group("tenants", help="Manage tenants (Outter accounts).")


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (default: the slug).")
@json_option
@with_appcontext
def tenants_create(slug: str, name: str | None, as_json: bool) -> None:
    """Create a tenant with the URL-safe SLUG (a-z, 0-9 and '-')."""
    given = {"slug": slug} if name is None else {"slug": slug, "name": name}
    body = validated(TenantCreateSchema(), given, {"name": "--name"})
    try:
        tenant = tenancy.create_tenant(db.session, body["slug"], body["name"])
    except DomainError as error:
        fail(error)
    emit(TenantSchema().dump(tenant), as_json, f"created tenant {tenant.slug} ({tenant.id})")


@tenants_cli.command("list")
@json_option
@with_appcontext
def tenants_list(as_json: bool) -> None:
    """List every tenant, oldest first."""
    tenants = db.session.scalars(select(Tenant).order_by(Tenant.created_at, Tenant.id)).all()
    rows = TenantSchema(many=True).dump(tenants)
    emit_rows(rows, as_json, ("slug", "name", "id", "created_at"), "no tenants")
