"""OAuth clients of the tenant (SPEC §12, §11): list, register, change, rotate the secret,
delete. Every action is ``api/clients.py``'s: the same schemas load the input, the same
service functions act (ceilings, audit events, cache invalidation), and a refusal is shown
with the API's own message. A new secret is shown once, in the answer to the POST."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for
from marshmallow import ValidationError

from outter_auth.auth import current_caller, current_principal
from outter_auth.console.access import signed_in
from outter_auth.console.blueprint import blp
from outter_auth.console.client_forms import (
    FIELD_OF,
    ClientForm,
    NewClientForm,
    body_of,
    fill,
    grant_choices,
    load_changes,
    load_new,
    schema_errors,
    scope_choices,
)
from outter_auth.console.forms import ActionForm, SecretActionForm
from outter_auth.console.once import already_sent, mark_sent
from outter_auth.console.render import done, page, problem_page
from outter_auth.extensions import db
from outter_auth.models import OAuthClient
from outter_auth.runtime import runtime
from outter_auth.services import clients
from outter_auth.services.exceptions import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied

EXPIRED = (
    "The page was open too long, or the form was sent from somewhere else. Nothing was changed. Go back and try again."
)
# The API's status for each refusal (errors.py): the page answers with the same.
STATUS_OF = ((InvalidInput, 422), (Conflict, 409), (PermissionDenied, 403))
WHOLE_FORM = "_form"  # an error about no one field (the caller's ceiling)


@blp.get("/clients", endpoint="clients")
@signed_in()
def client_list() -> Response:
    rows = db.session.scalars(clients.clients_query(current_caller())).all()
    return page("console/clients.html", clients=rows)


@blp.route("/clients/new", methods=["GET", "POST"], endpoint="clients_new")
@signed_in()
def client_new() -> Response:
    form = NewClientForm()
    _choices(form)
    if request.method == "GET":
        form.fresh_token()
        return _form_page(form)
    if already_sent(form.once.data):
        return _sent_before()
    if not form.validate_on_submit():
        return _invalid(form)
    try:
        draft_body = load_new(form)
    except ValidationError as error:
        return _form_page(form, 422, schema_errors(error, body_of(form)))
    settings = runtime().settings
    draft = clients.ClientDraft(
        draft_body["name"],
        draft_body["grant_types"],
        draft_body["scopes"],
        draft_body["public"],
        redirect_uris=draft_body["redirect_uris"],
        post_logout_redirect_uris=draft_body["post_logout_redirect_uris"],
    )
    try:
        client, secret = clients.create_client(
            db.session, current_caller(), draft, pepper=settings.api_key_pepper, catalogue=settings.scopes
        )
    except NotFound:
        raise
    except DomainError as error:
        return _refused(form, error)
    mark_sent(form.once.data)
    if secret is None:
        done(f"Client “{client.name}” registered. It is public, so it has no secret.")
        return redirect(url_for(".clients"))
    return _secret_page(client, secret, rotated=False)


@blp.route("/clients/<id:client_id>/edit", methods=["GET", "POST"], endpoint="clients_edit")
@signed_in()
def client_edit(client_id: str) -> Response:
    client = clients.get_client(db.session, current_caller(), client_id)
    form = ClientForm()
    _choices(form, client)
    if request.method == "GET":
        fill(form, client)
        return _form_page(form, client=client)
    if not form.validate_on_submit():
        return _invalid(form, client)
    try:
        wanted = load_changes(form, client)
    except ValidationError as error:
        return _form_page(form, 422, schema_errors(error, body_of(form)), client=client)
    if not wanted:
        done(f"Nothing to save: “{client.name}” is as it was.")
        return redirect(url_for(".clients"))
    try:
        clients.update_client(db.session, current_caller(), client_id, wanted, catalogue=runtime().settings.scopes)
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        return _refused(form, error, client)
    done(f"Client “{client.name}” saved ({', '.join(_words(sorted(wanted)))} changed).")
    return redirect(url_for(".clients"))


@blp.route("/clients/<id:client_id>/rotate-secret", methods=["GET", "POST"], endpoint="clients_rotate")
@signed_in()
def client_rotate(client_id: str) -> Response:
    client = clients.get_client(db.session, current_caller(), client_id)
    if client.is_public:
        return problem_page(400, "Nothing to rotate", f"“{client.name}” is a public client: it has no secret.")
    form = SecretActionForm()
    if request.method == "GET":
        form.fresh_token()
        return _confirm(client, form, "rotate")
    if already_sent(form.once.data):
        return _sent_before()
    if not form.validate_on_submit():
        return _expired()
    client, secret = clients.rotate_secret(
        db.session, current_caller(), client_id, pepper=runtime().settings.api_key_pepper
    )
    mark_sent(form.once.data)
    return _secret_page(client, secret, rotated=True)


@blp.route("/clients/<id:client_id>/delete", methods=["GET", "POST"], endpoint="clients_delete")
@signed_in()
def client_delete(client_id: str) -> Response:
    client = clients.get_client(db.session, current_caller(), client_id)
    form = ActionForm()
    if request.method == "GET":
        return _confirm(client, form, "delete")
    if not form.validate_on_submit():
        return _expired()
    name = client.name
    clients.delete_client(db.session, current_caller(), client_id)
    done(f"Client “{name}” deleted. Its tokens are refused from now on.")
    return redirect(url_for(".clients"))


def _sent_before() -> Response:
    """A form sent again (a reload of the page that showed a secret): no second secret."""
    done(
        "That form was already sent: its secret was made then and was shown that once. Rotate it if it was not copied."
    )
    return redirect(url_for(".clients"))


def _secret_page(client: OAuthClient, secret: str, *, rotated: bool) -> Response:
    """The secret, this once: in the answer to the POST, never stored, never redirected to."""
    token_endpoint = f"{runtime().settings.issuer}/oauth/token"
    return page(
        "console/clients_secret.html", 201, client=client, secret=secret, rotated=rotated, token_endpoint=token_endpoint
    )


def _choices(form: ClientForm, client: OAuthClient | None = None) -> None:
    form.grant_types.choices = grant_choices(client.grant_types if client else ())
    form.scopes.choices = scope_choices(current_principal, runtime().settings.scopes, client.scopes if client else ())


def _form_page(
    form: ClientForm, status: int = 200, errors: list[tuple[str, str]] | None = None, client: OAuthClient | None = None
) -> Response:
    """The create or edit form; ``errors``: (form field, message), shown at the field and on top."""
    for name, message in errors or []:
        if name != WHOLE_FORM:
            field = getattr(form, name)
            field.errors = [*field.errors, _sentence(message)]
    summary = [(_sentence(message), _target(form, name)) for name, message in errors or []]
    return page(
        "console/clients_form.html",
        status,
        form=form,
        client=client,
        errors=summary,
        free_scopes=not runtime().settings.scopes,
    )


def _invalid(form: ClientForm, client: OAuthClient | None = None) -> Response:
    """WTForms said no: an expired form changes nothing; a missing name is shown at its field."""
    if form.csrf_token.errors:
        return _expired()
    errors = [(name, message) for name, messages in form.errors.items() for message in messages]
    for name, _messages in form.errors.items():
        getattr(form, name).errors = []  # shown once, by _form_page
    # And what the API's schema says of the rest, so that one submit shows every mistake.
    try:
        load_changes(form, client) if client else load_new(form)  # type: ignore[arg-type]
    except ValidationError as error:
        errors += [(name, message) for name, message in schema_errors(error, body_of(form)) if name not in form.errors]
    return _form_page(form, 422, errors, client)


def _refused(form: ClientForm, error: DomainError, client: OAuthClient | None = None) -> Response:
    """The service said no: its message, at the field it names, with the API's status."""
    status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 400)
    field = getattr(error, "field", None)
    return _form_page(form, status, [(_field_for(field), str(error))], client)


def _field_for(api_field: str | None) -> str:
    return FIELD_OF.get(api_field, WHOLE_FORM) if api_field else WHOLE_FORM


def _target(form: ClientForm, name: str) -> str | None:
    """The id an error links to: the field's (a group's first box), none for the whole form."""
    if name == WHOLE_FORM:
        return None
    field = getattr(form, name)
    return f"{field.id}-0" if name in ("grant_types", "scopes", "kind") else field.id


CONFIRMATIONS = {
    "rotate": (
        "Rotate the secret of “{name}”?",
        "A new secret is made and shown once. The current secret stops working at once: token requests "
        "that use it fail until the app has the new one.",
        "Rotate secret",
        ".clients_rotate",
    ),
    "delete": (
        "Delete “{name}”?",
        "The client is removed for good. Its access tokens are refused from now on and its users' sessions "
        "cannot be refreshed. This can't be undone.",
        "Delete client",
        ".clients_delete",
    ),
}


def _confirm(client: OAuthClient, form: ActionForm, action: str) -> Response:
    title, text, button, endpoint = CONFIRMATIONS[action]
    return page(
        "console/clients_confirm.html",
        client=client,
        form=form,
        title=title.format(name=client.name),
        text=text,
        button=button,
        target=url_for(endpoint, client_id=client.id),
    )


def _expired() -> Response:
    return problem_page(400, "This form has expired", EXPIRED, link=("Back to OAuth clients", url_for(".clients")))


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:]


def _words(fields: list[str]) -> list[str]:
    names: dict[str, Any] = {
        "name": "name",
        "grant_types": "grant types",
        "scopes": "scopes",
        "redirect_uris": "redirect URIs",
        "post_logout_redirect_uris": "post-logout redirect URIs",
    }
    return [names.get(field, field) for field in fields]
