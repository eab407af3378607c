"""``outter-auth keys``: the signing keys of JWTs (SPEC §5), pending → active → retired."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from outter_auth.commands import OPERATOR, emit, fail, json_option
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services import signing_key_admin
from outter_auth.services.signing_keys import SigningKeyError, kong_declarative_config

keys_cli = click.Group("keys", help="Manage the signing keys of JWTs (RSA, published in the JWKS).")


@keys_cli.command("generate")
@json_option
@with_appcontext
def keys_generate(as_json: bool) -> None:
    """Create the first signing key, active at once."""
    try:
        record = runtime().keystore.generate()
    except SigningKeyError as error:
        fail(error)
    assert record is not None
    emit({"kid": record.kid, "status": "active"}, as_json, f"generated signing key {record.kid} (active)")


def _publish_for() -> timedelta:
    return timedelta(seconds=runtime().settings.jwks_max_age)


@keys_cli.command("rotate")
@json_option
@with_appcontext
def keys_rotate(as_json: bool) -> None:
    """Publish a new key, which signs later.

    It signs once it has been in the JWKS for OUTTER_JWKS_MAX_AGE.
    """
    try:
        record = signing_key_admin.rotate(db.session, runtime().keystore, publish_for=_publish_for(), actor=OPERATOR)
    except SigningKeyError as error:
        fail(error)
    emit(
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
    """Bring a pending key forward.

    It signs as soon as that is safe (once published for OUTTER_JWKS_MAX_AGE), or at once
    with --now.
    """
    try:
        record = signing_key_admin.activate(
            db.session, runtime().keystore, kid, now=at_once, publish_for=_publish_for(), actor=OPERATOR
        )
    except SigningKeyError as error:
        fail(error)
    emit(
        {"kid": kid, "activates_at": record.activates_at.isoformat()},
        as_json,
        f"signing key {kid} signs from {record.activates_at.isoformat()}",
    )


@keys_cli.command("retire", context_settings=KID_ARGUMENT_SETTINGS)
@click.argument("kid")
@json_option
@with_appcontext
def keys_retire(kid: str, as_json: bool) -> None:
    """Stop a key from signing.

    It stays in the JWKS until the tokens it signed have expired.
    """
    try:
        record = signing_key_admin.retire(db.session, runtime().keystore, kid, actor=OPERATOR)
    except SigningKeyError as error:
        fail(error)
    emit(
        {"kid": kid, "retired_at": record.retired_at.isoformat() if record.retired_at else None},
        as_json,
        f"retired signing key {kid}",
    )


@keys_cli.command("revoke", context_settings=KID_ARGUMENT_SETTINGS)
@click.argument("kid")
@json_option
@with_appcontext
def keys_revoke(kid: str, as_json: bool) -> None:
    """Withdraw a compromised key at once.

    It leaves the JWKS, and every token it signed is refused.
    """
    try:
        record = signing_key_admin.revoke(db.session, runtime().keystore, kid, actor=OPERATOR)
    except SigningKeyError as error:
        fail(error)
    revoked_at = record.revoked_at.isoformat() if record.revoked_at else None
    emit(
        {"kid": kid, "revoked_at": revoked_at},
        as_json,
        f"revoked signing key {kid}: unpublished, and its tokens are refused\n"
        "update gateways that cannot read the JWKS now: outter-auth keys kong-config",
    )


@keys_cli.command("kong-config")
@with_appcontext
def keys_kong_config() -> None:
    """Print the keys as Kong declarative config.

    One jwt credential per published kid, for gateways that cannot read the JWKS.
    """
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
    emit(rows, as_json, "\n".join(lines) or "no signing keys")
