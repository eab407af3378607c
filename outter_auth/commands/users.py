"""``outter-auth users``: users and their memberships in tenants."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import with_appcontext

from outter_auth.commands import (
    OPERATOR,
    emit,
    emit_rows,
    fail,
    json_option,
    operator,
    tenant_option,
    tenant_or_fail,
    validated,
)
from outter_auth.extensions import db
from outter_auth.models import ROLES
from outter_auth.runtime import runtime
from outter_auth.schemas.sessions import LoginSchema
from outter_auth.schemas.users import MemberCreateSchema, MemberSchema
from outter_auth.services import users
from outter_auth.services.exceptions import DomainError

users_cli = click.Group("users", help="Manage users and their roles in tenants.")
OPTIONS = {"role": "--role"}


@users_cli.command("create")
@click.argument("email")
@tenant_option
@click.option("--role", help=f"{', '.join(ROLES[:-1])} or {ROLES[-1]} (default: member).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (else: a prompt).")
@json_option
@with_appcontext
def users_create(email: str, tenant_ref: str, role: str | None, password_stdin: bool, as_json: bool) -> None:
    """Add EMAIL to a tenant (a new user gets a password).

    The password is asked for (or read with --password-stdin) only when nobody has the
    email yet; an existing user keeps their own.
    """
    given: dict[str, Any] = {"email": email} if role is None else {"email": email, "role": role}
    body = validated(MemberCreateSchema(), given, OPTIONS, partial=("password",))  # before a password is typed
    tenant = tenant_or_fail(tenant_ref)
    password = None
    if users.find_user(db.session, body["email"]) is None:
        body = validated(MemberCreateSchema(), {**given, "password": _read_password(password_stdin)}, OPTIONS)
        password = body["password"]
    try:
        membership = users.create_member(
            db.session, operator(tenant.id), body["email"], password, body["role"], runtime().settings.bcrypt_rounds
        )
    except DomainError as error:
        fail(error)
    result = {**MemberSchema().dump(membership), "tenant_id": tenant.id}
    emit(result, as_json, f"created {membership.role} {result['email']} ({result['id']}) in {tenant.slug}")


@users_cli.command("list")
@tenant_option
@json_option
@with_appcontext
def users_list(tenant_ref: str, as_json: bool) -> None:
    """List a tenant's users and their roles."""
    tenant = tenant_or_fail(tenant_ref)
    members = db.session.scalars(users.members_query(tenant.id)).unique()
    rows = MemberSchema(many=True).dump(members)
    emit_rows(rows, as_json, ("id", "email", "role", "is_active", "created_at"), "no users")


@users_cli.command("unlock")
@click.argument("email")
@json_option
@with_appcontext
def users_unlock(email: str, as_json: bool) -> None:
    """Lift the login lockouts of EMAIL.

    Both kinds: from each address, and account-wide; EMAIL need not belong to anybody
    (unknown emails lock alike).
    """
    checked = validated(LoginSchema(), {"email": email}, partial=("password",))
    normalized = users.unlock_email(db.session, checked["email"], actor_id=OPERATOR)
    emit({"email": normalized, "unlocked": True}, as_json, f"unlocked {normalized}")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            fail("no password on standard input")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
