"""One mapping from domain exceptions to HTTP, in the SPEC §4 error shape."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType, default_exceptions

from outter_auth import outages
from outter_auth.auth import AuthenticationFailed, InsufficientScope
from outter_auth.extensions import api, db
from outter_auth.oauth import TooManyAttempts
from outter_auth.rate_limits import TooManyGuesses
from outter_auth.services import exceptions as domain
from outter_auth.services import leaks
from outter_auth.services.lockout import AccountLocked
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

# Leak reports (SPEC §14): a scanner retries a 503, never a 400 or a 413.
LEAK_REPORT_ERRORS: dict[type[Exception], int] = {
    leaks.MalformedReport: 400,
    leaks.ReportTooLarge: 413,
    leaks.ScannerKeysUnavailable: 503,
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
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(InterfaceError, _database_unavailable)
    app.register_error_handler(AccountLocked, _account_locked)
    app.register_error_handler(leaks.UntrustedReport, _untrusted_report)
    for error_class, status in LEAK_REPORT_ERRORS.items():
        app.register_error_handler(error_class, _respond_with(status))
    app.register_error_handler(TooManyGuesses, _rate_limited)
    app.before_request(_refuse_oversized_streams)
    app.before_request(_require_json_body)
    app.after_request(_security_headers)


def _respond_with(status: int) -> Handler:
    def handler(error: Exception) -> Any:
        return error_response(status, str(error))

    return handler


def _invalid_input(error: domain.InvalidInput) -> Any:
    # Same shape as webargs' 422: errors by location, then field. A rule about the object as
    # a whole (rotating a revoked key) goes under "_schema", as marshmallow's own do: SPEC §4's
    # 422 always carries "errors".
    errors = {"json": {error.field or "_schema": [str(error)]}}
    return error_response(422, str(error), errors=errors)


def _invalid_credentials(error: domain.InvalidCredentials) -> Any:
    # A failed password login is a 401 like any other, so it carries a challenge too.
    return error_response(401, str(error), {"WWW-Authenticate": 'Bearer realm="outter"'})


def _unauthenticated(error: AuthenticationFailed) -> Any:
    return error_response(401, str(error), {"WWW-Authenticate": error.challenge})


def _untrusted_report(error: leaks.UntrustedReport) -> Any:
    return error_response(401, str(error), {"WWW-Authenticate": 'Signature realm="outter"'})


def _account_locked(error: AccountLocked) -> Any:
    return too_many_requests(str(error), error.retry_after)


def _rate_limited(error: TooManyGuesses) -> Any:
    return too_many_requests(str(error), error.retry_after)


def too_many_requests(message: str, retry_after: int) -> Any:
    """429 with Retry-After, in the error shape of the endpoint family (SPEC §4); a page for pages."""
    if request.blueprint == "pages":
        from outter_auth.pages.render import error_page

        return error_page(
            429,
            "Too many attempts",
            f"Too many sign-in attempts from here. Wait {max(1, round(retry_after / 60))} minute(s), then try again.",
            headers={"Retry-After": str(retry_after)},
        )
    if request.path.startswith("/oauth/"):
        status, body, headers = TooManyAttempts(message, retry_after)()
        return Response(json.dumps(body), status, headers=[*headers, ("Cache-Control", "no-store")])
    return error_response(429, message, {"Retry-After": str(retry_after)})


def _signing_unavailable(error: Exception) -> Any:
    log.error("cannot sign or verify tokens: %s", error)
    return error_response(503, "token signing is unavailable")


def _database_unavailable(error: Exception) -> Any:
    """The database is unreachable: 503, never a 500 and never a guess (SPEC §7: no 200 for
    a key we cannot check). The pool's pre-ping reconnects by itself once it is back."""
    log.error("database unavailable: %s", type(error).__name__)
    outages.database_failed()
    try:
        db.session.rollback()
    except SQLAlchemyError:  # the connection is gone; the session is discarded at teardown
        pass
    if request.path == "/api/auth/gateway/check":  # auth subrequests get empty bodies
        return Response(b"", status=503, headers={"Retry-After": "5", "Cache-Control": "no-store"})
    if request.path.startswith("/oauth/"):  # RFC 6749 §5.2's registered "try again later"
        body = {"error": "temporarily_unavailable", "error_description": "the service is temporarily unavailable"}
        headers = {"Retry-After": "5", "Cache-Control": "no-store", "Pragma": "no-cache"}
        return Response(json.dumps(body), 503, headers=headers, mimetype="application/json")
    return error_response(503, "the service is temporarily unavailable", {"Retry-After": "5"})


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # Tokens, keys and secrets travel in API responses: no cache may keep any of them.
    if request.path.startswith(("/api/", "/oauth/")):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response


def _refuse_oversized_streams() -> None:
    """413 for a body without Content-Length (chunked) that reaches MAX_CONTENT_LENGTH.

    Werkzeug refuses a declared length over the limit, but a chunked body is read only
    up to the limit and silently cut there: the view would see a truncated body.
    """
    if request.content_length is not None or "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    limit = request.max_content_length
    if limit is not None and len(request.get_data(cache=True)) >= limit:
        raise RequestEntityTooLarge()


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
