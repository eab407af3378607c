"""Users of the tenant (SPEC §12): list, add with an initial password, change role,
deactivate and reactivate, lift a login lockout.

Each action is the REST API's (``api/users.py``): the same schema, the same
``services.users`` call, so its rules (only owners make or change owners, the last active
owner stays, nobody deactivates themselves), audit events and messages are the API's.
"""

from __future__ import annotations

from flask import Response, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired

from outter_auth.auth import current_caller, current_principal
from outter_auth.console import refusals
from outter_auth.console.access import signed_in
from outter_auth.console.blueprint import blp
from outter_auth.console.forms import ActionForm
from outter_auth.console.render import done, page
from outter_auth.extensions import db
from outter_auth.models import Membership
from outter_auth.runtime import runtime
from outter_auth.schemas.users import MemberCreateSchema, MemberUpdateSchema
from outter_auth.services import users
from outter_auth.services.exceptions import Conflict, DomainError
from outter_auth.services.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS

ROLE_CHOICES = [SelectChoice("member", "Member"), SelectChoice("admin", "Admin"), SelectChoice("owner", "Owner")]
ROLE_HINT = (
    "A member sees only their own account. An admin manages API keys, projects, users and clients. "
    "An owner does too, and manages owners."
)


class NewUserForm(FlaskForm):  # type: ignore[misc]
    email = StringField("Email address", validators=[InputRequired("Enter the user's email address.")])
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")
    password = PasswordField("Initial password", validators=[InputRequired("Enter an initial password.")])


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField("Role", choices=ROLE_CHOICES)


def status_of(membership: Membership, locked: set[str]) -> str:
    """What the list says of a user: deactivated (here or on the whole platform), locked
    out of logging in (for a while, or until an unlock), or active."""
    if not membership.is_active or not membership.user.is_active:
        return "deactivated"
    return "locked" if membership.user_id in locked else "active"


@blp.get("/users", endpoint="users")
@signed_in()
def users_list() -> Response:
    tenant_id = current_principal.tenant_id
    members = list(db.session.scalars(users.members_query(tenant_id)).unique())
    locked = users.locked_user_ids(db.session, members)
    last = users.last_sign_ins(db.session, tenant_id, [m.user_id for m in members])
    rows = [(m, status_of(m, locked), last.get(m.user_id)) for m in members]
    return page("console/users.html", rows=rows, action_form=ActionForm(), me=current_principal.id)


@blp.route("/users/new", methods=["GET", "POST"], endpoint="users_new")
@signed_in()
def users_new() -> Response:
    form = NewUserForm()
    if request.method == "GET":
        return _new(form)
    if not form.validate_on_submit():
        return refusals.expired() if refusals.csrf_failed(form) else _new(form, refusals.UNPROCESSABLE)
    data = {"email": form.email.data, "password": form.password.data, "role": form.role.data}
    body = refusals.load(MemberCreateSchema(), form, data)
    if body is None:
        return _new(form, refusals.UNPROCESSABLE)
    try:
        rounds = runtime().settings.bcrypt_rounds
        membership = users.create_member(
            db.session, current_caller(), body["email"], body["password"], body["role"], rounds
        )
    except DomainError as error:
        return _new(form, refusals.refuse(form, error, "email" if isinstance(error, Conflict) else None))
    # The same words whether the email was new or known in another organisation (as the API
    # answers both alike): an existing user keeps their own password.
    done(
        f"{membership.user.email} was added as {_a(membership.role)}. They sign in with the initial password "
        "you set, or with their own if they already had an Outter account."
    )
    return redirect(url_for(".users"))


@blp.route("/users/<user_id>/role", methods=["GET", "POST"], endpoint="users_role")
@signed_in()
def users_role(user_id: str) -> Response:
    membership = users.get_member(db.session, current_principal.tenant_id, user_id)  # NotFound: the 404 page
    form = RoleForm(data={"role": membership.role} if request.method == "GET" else None)
    if request.method == "GET":
        return _role(form, membership)
    if not form.validate_on_submit():
        return refusals.expired() if refusals.csrf_failed(form) else _role(form, membership, refusals.UNPROCESSABLE)
    body = refusals.load(MemberUpdateSchema(), form, {"role": form.role.data})
    if body is None:
        return _role(form, membership, refusals.UNPROCESSABLE)
    before = membership.role
    try:
        membership = users.update_member(db.session, current_caller(), user_id, role=body["role"])
    except DomainError as error:
        db.session.rollback()
        status = refusals.refuse(form, error, "role")
        return _role(form, users.get_member(db.session, current_principal.tenant_id, user_id), status)
    if before == membership.role:
        done(f"{membership.user.email} stays {_a(membership.role)}: nothing changed.")
    else:
        done(f"{membership.user.email} is now {_a(membership.role)} (was {_a(before)}). It counts at once.")
    return redirect(url_for(".users"))


@blp.route("/users/<user_id>/deactivate", methods=["GET", "POST"], endpoint="users_deactivate")
@signed_in()
def users_deactivate(user_id: str) -> Response:
    membership = users.get_member(db.session, current_principal.tenant_id, user_id)
    form = ActionForm()
    if request.method == "GET":
        return _deactivate(form, membership)
    if not form.validate_on_submit():
        return refusals.expired()
    try:
        membership = users.update_member(db.session, current_caller(), user_id, is_active=False)
    except DomainError as error:
        db.session.rollback()
        refusals.add_error(form, None, refusals.sentence(str(error)))
        membership = users.get_member(db.session, current_principal.tenant_id, user_id)
        return _deactivate(form, membership, refusals.status_of(error))
    done(
        f"{membership.user.email} was deactivated: they can no longer sign in to this organisation, "
        "and what they signed in with here stops working at once."
    )
    return redirect(url_for(".users"))


@blp.post("/users/<user_id>/reactivate", endpoint="users_reactivate")
@signed_in()
def users_reactivate(user_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        return refusals.expired()
    membership = users.update_member(db.session, current_caller(), user_id, is_active=True)  # refusals: their pages
    done(f"{membership.user.email} was reactivated and can sign in again as {_a(membership.role)}.")
    return redirect(url_for(".users"))


@blp.post("/users/<user_id>/unlock", endpoint="users_unlock")
@signed_in()
def users_unlock(user_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        return refusals.expired()
    membership = users.unlock_member(db.session, current_caller(), user_id)
    done(f"{membership.user.email} was unlocked: they can sign in again now, with a fresh count of failed logins.")
    return redirect(url_for(".users"))


def _new(form: NewUserForm, status: int = 200) -> Response:
    hint = f"{MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes. Give it to them in a safe way."
    return page(
        "console/users_new.html",
        status,
        form=form,
        errors=refusals.summary(form),
        password_hint=hint,
        role_hint=ROLE_HINT,
    )


def _role(form: RoleForm, membership: Membership, status: int = 200) -> Response:
    return page(
        "console/users_role.html",
        status,
        form=form,
        membership=membership,
        errors=refusals.summary(form),
        role_hint=ROLE_HINT,
    )


def _deactivate(form: ActionForm, membership: Membership, status: int = 200) -> Response:
    return page(
        "console/users_deactivate.html", status, form=form, membership=membership, errors=refusals.summary(form)
    )


def _a(role: str) -> str:
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"
