"""What the token endpoints hand out: signed access tokens and RFC 6749 §5.1 bodies.

Every token response of the service (``/oauth/token`` for each grant, ``/api/auth/login``
and ``/api/auth/token/refresh``) is built here, so they cannot drift apart; signing
itself is ``services.tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from outter_auth.services import tokens
from outter_auth.services.client_tokens import ClientTokenReuse
from outter_auth.services.clients import ClientInfo
from outter_auth.services.sessions import ActiveSession
from outter_auth.services.signing_keys import KeyStore


def token_body(
    access_token: str, expires_in: int, scopes: Iterable[str], refresh_token: str | None = None
) -> dict[str, Any]:
    """RFC 6749 §5.1."""
    body: dict[str, Any] = {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": " ".join(scopes),
    }
    if refresh_token is not None:
        body["refresh_token"] = refresh_token
    return body


class TokenIssuer:
    def __init__(self, keystore: KeyStore, settings: tokens.TokenSettings, client_tokens: ClientTokenReuse) -> None:
        self._keystore = keystore
        self.settings = settings
        self._client_tokens = client_tokens

    def session_access_token(self, active: ActiveSession) -> str:
        """The access token of a user session (login, refresh, password grant)."""
        access_token, _ = tokens.issue_access_token(
            self._keystore.ring(),
            self.settings,
            subject=active.membership.user_id,
            client_id=active.session.client_id,
            scopes=active.scopes,
            tenant_id=active.membership.tenant_id,
            roles=[active.membership.role],
            session_id=active.session.id,
        )
        return access_token

    def session_tokens(self, active: ActiveSession, *, with_refresh_token: bool = True) -> dict[str, Any]:
        refresh_token = active.refresh_token if with_refresh_token else None
        return token_body(self.session_access_token(active), self.settings.ttl, active.scopes, refresh_token)

    def client_tokens(self, client: ClientInfo, scopes: tuple[str, ...]) -> dict[str, Any]:
        """A client_credentials token: the client itself is the subject (maybe one handed out
        a moment ago, see ``services.client_tokens``)."""
        ring = self._keystore.ring()
        active = ring.active_key()
        kid = str(active.kid) if active is not None else ""

        def issue() -> tuple[str, dict[str, Any]]:
            return tokens.issue_access_token(
                ring,
                self.settings,
                subject=client.id,
                client_id=client.id,
                scopes=scopes,
                tenant_id=str(client.tenant_id),
            )

        token, claims, expires_in = self._client_tokens.get_or_issue(client.id, scopes, kid, issue)
        return token_body(token, expires_in, claims["scope"].split())
