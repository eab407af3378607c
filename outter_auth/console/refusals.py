"""A form's refusals, answered as the API answers them: the same status, the API schema's
or the service's own words, on the field they are about.

A console form is checked three times, as a REST body is: WTForms (CSRF, the fields a
browser must send), the API's marshmallow schema (the very rules and messages of
``schemas/``), then the service (``DomainError``). Each refusal re-renders the form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask_wtf import FlaskForm
from marshmallow import Schema, ValidationError

from outter_auth.console.render import page
from outter_auth.errors import STATUS_BY_ERROR
from outter_auth.services.exceptions import DomainError, InvalidInput

UNPROCESSABLE = 422  # a body the API's schema or a service's rule refuses, as in REST
EXPIRED_TITLE = "This form has expired"
EXPIRED = (
    "The page was open too long, or the form was sent from somewhere else. Nothing was changed. Go back and try again."
)


def csrf_failed(form: FlaskForm) -> bool:
    """Whether the form came without this browser's CSRF token (then nothing may change)."""
    token = getattr(form, "csrf_token", None)
    return bool(token is not None and token.errors)


def expired() -> Any:
    return page("console/problem.html", 400, title=EXPIRED_TITLE, message=EXPIRED, link=None)


def status_of(error: DomainError) -> int:
    if isinstance(error, InvalidInput):
        return UNPROCESSABLE
    for kind, status in STATUS_BY_ERROR.items():
        if isinstance(error, kind):
            return status
    return 400


def load(schema: Schema, form: FlaskForm, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """``data`` through the API's schema; its messages land on the form's fields (None then)."""
    try:
        loaded: dict[str, Any] = schema.load(data)
        return loaded
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        for name, problems in messages.items():
            words = problems if isinstance(problems, list) else [str(problems)]
            add_error(form, name, *(str(word) for word in words))
        return None


def refuse(form: FlaskForm, error: DomainError, default_field: str | None = None) -> int:
    """Put the service's message on the field it names (or ``default_field``); the status."""
    add_error(form, getattr(error, "field", None) or default_field, sentence(str(error)))
    return status_of(error)


def add_error(form: FlaskForm, name: str | None, *messages: str) -> None:
    field = form._fields.get(name) if name else None
    if field is None:
        form.form_errors = [*getattr(form, "form_errors", []), *messages]
        return
    field.errors = [*field.errors, *messages]


def summary(form: FlaskForm) -> list[tuple[str, str | None]]:
    """(message, id of the field to jump to) for the error summary at the top of the form."""
    listed: list[tuple[str, str | None]] = [(message, None) for message in getattr(form, "form_errors", [])]
    for field in form:
        if field.name == "csrf_token":
            continue
        # The API's words name no field ("Length must be between 8 and 72."): the summary does.
        listed.extend((f"{field.label.text}: {message}", field.id) for message in field.errors)
    return listed


def sentence(message: str) -> str:
    """A service's message as the start of a sentence ("the tenant must..." → "The tenant must...")."""
    return message[:1].upper() + message[1:] if message else message
