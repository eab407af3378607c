"""One mapping from domain exceptions to HTTP, in the SPEC §4 error shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, request
from werkzeug.exceptions import UnsupportedMediaType, default_exceptions

from outter_auth.auth import AuthenticationFailed, InsufficientScope
from outter_auth.extensions import api
from outter_auth.services import exceptions as domain
from outter_auth.services.signing_keys import SigningKeyError
from outter_auth.services.tokens import NoSigningKey

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[Exception], int] = {
    domain.NotFound: 404,
    domain.Conflict: 409,
    domain.PermissionDenied: 403,
    domain.AccountDisabled: 403,
    domain.TenantRequired: 400,
    InsufficientScope: 403,
}

JSON_METHODS = {"POST", "PUT", "PATCH"}
Handler = Callable[[Exception], Any]


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, errors: dict[str, Any] | None = None
) -> Any:
    """A response in the flask-smorest error shape, built outside of ``abort``."""
    error = default_exceptions[status]()
    data: dict[str, Any] = {"message": message}
    if headers:
        data["headers"] = headers
    if errors:
        data["errors"] = errors
    error.data = data  # type: ignore[attr-defined]
    return api.handle_http_exception(error)


def register_error_handlers(app: Flask) -> None:
    for error_class, status in STATUS_BY_ERROR.items():
        app.register_error_handler(error_class, _respond_with(status))
    app.register_error_handler(domain.InvalidInput, _invalid_input)
    app.register_error_handler(domain.InvalidCredentials, _invalid_credentials)
    app.register_error_handler(AuthenticationFailed, _unauthenticated)
    app.register_error_handler(NoSigningKey, _signing_unavailable)
    app.register_error_handler(SigningKeyError, _signing_unavailable)
    app.before_request(_require_json_body)


def _respond_with(status: int) -> Handler:
    def handler(error: Exception) -> Any:
        return error_response(status, str(error))

    return handler


def _invalid_input(error: domain.InvalidInput) -> Any:
    # Same shape as webargs' 422: errors by location, then field.
    errors = {"json": {error.field: [str(error)]}} if error.field else None
    return error_response(422, str(error), errors=errors)


def _invalid_credentials(error: domain.InvalidCredentials) -> Any:
    # A failed password login is a 401 like any other, so it carries a challenge too.
    return error_response(401, str(error), {"WWW-Authenticate": 'Bearer realm="outter"'})


def _unauthenticated(error: AuthenticationFailed) -> Any:
    return error_response(401, str(error), {"WWW-Authenticate": error.challenge})


def _signing_unavailable(error: Exception) -> Any:
    log.error("cannot sign or verify tokens: %s", error)
    return error_response(503, "token signing is unavailable")


def _require_json_body() -> None:
    """Bodies sent to the JSON API must say they are JSON (415 otherwise).

    ``/oauth/*`` is form-encoded (RFC 6749) and checks its own bodies.
    """
    if request.method not in JSON_METHODS or not request.path.startswith("/api/"):
        return
    if request.routing_exception is not None:  # let the 404/405 speak first
        return
    has_body = request.content_length or request.headers.get("Transfer-Encoding")
    if has_body and not request.is_json:
        raise UnsupportedMediaType("the request body must be JSON (Content-Type: application/json)")
