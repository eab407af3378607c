"""One Authlib grant per grant type of ``services.grant_types``; each produces its own token.

``GRANTS`` must cover ``GRANT_TYPES`` exactly (checked when the server is wired), and
the server has no default token generator: a grant that forgot its own token fails
loudly instead of falling through to another grant's behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidScopeError, OAuth2Error

from outter_auth.api.base import request_origin
from outter_auth.extensions import db
from outter_auth.models import Membership
from outter_auth.oauth.clients import ALL_METHODS, SECRET_METHODS, Client, check_requested_scope
from outter_auth.oauth.code_grant import AuthorizationCodeGrant
from outter_auth.runtime import runtime
from outter_auth.services import login, sessions
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.lockout import AccountLocked


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


class PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def authenticate_token_endpoint_client(self) -> Client:
        # Keep the client at hand: authenticate_user needs its tenant, and Authlib
        # sets request.client only after the user is authenticated.
        client: Client = super().authenticate_token_endpoint_client()
        self._client = client
        return client

    def authenticate_user(self, username: str, password: str) -> Membership:
        try:
            return login.authenticate_password(
                db.session,
                username,
                password,
                runtime().login_policy,
                tenant_ref=self.request.form.get("tenant"),
                client_tenant_id=self._client.info.tenant_id,
                origin=request_origin(),
            )
        except AccountLocked as error:
            raise TooManyAttempts(str(error), error.retry_after) from None
        except (InvalidCredentials, AccountDisabled, TenantRequired) as error:
            raise InvalidGrantError(str(error)) from None

    def validate_requested_scope(self) -> None:
        check_requested_scope(self.request)

    def generate_token(self, user: Membership, scope: str | None = None, **_: Any) -> dict[str, Any]:
        client: Client = self.request.client
        state = runtime()
        active = sessions.start_session(
            db.session,
            user,
            client.info.id,
            state.settings.refresh_token_ttl,
            client_scopes=client.info.scopes,
            requested_scopes=scope.split() if scope else None,
            catalogue=state.settings.scopes,
            origin=request_origin(),
        )
        return state.issuer.session_tokens(active, with_refresh_token=client.check_grant_type("refresh_token"))


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
        client: Client = self.request.client
        settings = runtime().settings
        try:
            active = sessions.rotate_refresh_token(
                db.session,
                refresh_token,
                client_id=client.get_client_id(),
                client_scopes=client.info.scopes,
                catalogue=settings.scopes,
                idle_timeout_seconds=settings.session_idle_timeout,
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

    def generate_token(self, user: sessions.ActiveSession, **_: Any) -> dict[str, Any]:
        # The scopes are already what the client and the role allow now (rotate_refresh_token).
        return runtime().issuer.session_tokens(user, with_refresh_token=True)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_METHODS

    def validate_requested_scope(self) -> None:
        check_requested_scope(self.request)

    def generate_token(self, scope: str | None = None, **_: Any) -> dict[str, Any]:
        client: Client = self.request.client
        scopes = tuple(scope.split()) if scope else client.info.scopes
        return runtime().issuer.client_tokens(client.info, scopes)


GRANTS: dict[str, type[grants.BaseGrant]] = {
    grant.GRANT_TYPE: grant for grant in (AuthorizationCodeGrant, RefreshGrant, ClientCredentialsGrant, PasswordGrant)
}
