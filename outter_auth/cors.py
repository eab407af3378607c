"""CORS for browser apps (flask-cors), off unless ``OUTTER_CORS_ORIGINS`` lists origins.

Covered: ``/api/*``, ``/oauth/*`` and ``/.well-known/*``, except the two gateway endpoints
(``/api/auth/gateway/check``, ``/api/auth/api-keys/verify``): a browser has no business
there, so they never answer with an ``Access-Control-*`` header.

Credentials are bearer tokens sent in ``Authorization``, never cookies, so no
``Access-Control-Allow-Credentials``. Origins are matched exactly (scheme, host and port,
case-insensitively); ``*`` allows every origin and answers ``Access-Control-Allow-Origin: *``.
Every response of a covered path says ``Vary: Origin`` (the JWKS and discovery documents are
cacheable, and their CORS headers depend on the request's ``Origin``).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from flask import Flask, Response, request
from flask_cors import CORS

from outter_auth.config import Settings

# One pattern (flask-cors uses the first resource that matches), anchored at the start
# by re.match; the negative lookahead leaves out the gateway endpoints.
RESOURCES = re.compile(r"/(?:api/(?!auth/gateway/check\Z|auth/api-keys/verify\Z)|oauth/|\.well-known/)")
ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Request-Id")
EXPOSE_HEADERS = ("WWW-Authenticate", "Retry-After", "X-Request-Id", "X-Pagination")
METHODS = ("GET", "HEAD", "POST", "PATCH", "DELETE")
MAX_AGE = 600


def init_cors(app: Flask, settings: Settings) -> None:
    """Answer CORS requests from ``settings.cors_origins``; nothing at all if it is empty."""
    if not settings.cors_origins:
        return
    wildcard = "*" in settings.cors_origins
    origins: str | list[re.Pattern[str]] = (
        "*" if wildcard else [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in settings.cors_origins]
    )
    # Registered before flask-cors, so it runs after it (Flask runs these in reverse).
    app.after_request(_vary_on_origin)
    CORS(
        app,
        resources={RESOURCES: {}},
        origins=origins,
        methods=list(METHODS),
        allow_headers=list(ALLOW_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        supports_credentials=False,
        max_age=MAX_AGE,
        send_wildcard=wildcard,
        vary_header=False,  # _vary_on_origin: on every covered response, not only on allowed ones
        always_send=False,  # no Origin, no CORS headers (flask-cors would list every origin)
        intercept_exceptions=False,  # error responses pass the after-request functions anyway
        allow_private_network=False,
    )


def _vary_on_origin(response: Response) -> Response:
    if RESOURCES.match(unquote(request.path)):  # as flask-cors matches it
        values = [v.strip() for header in response.headers.getlist("Vary") for v in header.split(",") if v.strip()]
        if "origin" not in {v.lower() for v in values}:
            values.append("Origin")
        response.headers["Vary"] = ", ".join(values)
    return response
