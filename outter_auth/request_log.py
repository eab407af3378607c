"""Request logs: one line per request (JSON or text), and a request id on every response.

Each request is logged once, by the ``outter_auth.request`` logger, with its request id,
method, path (never the query string), status, duration, the authenticated principal (only
if the request authenticated one: read from ``g.principal``, never by authenticating here)
and the client address. Nothing else of the request is logged: no header, no body, so no
password, token, API key or client secret can get into a log line from here.

The request id comes from the gateway's ``X-Request-Id`` when it looks like an id
(1-128 characters of ``[A-Za-z0-9._:-]``); anything else is replaced, never reflected. It
is sent back in ``X-Request-Id`` on every response, errors included, and stamped on every
record that reaches the ``outter_auth`` handler while the request runs.

Logging set-up: one handler on the ``outter_auth`` logger (not on the root logger), writing
to the process's standard error (gunicorn workers inherit it from the master). Records still
propagate, so pytest's ``caplog`` and any root handler an operator adds see them too. The
format is per app (``OUTTER_LOG_FORMAT``): ``json`` or ``text``.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, current_app, g, has_app_context, has_request_context, request
from flask.logging import default_handler

from outter_auth import metrics
from outter_auth.config import Settings

REQUEST_ID_HEADER = "X-Request-Id"
LOGGER_NAME = "outter_auth"
REQUEST_LOGGER = "outter_auth.request"
_EXTENSION = "outter_auth.request_log"  # app.extensions key: the app's log format
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_MAX_PATH = 2048
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")

# Authlib logs every token it issues, whole, at DEBUG ("Issue token %r to %r"): its grant
# modules' loggers get a filter that blanks the secrets in such records (see redact_tokens).
AUTHLIB_TOKEN_LOGGERS = (
    "authlib.oauth2.rfc6749.grants.authorization_code",
    "authlib.oauth2.rfc6749.grants.client_credentials",
    "authlib.oauth2.rfc6749.grants.implicit",
    "authlib.oauth2.rfc6749.grants.refresh_token",
    "authlib.oauth2.rfc6749.grants.resource_owner_password_credentials",
    "authlib.oauth2.rfc7523.jwt_bearer",
    "authlib.oauth2.rfc8628.device_code",
    "authlib.oauth2.drafts.id_jag",
)
SECRET_FIELDS = frozenset(
    {"access_token", "refresh_token", "id_token", "client_secret", "password", "code", "device_code", "assertion"}
)
REDACTED = "<redacted>"

request_log = logging.getLogger(REQUEST_LOGGER)


def init_request_logging(app: Flask, settings: Settings) -> None:
    """Log each request of ``app`` as one line and give each response an ``X-Request-Id``."""
    app.extensions[_EXTENSION] = settings.log_format
    configure_logging(settings.log_format)
    # First before the other before-request functions (a refusal there still gets an id
    # and a duration), last after the other after-request ones (the final status and headers).
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request_funcs.setdefault(None, []).insert(0, _finish)
    app.teardown_request(_log_unfinished)


def configure_logging(log_format: str) -> logging.Handler:
    """Give the ``outter_auth`` logger its stderr handler (once per process) at INFO.

    ``log_format`` is the default for records logged outside of an app context; inside
    one, the app's own ``log_format`` wins (tests build apps of both formats).
    """
    logger = logging.getLogger(LOGGER_NAME)
    handler = next((h for h in logger.handlers if isinstance(h, StderrHandler)), None)
    if handler is None:
        handler = StderrHandler()
        handler.addFilter(RequestContextFilter())
        logger.addHandler(handler)
    handler.setFormatter(LogFormatter(log_format))
    # Flask adds its own stderr handler to app.logger (also "outter_auth") if it finds none.
    logger.removeHandler(default_handler)
    # The development server logs every request too: ours is the one line per request.
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, WerkzeugRequestLineFilter) for f in werkzeug.filters):
        werkzeug.addFilter(WerkzeugRequestLineFilter())
    if logger.level == logging.NOTSET:  # an operator's explicit level stays
        logger.setLevel(logging.INFO)
    redact_tokens()
    return handler


def redact_tokens() -> None:
    """Blank token fields in the records of Authlib's loggers (they log issued tokens at DEBUG).

    A filter on a logger sees only the records logged on that very logger, so it goes on
    each module logger of Authlib (the known token-logging ones, and any already made).
    """
    names = {*AUTHLIB_TOKEN_LOGGERS, *(n for n in logging.root.manager.loggerDict if n.startswith("authlib."))}
    for name in sorted(names):
        logger = logging.getLogger(name)
        if not any(isinstance(f, TokenRedactingFilter) for f in logger.filters):
            logger.addFilter(TokenRedactingFilter())


def current_request_id() -> str | None:
    """The id of the request being handled (made on first use), or None outside a request."""
    if not has_request_context():
        return None
    request_id = g.get("request_id")
    if request_id is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        request_id = incoming if _SANE_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = request_id
    return str(request_id)


def _start() -> None:
    g.request_started = time.perf_counter()
    current_request_id()


def _finish(response: Response) -> Response:
    request_id = current_request_id()
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    if not g.get("request_logged"):
        _log_request(response.status_code)
    return response


def _log_unfinished(error: BaseException | None) -> None:
    """The response never reached ``_finish`` (an exception propagated, as under TESTING)."""
    if not g.get("request_logged"):
        _log_request(500 if error is not None else None)


def _log_request(status: int | None) -> None:
    g.request_logged = True
    started = g.get("request_started")
    seconds = time.perf_counter() - started if started is not None else None
    principal = g.get("principal")
    path = request.path[:_MAX_PATH]
    fields: dict[str, Any] = {
        "method": request.method,
        "path": path,
        "status": status,
        "duration_ms": round(seconds * 1000, 2) if seconds is not None else None,
        "principal_type": getattr(principal, "type", None),
        "principal_id": getattr(principal, "id", None),
        "tenant_id": getattr(principal, "tenant_id", None),
        "remote_ip": request.remote_addr,
    }
    # The request-level series (SPEC §13) are counted here, with the log line: one place.
    metrics.request_finished(request.endpoint, request.method, status, seconds)
    level = logging.WARNING if status is None or status >= 500 else logging.INFO
    request_log.log(
        level, "%s %s %s", printable(request.method), printable(path), status, extra={"outter_request": fields}
    )


def printable(value: str, pattern: re.Pattern[str] = _UNPRINTABLE) -> str:
    """``value`` on one line: control characters and backslashes escaped (for text logs)."""
    return pattern.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), value)


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler on the process's standard error (file descriptor 2).

    ``sys.__stderr__``, not ``sys.stderr``: code that swaps ``sys.stderr`` for a while (click's
    test runner, for one) must not collect the log lines of other threads in its output.
    """

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.__stderr__ or sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class WerkzeugRequestLineFilter(logging.Filter):
    """Drop the development server's per-request line (``"GET / HTTP/1.1" 200 -``).

    werkzeug's ``WSGIRequestHandler.log_request`` logs it at INFO with the request line,
    status and size as the three arguments of ``'... "%s" %s %s'``; its start-up banner and
    its errors pass.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and isinstance(record.msg, str)
            and record.msg.endswith('"%s" %s %s')
            and isinstance(record.args, tuple)
            and len(record.args) == 3
        )


class TokenRedactingFilter(logging.Filter):
    """Replace secret fields (``access_token``, ``refresh_token``, ...) of mapping arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(arg, Mapping) for arg in record.args):
            record.args = tuple(_redacted(arg) if isinstance(arg, Mapping) else arg for arg in record.args)
        elif isinstance(record.args, Mapping):
            record.args = _redacted(record.args)
        return True


def _redacted(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if k in SECRET_FIELDS else v for k, v in values.items()}


class RequestContextFilter(logging.Filter):
    """Stamp records with the current request id and the current app's log format."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id()
        if request_id is not None:
            record.request_id = request_id
        if has_app_context():
            log_format = current_app.extensions.get(_EXTENSION)
            if log_format is not None:
                record.outter_log_format = log_format
        return True


class LogFormatter(logging.Formatter):
    """One JSON object per line (``json``), or one readable line (``text``; tracebacks follow)."""

    def __init__(self, log_format: str = "json") -> None:
        super().__init__()
        self.log_format = log_format

    def format(self, record: logging.LogRecord) -> str:
        if getattr(record, "outter_log_format", self.log_format) == "text":
            return self._text(record)
        return self._json(record)

    def _json(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            payload["request_id"] = request_id
        fields = getattr(record, "outter_request", None)
        if isinstance(fields, dict):
            payload.update(fields)
        if record.exc_info:
            payload["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack_info"] = self.formatStack(record.stack_info)
        # ensure_ascii: every control character is escaped, so a record is always one line.
        return json.dumps(payload, ensure_ascii=True, default=str, separators=(",", ":"))

    def _text(self, record: logging.LogRecord) -> str:
        parts = [_timestamp(record), record.levelname, record.name]
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            parts.append(f"[{request_id}]")
        fields = getattr(record, "outter_request", None)
        # The request line's message is escaped already; others may quote a request's path.
        parts.append(record.getMessage() if isinstance(fields, dict) else printable(record.getMessage(), _CONTROL))
        if isinstance(fields, dict):
            if fields.get("duration_ms") is not None:
                parts.append(f"{fields['duration_ms']}ms")
            if fields.get("principal_id") is not None:
                parts.append(f"principal={fields['principal_type']}:{fields['principal_id']}")
            parts.append(f"ip={printable(str(fields.get('remote_ip')))}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _timestamp(record: logging.LogRecord) -> str:
    # time.strftime on a struct_time: a third of what building a datetime costs, per line.
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(record.created)) + f"{int(record.msecs):03d}Z"
