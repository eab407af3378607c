"""The OAuth client forms of the console, and how their answers become the REST API's body.

The forms only collect what a person types or ticks; the body they make is loaded with the
API's own schemas (``schemas.clients``) and then given to the same service, so a value is
refused here exactly when, and with the words, the API would refuse it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_wtf import FlaskForm
from marshmallow import ValidationError
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from outter_auth.console.once import SentOnce
from outter_auth.credentials import Principal
from outter_auth.models import OAuthClient
from outter_auth.schemas.clients import ADMIN_GRANTS, ClientCreateSchema, ClientUpdateSchema
from outter_auth.scopes import MANAGEMENT_SCOPE_DESCRIPTIONS, MANAGEMENT_SCOPES, OIDC_SCOPE_DESCRIPTIONS, OIDC_SCOPES
from outter_auth.services.grant_types import GRANT_TYPES

CONFIDENTIAL, PUBLIC = "confidential", "public"
# The fields of the API's body, and the form field each one's errors belong to.
FIELD_OF = {
    "name": "name",
    "grant_types": "grant_types",
    "scopes": "scopes",
    "public": "kind",
    "redirect_uris": "redirect_uris",
    "post_logout_redirect_uris": "post_logout_redirect_uris",
}
# What one item of a list field is called, to say which one is wrong.
ITEM_OF = {
    "grant_types": "Grant type",
    "scopes": "Scope",
    "redirect_uris": "Redirect URI",
    "post_logout_redirect_uris": "Post-logout redirect URI",
}
# The grants in a console's words (the registry's summaries are written for developers).
GRANT_WORDS = {
    "authorization_code": "Sign users in through the browser (with PKCE)",
    "refresh_token": "Keep users signed in with refresh tokens",
    "client_credentials": "Tokens for the app itself, with no user (servers, jobs)",
    "password": "A user's email and password (first-party clients only)",
}
EDITABLE = ("name", "grant_types", "scopes", "redirect_uris", "post_logout_redirect_uris")


class ClientForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[InputRequired("Give the client a name."), Length(max=200)])
    # Choices are not checked here: the API's schema and the service say what is allowed.
    grant_types = SelectMultipleField("Grant types", validate_choice=False)
    scopes = SelectMultipleField("Scopes", validate_choice=False)
    other_scopes = StringField("Other scopes")
    redirect_uris = TextAreaField("Redirect URIs")
    post_logout_redirect_uris = TextAreaField("Post-logout redirect URIs")


class NewClientForm(SentOnce, ClientForm):
    kind = RadioField(
        "Type",
        choices=[
            SelectChoice(CONFIDENTIAL, "Confidential: a server that can keep a secret"),
            SelectChoice(PUBLIC, "Public: a browser, mobile or desktop app, without a secret"),
        ],
        default=CONFIDENTIAL,
        validate_choice=False,
    )


def grant_choices(current: Iterable[str] = ()) -> list[SelectChoice]:
    """The grants an admin may give (the CLI makes first-party ones), and those a client has."""
    names = dict.fromkeys([*ADMIN_GRANTS, *current])
    return [SelectChoice(name, GRANT_WORDS.get(name) or _summary(name)) for name in names]


def _summary(name: str) -> str:
    return GRANT_TYPES[name].summary if name in GRANT_TYPES else name


def scope_choices(principal: Principal, catalogue: Iterable[str], current: Iterable[str] = ()) -> list[SelectChoice]:
    """The scopes to tick: the management scopes the caller holds (its ceiling, SPEC §3), the
    OpenID Connect ones, the platform catalogue (``OUTTER_SCOPES``), and the client's own."""
    held = [scope for scope in MANAGEMENT_SCOPES if scope in principal.scopes]
    names = dict.fromkeys([*held, *OIDC_SCOPES, *catalogue, *current])
    words = {**MANAGEMENT_SCOPE_DESCRIPTIONS, **OIDC_SCOPE_DESCRIPTIONS}
    return [SelectChoice(name, words.get(name, "A platform scope")) for name in names]


def lines(text: str | None) -> list[str]:
    """One URI a line; blank lines and the spaces around a line do not count."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def fill(form: ClientForm, client: OAuthClient) -> None:
    """Put a client's values in the edit form (a GET)."""
    form.name.data = client.name
    form.grant_types.data = list(client.grant_types)
    form.scopes.data = list(client.scopes)
    form.redirect_uris.data = "\n".join(client.redirect_uris)
    form.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)


def body_of(form: ClientForm) -> dict[str, Any]:
    """The API's body for what the form holds."""
    body = {
        "name": (form.name.data or "").strip(),
        "grant_types": list(form.grant_types.data or []),
        "scopes": [*(form.scopes.data or []), *(form.other_scopes.data or "").split()],
        "redirect_uris": lines(form.redirect_uris.data),
        "post_logout_redirect_uris": lines(form.post_logout_redirect_uris.data),
    }
    if isinstance(form, NewClientForm):
        body["public"] = form.kind.data == PUBLIC
    return body


def load_new(form: NewClientForm) -> dict[str, Any]:
    """The create body, loaded as ``POST /api/auth/clients`` loads it (ValidationError otherwise)."""
    return dict(ClientCreateSchema().load(body_of(form)))


def load_changes(form: ClientForm, client: OAuthClient) -> dict[str, Any]:
    """What differs from the client, loaded as ``PATCH /api/auth/clients/{id}`` loads it: only
    changed fields are sent, so the audit event names what really changed."""
    body = body_of(form)
    wanted = {name: body[name] for name in EDITABLE if body[name] != _current(client, name)}
    return dict(ClientUpdateSchema().load(wanted)) if wanted else {}


def _current(client: OAuthClient, name: str) -> Any:
    value = getattr(client, name)
    return list(value) if isinstance(value, list | tuple) else value


def schema_errors(error: ValidationError, body: dict[str, Any]) -> list[tuple[str, str]]:
    """(form field, message) for each of marshmallow's messages, naming the item at fault."""
    found: list[tuple[str, str]] = []
    messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
    for name, said in messages.items():
        field = FIELD_OF.get(name, "name")
        if isinstance(said, dict):  # a list's items: {index: [messages]}
            for index, item_messages in said.items():
                item = body.get(name, [])[index] if isinstance(index, int) else index
                label = ITEM_OF.get(name, "Value")
                found += [(field, f"{label} “{item}”: {message}") for message in _flat(item_messages)]
        else:
            found += [(field, message) for message in _flat(said)]
    return found


def _flat(messages: Any) -> list[str]:
    if isinstance(messages, list | tuple):
        return [str(message) for message in messages]
    if isinstance(messages, dict):
        return [message for value in messages.values() for message in _flat(value)]
    return [str(messages)]
