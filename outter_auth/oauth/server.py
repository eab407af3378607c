"""The authorization server: Authlib's, with our grants and endpoints and RFC 6749's
rules on parameters (one value each, in the body, one client authentication method),
and RFC 9207's ``iss`` on every authorization response (Authlib's ``IssuerParameter``)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidRequestError,
    OAuth2Error,
    UnauthorizedClientError,
    UnsupportedResponseTypeError,
)
from authlib.oauth2.rfc9207 import IssuerParameter
from flask import Flask, Response, current_app
from flask import request as flask_request
from werkzeug.datastructures import MultiDict

from outter_auth import metrics
from outter_auth.oauth.clients import query_client
from outter_auth.oauth.code_grant import S256Challenge
from outter_auth.oauth.endpoints import EndSession, Introspection, Revocation
from outter_auth.oauth.grants import GRANTS, TooManyAttempts
from outter_auth.oauth.openid import OpenIDCode
from outter_auth.runtime import runtime
from outter_auth.services.grant_types import GRANT_TYPES

__all__ = ["TooManyAttempts", "authorization_server", "config_oauth"]

REALM = "outter"
BODY_ONLY_ENDPOINTS = frozenset({"revocation", "introspection"})
MAX_PARAMETERS = 50  # of an authorization request
PRINTABLE_NAME = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")
PRINTABLE_VALUE = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{0,64}")
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class QueryPayload(OAuth2Payload):  # type: ignore[misc]
    """Parameters of an authorization request, from its query string alone."""

    def __init__(self, args: MultiDict[str, str]) -> None:
        self._args = args

    @property
    def data(self) -> MultiDict[str, str]:
        return self._args

    @property
    def datalist(self) -> dict[str, list[str]]:
        return {name: self._args.getlist(name) for name in self._args}


class AuthorizationRequest(OAuth2Request):  # type: ignore[misc]
    """An authorization request rebuilt from its query string: the request that reached
    ``/oauth/authorize``, or the same one carried through the sign-in and consent pages."""

    def __init__(self, query: str, uri: str) -> None:
        super().__init__("GET", uri, headers=flask_request.headers)
        self.query = query
        # ValueError past MAX_PARAMETERS: the caller answers with a page.
        self.payload = QueryPayload(MultiDict(parse_qsl(query, keep_blank_values=True, max_num_fields=MAX_PARAMETERS)))

    @property
    def args(self) -> MultiDict[str, str]:
        return self.payload.data

    @property
    def form(self) -> MultiDict[str, str]:
        return MultiDict()


class Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` on every authorization response, errors included."""

    def get_issuer(self) -> str:
        return runtime().settings.issuer


class OutterAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        if isinstance(request, OAuth2Request):
            return request
        return super().create_oauth2_request(request)

    def get_authorization_grant(self, request: OAuth2Request) -> Any:
        response_type = request.payload.response_type
        if response_type is not None and not PRINTABLE_VALUE.fullmatch(response_type):
            # Authlib repeats an unsupported response type in the error's description, which
            # RFC 6749 §5.2 limits to printable ASCII without '"' and '\\': say it without it.
            raise UnsupportedResponseTypeError(
                "response_type", description="unsupported response_type", redirect_uri=self._trusted_redirect(request)
            )
        return super().get_authorization_grant(request)

    def _trusted_redirect(self, request: OAuth2Request) -> str | None:
        """The request's redirect URI if its client registered it (Authlib's rule for errors)."""
        client = self.query_client(request.payload.client_id) if request.payload.client_id else None
        uri = request.payload.redirect_uri
        return uri if client is not None and uri and client.check_redirect_uri(uri) else None

    def authorization_error_response(self, request: OAuth2Request, error: OAuth2Error) -> Response:
        """An authorization error raised outside ``create_authorization_response`` (while the
        request is validated or the user interacts): the same answer, ``iss`` included."""
        error.state = request.payload.state
        response = self.handle_error_response(request, error)
        self.execute_hook("after_create_authorization_response", response)
        return response

    def create_token_response(self, request: Any = None) -> Response:
        # Authlib's own flow, with two checks first and the request parsed only once.
        oauth_request = self.create_oauth2_request(request)
        if not oauth_request.payload.grant_type:
            # Authlib would say unsupported_grant_type; RFC 6749 §5.2 says a missing one is invalid_request.
            return self.handle_error_response(oauth_request, InvalidRequestError("missing grant_type"))
        ambiguity = _ambiguity()
        if ambiguity:
            return self.handle_error_response(oauth_request, InvalidRequestError(ambiguity))
        try:
            grant = self.get_token_grant(oauth_request)
            grant.validate_token_request()
            token_response = grant.create_token_response()
            metrics.token_issued(grant.GRANT_TYPE)
            return self.handle_response(*token_response)
        except OAuth2Error as error:
            return self.handle_error_response(oauth_request, error)

    def create_endpoint_response(self, name: str, request: Any = None) -> Response:
        ambiguity = _ambiguity() if name in BODY_ONLY_ENDPOINTS else None
        if ambiguity:
            return self.handle_error_response(self.create_oauth2_request(request), InvalidRequestError(ambiguity))
        return super().create_endpoint_response(name, request)

    def handle_error_response(self, request: Any, error: OAuth2Error) -> Response:
        if isinstance(error, InvalidClientError):
            # RFC 6749 §5.2 allows 400, but a 401 with a challenge is what clients handle best.
            error.status_code = 401
        if isinstance(error, UnauthorizedClientError):
            error.status_code = 400
        status, body, headers = error(self.get_error_uri(request, error))
        headers = [(k, v) for k, v in headers if k.lower() not in ("www-authenticate", "cache-control", "pragma")]
        if status == 401:
            headers.append(("WWW-Authenticate", f'Basic realm="{REALM}", error="{error.error}"'))
        return self.handle_response(status, body, headers + NO_STORE)

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        response: Response = super().handle_response(status, body, headers)
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
        return response


def _ambiguity() -> str | None:
    """RFC 6749 §3.2 and §2.3: parameters in the body only, no parameter twice, no two
    client authentication methods. (Authlib reads ``request.values``, query and body
    together: a query parameter could otherwise slip past what reads the body alone.)"""
    if flask_request.args:
        return "parameters must be sent in the request body, not in the query string"
    repeated = [name for name, values in flask_request.form.lists() if len(values) > 1]
    if repeated:
        # error_description may hold only %x20-21 / %x23-5B / %x5D-7E (RFC 6749 §5.2), and
        # Authlib raises on anything else: a name outside that is not repeated back.
        named = [name for name in repeated if PRINTABLE_NAME.fullmatch(name)]
        if len(named) < len(repeated):
            return "a parameter was sent more than once"
        return f"parameter sent more than once: {', '.join(sorted(named))}"
    if flask_request.authorization is not None and "client_secret" in flask_request.form:
        return "use one client authentication method, not both Basic and client_secret"
    return None


def _no_default_token(*args: Any, **kwargs: Any) -> dict[str, Any]:
    raise RuntimeError("every grant issues its own token (oauth/grants.py): none may fall through to a default")


def config_oauth(app: Flask) -> None:
    """Create this app's authorization server with our grants and endpoints."""
    if set(GRANTS) != set(GRANT_TYPES):
        raise RuntimeError(f"grants wired {sorted(GRANTS)} differ from services.grant_types {sorted(GRANT_TYPES)}")
    server = OutterAuthorizationServer()
    server.init_app(app, query_client=query_client, save_token=lambda token, request: None)
    server.register_token_generator("default", _no_default_token)
    extensions: dict[str, list[Any]] = {"authorization_code": [S256Challenge(required=True), OpenIDCode()]}
    for name, grant in GRANTS.items():
        server.register_grant(grant, extensions.get(name))
    server.register_extension(Issuer())
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    server.register_endpoint(EndSession)
    app.extensions["authorization_server"] = server


def authorization_server() -> OutterAuthorizationServer:
    server: OutterAuthorizationServer = current_app.extensions["authorization_server"]
    return server
