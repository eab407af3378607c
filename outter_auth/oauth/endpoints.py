"""RFC 7009 revocation, RFC 7662 introspection and OpenID Connect RP-Initiated Logout."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.rpinitiated import EndSessionEndpoint
from authlib.oidc.rpinitiated.end_session import EndSessionRequest
from flask import g

from outter_auth.api.base import request_origin
from outter_auth.extensions import db
from outter_auth.oauth.clients import ALL_METHODS, SECRET_METHODS, Client
from outter_auth.runtime import runtime
from outter_auth.services import browser_sessions, sessions, tokens
from outter_auth.services.token_lookup import TokenRecord, lookup


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
        # Each service announces what it ended, so caches and reused tokens go everywhere.
        if token.kind == "refresh_token" and token.session_id:
            sessions.end_session(db.session, token.session_id)
        elif token.jti and token.expires_at:
            sessions.revoke_access_token(db.session, token.jti, token.expires_at)


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


LOGOUT_CONFIRMED = "outter_auth.logout_confirmed"


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """OpenID Connect RP-Initiated Logout 1.0 (SPEC §11, ``GET /oauth/logout``).

    Authlib checks the request: ``client_id`` against the hint's ``aud``, the post-logout
    redirect URI exactly against the client's registered ones, ``state`` added back; and it
    redirects only when an ``id_token_hint`` vouches for the request, or (here) when the user
    confirmed on our page. The hint is read by ``services.tokens`` (our signature, ``typ``
    and issuer; it may have expired). Which browser session ends is the page's to say
    (``browser_session_id`` on the request): the one whose cookie came with it.
    """

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        state = runtime()
        try:
            return tokens.read_id_token_hint(id_token_hint, state.keystore.ring(), state.token_settings)
        except tokens.InvalidToken as error:
            raise InvalidRequestError(f"invalid id_token_hint: {error}") from None

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Client, logout_hint: str | None
    ) -> bool:
        return bool(g.get(LOGOUT_CONFIRMED))  # the user said so, on our page (CSRF-checked)

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        browser_session_id = getattr(end_session_request, "browser_session_id", None)
        if browser_session_id:
            browser_sessions.end(db.session, browser_session_id, request_origin())
