"""``outter-auth clients``: OAuth clients of a tenant."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from outter_auth.commands import emit, emit_rows, fail, json_option, operator, tenant_option, tenant_or_fail, validated
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.schemas.clients import ClientSchema, OperatorClientCreateSchema
from outter_auth.services import clients
from outter_auth.services.exceptions import DomainError
from outter_auth.services.grant_types import GRANT_TYPES

clients_cli = click.Group("clients", help="Manage OAuth clients (apps that get tokens).")
COLUMNS = ("client_id", "name", "grant_types", "scopes", "public", "first_party")
OPTIONS = {
    "grant_types": "--grant-type",
    "scopes": "--scope",
    "redirect_uris": "--redirect-uri",
    "post_logout_redirect_uris": "--post-logout-redirect-uri",
    "public": "--public",
}


@clients_cli.command("create")
@click.argument("name")
@tenant_option
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    metavar="GRANT",
    help=f"A grant type the client may use ({', '.join(GRANT_TYPES)}); repeat for several.",
)
@click.option("--scope", "scopes", multiple=True, help='Scopes it may ask for, space-separated: "a b"; repeatable.')
@click.option(
    "--redirect-uri",
    "redirect_uris",
    multiple=True,
    help="Where a sign-in may return (authorization_code; matched exactly); repeat for several.",
)
@click.option(
    "--post-logout-redirect-uri",
    "post_logout_redirect_uris",
    multiple=True,
    help="Where logout may return (matched exactly); repeat for several.",
)
@click.option("--first-party", is_flag=True, help="A trusted app of ours: may use the password grant, asks no consent.")
@click.option("--public", is_flag=True, help="No secret (apps that cannot keep one).")
@json_option
@with_appcontext
def clients_create(
    name: str,
    tenant_ref: str,
    grant_types: tuple[str, ...],
    scopes: tuple[str, ...],
    redirect_uris: tuple[str, ...],
    post_logout_redirect_uris: tuple[str, ...],
    first_party: bool,
    public: bool,
    as_json: bool,
) -> None:
    """Register the OAuth client NAME.

    Prints its client_id and, this once, its client_secret.
    """
    tenant = tenant_or_fail(tenant_ref)
    given = {
        "name": name,
        "scopes": [scope for value in scopes for scope in value.split()],
        "redirect_uris": list(redirect_uris),
        "post_logout_redirect_uris": list(post_logout_redirect_uris),
        "public": public,
        "first_party": first_party,
    }
    if grant_types:
        given["grant_types"] = list(grant_types)
    body = validated(OperatorClientCreateSchema(), given, OPTIONS)
    settings = runtime().settings
    draft = clients.ClientDraft(
        body["name"],
        body["grant_types"],
        body["scopes"],
        public=body["public"],
        first_party=body["first_party"],
        redirect_uris=body["redirect_uris"],
        post_logout_redirect_uris=body["post_logout_redirect_uris"],
    )
    try:
        client, secret = clients.create_client(
            db.session, operator(tenant.id), draft, pepper=settings.api_key_pepper, catalogue=settings.scopes
        )
    except DomainError as error:
        fail(error)
    text = f"client_id: {client.id}" + (f"\nclient_secret: {secret}  (shown once)" if secret else "")
    emit({"client_id": client.id, "client_secret": secret}, as_json, text)


@clients_cli.command("list")
@tenant_option
@json_option
@with_appcontext
def clients_list(tenant_ref: str, as_json: bool) -> None:
    """List a tenant's OAuth clients (never their secrets)."""
    tenant = tenant_or_fail(tenant_ref)
    rows = ClientSchema(many=True).dump(db.session.scalars(clients.clients_query(operator(tenant.id))))
    emit_rows(rows, as_json, COLUMNS, "no OAuth clients")
