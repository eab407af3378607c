"""Authlib's OAuth 2.0 authorization server, wired in one place (``config_oauth``).

Authlib does the protocol: grant dispatch, client authentication
(``client_secret_basic``, ``client_secret_post``, ``none``), RFC 6749 §5.2 errors,
RFC 7009 revocation and RFC 7662 introspection. Our services do the rest: tokens
are signed by ``services.tokens`` (Authlib's own JWT helpers would pick a random
key and omit ``kid``), refresh tokens are rotated by ``services.sessions``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    OAuth2Error,
    UnauthorizedClientError,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from flask import Flask, Response, current_app
from flask import request as flask_request

from outter_auth.api.base import request_origin
from outter_auth.extensions import db
from outter_auth.models import Membership
from outter_auth.runtime import runtime
from outter_auth.scopes import is_valid_scope
from outter_auth.services import sessions, tokens
from outter_auth.services.clients import ClientInfo
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.lockout import AccountLocked
from outter_auth.services.token_lookup import TokenRecord, lookup

REALM = "outter"
CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
PRINTABLE_NAME = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,64}")
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*SECRET_METHODS, "none"]
NO_STORE = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]


class TooManyAttempts(OAuth2Error):  # type: ignore[misc]
    """429 in RFC 6749 §5.2's shape. RFC 6749 has no rate-limit error code; the
    registered ``temporarily_unavailable`` says "try again later", Retry-After says when."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description=description)
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        headers: list[tuple[str, str]] = super().get_headers()
        return [*headers, ("Retry-After", str(self.retry_after))]


class Client(ClientMixin):  # type: ignore[misc]
    """Authlib's view of one of our clients."""

    def __init__(self, info: ClientInfo, pepper: str) -> None:
        self.info = info
        self._pepper = pepper

    def get_client_id(self) -> str:
        return self.info.id

    def get_default_redirect_uri(self) -> str | None:
        return self.info.redirect_uris[0] if self.info.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.info.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.info.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.info.secret_matches(client_secret, self._pepper)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.info.is_public:
            # RFC 7662 §2.1: introspection is for authenticated callers only.
            return method == "none" and endpoint != "introspection"
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return False  # no authorization endpoint (yet)

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "password" and not self.info.is_first_party:
            return False
        return grant_type in self.info.grant_types


def _query_client(client_id: str) -> Client | None:
    state = runtime()
    state.invalidation.start()
    # Ids are checked by shape first: NUL bytes or megabytes never reach the database.
    info = state.client_cache.get(client_id) if CLIENT_ID.fullmatch(client_id) else None
    return Client(info, state.settings.api_key_pepper) if info else None


def _check_requested_scope(request: Any) -> None:
    """Scope grammar, then the client's own scopes (RFC 6749 §3.3: invalid_scope)."""
    scope = request.payload.scope
    if not scope:
        return
    requested = scope.split()
    if not all(is_valid_scope(s) for s in requested):
        raise InvalidScopeError("malformed scope")
    if not set(requested) <= set(request.client.info.scopes):
        raise InvalidScopeError("the requested scope exceeds the scope of the client")


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def authenticate_token_endpoint_client(self) -> Client:
        # Keep the client at hand: authenticate_user needs its tenant, and Authlib
        # sets request.client only after the user is authenticated.
        client: Client = super().authenticate_token_endpoint_client()
        self._client = client
        return client

    def authenticate_user(self, username: str, password: str) -> Membership:
        client = self._client
        settings = runtime().settings
        try:
            return sessions.authenticate_password(
                db.session,
                username,
                password,
                self.request.form.get("tenant"),
                settings.bcrypt_rounds,
                client_tenant_id=client.info.tenant_id,
                origin=request_origin(),
                lockout_policy=runtime().lockout,
            )
        except AccountLocked as error:
            raise TooManyAttempts(str(error), error.retry_after) from None
        except InvalidCredentials as error:
            raise InvalidGrantError(str(error)) from None
        except (AccountDisabled, TenantRequired) as error:
            raise InvalidGrantError(str(error)) from None

    def validate_requested_scope(self) -> None:
        _check_requested_scope(self.request)


@dataclass(frozen=True)
class RefreshCredential:
    """A refresh token already spent and replaced (see ``RefreshGrant``)."""

    active: sessions.ActiveSession

    def check_client(self, client: Client) -> bool:
        return self.active.session.client_id == client.get_client_id()

    def get_scope(self) -> str:
        return self.active.session.scope


class RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshCredential | None:
        # Rotation happens here, in one atomic step, rather than later in
        # revoke_old_credential: reading now and spending later would let two
        # concurrent requests both pass.
        scope = self.request.payload.scope
        try:
            active = sessions.rotate_refresh_token(
                db.session,
                refresh_token,
                client_id=self.request.client.get_client_id(),
                idle_timeout_seconds=runtime().settings.session_idle_timeout,
                requested_scopes=scope.split() if scope else None,
                origin=request_origin(),
            )
        except sessions.ScopeNotGranted as error:
            raise InvalidScopeError(str(error)) from None
        except sessions.RefreshFailed:
            return None
        return RefreshCredential(active)

    def authenticate_user(self, credential: RefreshCredential) -> sessions.ActiveSession:
        return credential.active

    def revoke_old_credential(self, credential: RefreshCredential) -> None:
        """Already spent by ``authenticate_refresh_token``."""


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_requested_scope(self) -> None:
        _check_requested_scope(self.request)


def _generate_token(
    grant_type: str,
    client: Client,
    user: Any = None,
    scope: str | None = None,
    expires_in: int | None = None,
    include_refresh_token: bool = True,
) -> dict[str, Any]:
    """Every token response: JWT access token signed by our key, opaque refresh token."""
    state = runtime()
    if grant_type == "client_credentials":
        scopes = tuple(scope.split()) if scope else client.info.scopes
        active = state.keystore.ring().active_key()
        kid = str(active.kid) if active is not None else ""
        return state.client_tokens.get_or_issue(client.info.id, scopes, kid, lambda: _client_token(client, scopes))
    if grant_type == "password":
        active = sessions.start_session(
            db.session,
            user,
            client.info.id,
            state.settings.refresh_token_ttl,
            requested_scopes=scope.split() if scope else list(client.info.scopes),
            origin=request_origin(),
        )
    else:  # refresh_token: ``user`` is the already rotated session; the client may have lost scopes since
        active = replace(user, scopes=tuple(s for s in user.scopes if s in client.info.scopes))
    access_token = issue_session_token(active)
    body = _body(access_token, active.scopes)
    if include_refresh_token and client.check_grant_type("refresh_token"):
        body["refresh_token"] = active.refresh_token
    return body


def _client_token(client: Client, scopes: tuple[str, ...]) -> tuple[str, dict[str, Any]]:
    state = runtime()
    return tokens.issue_access_token(
        state.keystore.ring(),
        state.token_settings,
        subject=client.info.id,
        client_id=client.info.id,
        scopes=scopes,
        tenant_id=str(client.info.tenant_id),
    )


def issue_session_token(active: sessions.ActiveSession) -> str:
    """The access token of a user session (login, refresh, password grant)."""
    state = runtime()
    access_token, _ = tokens.issue_access_token(
        state.keystore.ring(),
        state.token_settings,
        subject=active.membership.user_id,
        client_id=active.session.client_id,
        scopes=active.scopes,
        tenant_id=active.membership.tenant_id,
        roles=[active.membership.role],
        session_id=active.session.id,
    )
    return access_token


def _body(access_token: str, scopes: tuple[str, ...]) -> dict[str, Any]:
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": runtime().token_settings.ttl,
        "scope": " ".join(scopes),
    }


def _lookup(token: str, hint: str | None) -> TokenRecord | None:
    state = runtime()
    return lookup(
        db.session,
        token,
        hint,
        state.keystore.ring(),
        state.token_settings,
        state.peppers,
        state.settings.session_idle_timeout,
    )


class HintIsAdvisory:
    """RFC 7009 §2.1 and RFC 7662 §2.1: an unknown ``token_type_hint`` is ignored, not refused."""

    def check_params(self, request: Any, client: Client) -> None:
        if "token" not in request.form:
            raise InvalidRequestError("missing token")


class Revocation(HintIsAdvisory, RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009. A client can revoke only tokens issued to it; anything else is a quiet 200."""

    CLIENT_AUTH_METHODS = ALL_METHODS

    def authenticate_token(self, request: Any, client: Client) -> TokenRecord | None:
        self.check_params(request, client)
        record = _lookup(request.form["token"], request.form.get("token_type_hint"))
        if record is None or record.client_id != client.get_client_id():
            return None
        return record

    def revoke_token(self, token: TokenRecord, request: Any) -> None:
        if token.kind == "refresh_token" and token.session_id:
            sessions.end_session(db.session, token.session_id)
        elif token.jti and token.expires_at:
            sessions.revoke_access_token(db.session, token.jti, token.expires_at)
            # A reused client_credentials token must not be handed out again anywhere.
            runtime().client_changed(token.client_id)


class Introspection(HintIsAdvisory, IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662. A client learns only about tokens of its own tenant."""

    CLIENT_AUTH_METHODS = SECRET_METHODS

    def authenticate_token(self, request: Any, client: Client) -> TokenRecord | None:
        self.check_params(request, client)
        record = _lookup(request.form["token"], request.form.get("token_type_hint"))
        if record is None or record.tenant_id != client.info.tenant_id:
            return None
        return record

    def create_introspection_payload(self, token: TokenRecord | None) -> dict[str, Any]:
        if token is None or not token.active:
            return {"active": False}
        return {"active": True, **token.claims}


class OutterAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
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
            return self.handle_response(*grant.create_token_response())
        except OAuth2Error as error:
            return self.handle_error_response(oauth_request, error)

    def create_endpoint_response(self, name: str, request: Any = None) -> Response:
        ambiguity = _ambiguity()
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
    """RFC 6749 §3.2 and §2.3: no parameter twice, no two client authentication methods."""
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


def config_oauth(app: Flask) -> None:
    """Create this app's authorization server with our grants and endpoints."""
    server = OutterAuthorizationServer()
    server.init_app(app, query_client=_query_client, save_token=lambda token, request: None)
    server.register_token_generator("default", _generate_token)
    server.register_grant(PasswordGrant)
    server.register_grant(RefreshGrant)
    server.register_grant(ClientCredentialsGrant)
    server.register_endpoint(Revocation)
    server.register_endpoint(Introspection)
    app.extensions["authorization_server"] = server


def authorization_server() -> OutterAuthorizationServer:
    server: OutterAuthorizationServer = current_app.extensions["authorization_server"]
    return server


GRANT_TYPES_SUPPORTED = ["password", "refresh_token", "client_credentials"]
AUTH_METHODS_SUPPORTED = ALL_METHODS
