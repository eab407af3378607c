"""Command line (SPEC §10): thin click commands over the services.

``outter-auth`` is a Flask CLI group bound to the factory; ``db`` comes from
Flask-Migrate. Commands that print a result accept ``--json``.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any, NoReturn

import click
from flask import Flask
from flask.cli import FlaskGroup, with_appcontext

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services import api_keys, audit, clients, lockout, sessions, signing_key_admin, tenancy, users
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import DomainError
from outter_auth.services.grant_types import GRANT_TYPES
from outter_auth.services.signing_keys import SigningKeyError, kong_declarative_config

json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


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


cli = FlaskGroup(create_app=_cli_app, help="Outter Auth: API keys, JWTs and sessions for Outter.")


def _emit(data: dict[str, Any] | list[dict[str, Any]], as_json: bool, text: str) -> None:
    click.echo(json.dumps(data, indent=2, default=str) if as_json else text)


def _fail(error: Exception) -> NoReturn:
    raise click.ClickException(str(error))


OPERATOR = "cli"  # the actor of the operator's commands in the audit trail


def _operator(tenant_id: str) -> Caller:
    """The operator acting on a tenant: unbounded (SPEC §3 binds credentials, not the operator)."""
    return Caller(tenant_id, OPERATOR)


# -- signing keys ------------------------------------------------------------------

keys_cli = click.Group("keys", help="Signing keys (RSA, published in the JWKS).")


@keys_cli.command("generate")
@json_option
@with_appcontext
def keys_generate(as_json: bool) -> None:
    """Create the first signing key, active at once."""
    try:
        record = runtime().keystore.generate()
    except SigningKeyError as error:
        _fail(error)
    assert record is not None
    _emit({"kid": record.kid, "status": "active"}, as_json, f"generated signing key {record.kid} (active)")


def _publish_for() -> timedelta:
    return timedelta(seconds=runtime().settings.jwks_max_age)


@keys_cli.command("rotate")
@json_option
@with_appcontext
def keys_rotate(as_json: bool) -> None:
    """Publish a new key; it signs once it has been in the JWKS for OUTTER_JWKS_MAX_AGE."""
    try:
        record = signing_key_admin.rotate(db.session, runtime().keystore, publish_for=_publish_for(), actor=OPERATOR)
    except SigningKeyError as error:
        _fail(error)
    _emit(
        {"kid": record.kid, "status": "pending", "activates_at": record.activates_at.isoformat()},
        as_json,
        f"published signing key {record.kid}; it signs from {record.activates_at.isoformat()}\n"
        "update gateways that cannot read the JWKS now: outter-auth keys kong-config",
    )


# A kid is an RFC 7638 thumbprint (base64url), so one in 64 begins with "-": let such a
# kid through as the argument instead of failing as an unknown option.
KID_ARGUMENT_SETTINGS = {"ignore_unknown_options": True}


@keys_cli.command("activate", context_settings=KID_ARGUMENT_SETTINGS)
@click.argument("kid")
@click.option("--now", "at_once", is_flag=True, help="Sign with it at once (emergencies: caches may lag).")
@json_option
@with_appcontext
def keys_activate(kid: str, at_once: bool, as_json: bool) -> None:
    """Bring a pending key forward (as soon as it is safe, or --now)."""
    try:
        record = signing_key_admin.activate(
            db.session, runtime().keystore, kid, now=at_once, publish_for=_publish_for(), actor=OPERATOR
        )
    except SigningKeyError as error:
        _fail(error)
    _emit(
        {"kid": kid, "activates_at": record.activates_at.isoformat()},
        as_json,
        f"signing key {kid} signs from {record.activates_at.isoformat()}",
    )


@keys_cli.command("retire", context_settings=KID_ARGUMENT_SETTINGS)
@click.argument("kid")
@json_option
@with_appcontext
def keys_retire(kid: str, as_json: bool) -> None:
    """Stop a key from signing; it stays in the JWKS until its tokens expired."""
    try:
        record = signing_key_admin.retire(db.session, runtime().keystore, kid, actor=OPERATOR)
    except SigningKeyError as error:
        _fail(error)
    _emit(
        {"kid": kid, "retired_at": record.retired_at.isoformat() if record.retired_at else None},
        as_json,
        f"retired signing key {kid}",
    )


@keys_cli.command("revoke", context_settings=KID_ARGUMENT_SETTINGS)
@click.argument("kid")
@json_option
@with_appcontext
def keys_revoke(kid: str, as_json: bool) -> None:
    """Withdraw a compromised key at once: unpublished, every token it signed refused."""
    try:
        record = signing_key_admin.revoke(db.session, runtime().keystore, kid, actor=OPERATOR)
    except SigningKeyError as error:
        _fail(error)
    revoked_at = record.revoked_at.isoformat() if record.revoked_at else None
    _emit(
        {"kid": kid, "revoked_at": revoked_at},
        as_json,
        f"revoked signing key {kid}: unpublished, and its tokens are refused\n"
        "update gateways that cannot read the JWKS now: outter-auth keys kong-config",
    )


@keys_cli.command("kong-config")
@with_appcontext
def keys_kong_config() -> None:
    """Print Kong declarative config: one jwt credential per published kid."""
    click.echo(kong_declarative_config(runtime().keystore.reload(force=True)), nl=False)


@keys_cli.command("list")
@json_option
@with_appcontext
def keys_list(as_json: bool) -> None:
    """List signing keys and their lifecycle state."""
    states = runtime().keystore.reload(force=True).states()
    rows = [
        {
            "kid": s.record.kid,
            "status": s.status,
            "published": s.published,
            "created_at": s.record.created_at.isoformat(),
            "activates_at": s.record.activates_at.isoformat(),
            "retired_at": s.retired_since.isoformat() if s.retired_since else None,
        }
        for s in states
    ]
    lines = [f"{r['kid']}  {r['status']:<8} activates {r['activates_at']}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) or "no signing keys")


# -- tenants and users ---------------------------------------------------------------

tenants_cli = click.Group("tenants", help="Tenants (Outter accounts).")


@tenants_cli.command("create")
@click.argument("slug")
@click.option("--name", help="Display name (defaults to the slug).")
@json_option
@with_appcontext
def tenants_create(slug: str, name: str | None, as_json: bool) -> None:
    """Create a tenant."""
    try:
        tenant = tenancy.create_tenant(db.session, slug, name)
    except DomainError as error:
        _fail(error)
    _emit(
        {"id": tenant.id, "slug": tenant.slug, "name": tenant.name},
        as_json,
        f"created tenant {tenant.slug} ({tenant.id})",
    )


clients_cli = click.Group("clients", help="OAuth clients.")


@clients_cli.command("create")
@click.argument("name")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option(
    "--grant-type",
    "grant_types",
    multiple=True,
    required=True,
    type=click.Choice(list(GRANT_TYPES)),
)
@click.option("--scope", "scope", default="", help='Space-separated scopes, e.g. "content:generate".')
@click.option("--first-party", is_flag=True, help="Trusted app of ours: may use the password grant.")
@click.option("--public", is_flag=True, help="No secret (apps that cannot keep one).")
@json_option
@with_appcontext
def clients_create(
    name: str,
    tenant_ref: str,
    grant_types: tuple[str, ...],
    scope: str,
    first_party: bool,
    public: bool,
    as_json: bool,
) -> None:
    """Register an OAuth client; prints client_id and, once, client_secret."""
    tenant = tenancy.find_tenant(db.session, tenant_ref)
    if tenant is None:
        _fail(click.ClickException(f"no tenant {tenant_ref!r}"))
    settings = runtime().settings
    draft = clients.ClientDraft(name, grant_types, scope.split(), public=public, first_party=first_party)
    try:
        client, secret = clients.create_client(
            db.session, _operator(tenant.id), draft, pepper=settings.api_key_pepper, catalogue=settings.scopes
        )
    except DomainError as error:
        _fail(error)
    text = f"client_id: {client.id}" + (f"\nclient_secret: {secret}  (shown once)" if secret else "")
    _emit({"client_id": client.id, "client_secret": secret}, as_json, text)


api_keys_cli = click.Group("api-keys", help="API keys (bootstrap and scripts).")


def _tenant_or_fail(tenant_ref: str) -> Any:
    tenant = tenancy.find_tenant(db.session, tenant_ref)
    if tenant is None:
        _fail(click.ClickException(f"no tenant {tenant_ref!r}"))
    return tenant


@api_keys_cli.command("create")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--name", required=True)
@click.option("--scope", "scopes", multiple=True, help="A scope; repeat for several.")
@click.option("--environment", type=click.Choice(["live", "test"]), default="live", show_default=True)
@click.option("--project", "project_ref", help="Bind the key to one project (slug or id).")
@json_option
@with_appcontext
def api_keys_create(
    tenant_ref: str, name: str, scopes: tuple[str, ...], environment: str, project_ref: str | None, as_json: bool
) -> None:
    """Create an API key; prints it once."""
    tenant = _tenant_or_fail(tenant_ref)
    project_id = None
    if project_ref:
        project = tenancy.find_project(db.session, tenant.id, project_ref)
        if project is None:
            _fail(click.ClickException(f"no project {project_ref!r} in {tenant.slug}"))
        project_id = project.id
    state = runtime()
    draft = api_keys.KeyDraft(name, list(scopes), environment, project_id)
    try:
        key, raw = api_keys.create_key(
            db.session, _operator(tenant.id), draft, peppers=state.peppers, catalogue=state.settings.scopes
        )
    except DomainError as error:
        _fail(error)
    _emit({**_key_fields(key), "key": raw}, as_json, f"{raw}\n(shown once; id {key.id})")


@api_keys_cli.command("list")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--include-revoked", is_flag=True)
@json_option
@with_appcontext
def api_keys_list(tenant_ref: str, include_revoked: bool, as_json: bool) -> None:
    """List a tenant's API keys (never the keys themselves)."""
    tenant = _tenant_or_fail(tenant_ref)
    keys = list(db.session.scalars(api_keys.keys_query(_operator(tenant.id), include_revoked=include_revoked)))
    rows = [_key_fields(k) for k in keys]
    lines = [f"{r['id']}  {r['prefix']}…{r['last4']}  {r['environment']}  {r['name']}" for r in rows]
    _emit(rows, as_json, "\n".join(lines) or "no API keys")


@api_keys_cli.command("revoke")
@click.argument("key_id")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@json_option
@with_appcontext
def api_keys_revoke(key_id: str, tenant_ref: str, as_json: bool) -> None:
    """Revoke an API key at once."""
    tenant = _tenant_or_fail(tenant_ref)
    try:
        key = api_keys.revoke_key(db.session, _operator(tenant.id), key_id)
    except DomainError as error:
        _fail(error)
    _emit(_key_fields(key), as_json, f"revoked {key.id}")


def _key_fields(key: Any) -> dict[str, Any]:
    from outter_auth.schemas.api_keys import ApiKeySchema

    return dict(ApiKeySchema().dump(key))


users_cli = click.Group("users", help="Users and their memberships.")


@users_cli.command("create")
@click.argument("email")
@click.option("--tenant", "tenant_ref", required=True, help="Tenant slug or id.")
@click.option("--role", type=click.Choice(["owner", "admin", "member"]), default="member", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@json_option
@with_appcontext
def users_create(email: str, tenant_ref: str, role: str, password_stdin: bool, as_json: bool) -> None:
    """Create a user in a tenant (or add an existing user to it)."""
    tenant = tenancy.find_tenant(db.session, tenant_ref)
    if tenant is None:
        _fail(click.ClickException(f"no tenant {tenant_ref!r}"))
    assert tenant is not None
    existing = users.find_user(db.session, email)
    password = None
    if existing is None:
        password = _read_password(password_stdin)
    try:
        membership = users.create_member(
            db.session, _operator(tenant.id), email, password, role, runtime().settings.bcrypt_rounds
        )
    except DomainError as error:
        _fail(error)
    result = {"id": membership.user_id, "email": membership.user.email, "tenant_id": tenant.id, "role": role}
    _emit(result, as_json, f"created {role} {membership.user.email} ({membership.user_id}) in {tenant.slug}")


@users_cli.command("unlock")
@click.argument("email")
@json_option
@with_appcontext
def users_unlock(email: str, as_json: bool) -> None:
    """Lift a login lockout of EMAIL (known or not) and forget its failed logins."""
    normalized = users.unlock_email(db.session, email, actor_id=OPERATOR)
    _emit({"email": normalized, "unlocked": True}, as_json, f"unlocked {normalized}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on standard input")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


audit_cli = click.Group("audit", help="The audit trail.")


@audit_cli.command("prune")
@click.option("--older-than-days", type=click.IntRange(min=1), help="Default: OUTTER_AUDIT_RETENTION_DAYS.")
@json_option
@with_appcontext
def audit_prune(older_than_days: int | None, as_json: bool) -> None:
    """Delete audit events past retention, revoked-token records past their expiry and
    failed-login counters that neither lock nor count any more."""
    days = older_than_days or runtime().settings.audit_retention_days
    events = audit.prune(db.session, clock.now() - timedelta(days=days))
    jtis = sessions.prune_revoked_access_tokens(db.session)
    failures = lockout.prune(db.session, clock.now())
    _emit(
        {"audit_events": events, "revoked_access_tokens": jtis, "login_failures": failures},
        as_json,
        f"pruned {events} audit events older than {days} days, {jtis} expired revoked-token records "
        f"and {failures} stale failed-login counters",
    )


def register_cli(app: Flask) -> None:
    for group in (keys_cli, tenants_cli, users_cli, clients_cli, api_keys_cli, audit_cli):
        app.cli.add_command(group)


def main() -> None:
    cli()
