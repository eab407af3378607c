"""The flask-smorest ``Api`` with the error handler SPEC §4 needs."""

from __future__ import annotations

from typing import Any

import flask_smorest
from flask import request
from werkzeug.exceptions import HTTPException

from outter_auth.services.audit import Origin

GENERIC_500 = "internal server error"


class ShownOnce:
    """A model plus the secret that is shown this once, for a response schema to dump."""

    def __init__(self, model: Any, **secrets: str | None) -> None:
        self._model = model
        self.__dict__.update(secrets)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def request_origin() -> Origin:
    """Where the current request came from, for the audit trail."""
    return Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


class Api(flask_smorest.Api):
    """flask-smorest's Api, keeping the headers an HTTP error carries.

    Upstream's JSON handler drops ``error.get_headers()``, so a 405 loses its
    ``Allow`` header and a 401 its ``WWW-Authenticate``; we merge them back
    (without the HTML ``Content-Type``). Every error also gets a ``message``,
    except that a 500 never describes what went wrong.
    """

    def handle_http_exception(self, error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        payload, status, headers = super().handle_http_exception(error)
        merged = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        merged.update(headers or {})
        if status >= 500:
            payload["message"] = GENERIC_500 if status == 500 else payload.get("message", error.name)
            payload.pop("errors", None)
        elif "message" not in payload and error.description:
            payload["message"] = error.description
        return payload, status, merged
