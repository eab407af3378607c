"""OpenID Connect on the authorization code grant: Authlib's ``OpenIDCode`` and our claims.

Why Authlib signs the ID token here, when ``services/tokens.py`` is otherwise the only module
that signs: ``OpenIDCode`` is the piece of Authlib that turns a token response into an
OpenID one (nonce and auth_time from the code, ``at_hash`` of the access token, the hooks
that check ``nonce`` and ``prompt``), and it signs at the end of that. Re-implementing it to
sign elsewhere would be the hand-written protocol code this project avoids. So it is given,
through its configuration hooks, exactly what ``services.tokens`` decides for an ID token:
the active signing key and its header (RS256, ``typ: JWT``, the key's ``kid``) from one
snapshot of the key ring (:func:`tokens.id_token_signing`, kept for the request on ``g``
so the ``kid`` always names the key that signed), and the claims that do not depend on the
user (:func:`tokens.id_token_claims`: ``iss``, ``aud``, ``azp``, ``iat``, ``exp`` from the
service's clock). The user's claims come from :func:`identity_claims`, which ``/oauth/userinfo``
answers with too.
"""

from __future__ import annotations

from typing import Any

from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode as AuthlibOpenIDCode
from flask import g
from joserfc.jwk import RSAKey

from outter_auth.extensions import db
from outter_auth.oauth.clients import Client
from outter_auth.runtime import runtime
from outter_auth.scopes import EMAIL
from outter_auth.services import authorization_codes, tokens
from outter_auth.services.sessions import ActiveSession

_SIGNING = "outter_auth.id_token_signing"


def identity_claims(user_id: str, tenant_id: str, email: str, scopes: set[str] | frozenset[str]) -> dict[str, Any]:
    """The claims about a user that the granted scopes allow (ID token and userinfo alike).

    ``email_verified`` is false: users are created by tenant admins and the operator with an
    address nobody proved to own (OpenID Connect Core §5.1 asks for the truth).
    """
    claims: dict[str, Any] = {"sub": user_id, "tenant_id": tenant_id}
    if EMAIL in scopes:
        claims.update(email=email, email_verified=False)
    return claims


class OpenIDCode(AuthlibOpenIDCode):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(require_nonce=False)

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        return authorization_codes.nonce_used(db.session, request.payload.client_id, nonce)

    def encode_id_token(self, token: dict[str, Any], request: Any) -> str:
        g.setdefault(_SIGNING, tokens.id_token_signing(runtime().keystore.ring()))
        encoded: str = super().encode_id_token(token, request)
        return encoded

    def _signing(self) -> tokens.IdTokenSigning:
        signing: tokens.IdTokenSigning = g.get(_SIGNING)
        return signing

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self._signing().key

    def get_client_algorithm(self, client: Client) -> str:
        return tokens.ALGORITHM

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return dict(self._signing().header)

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return tokens.id_token_claims(runtime().token_settings, client.get_client_id())

    def generate_user_info(self, user: ActiveSession, scope: str) -> UserInfo:
        membership = user.membership
        claims = identity_claims(membership.user_id, membership.tenant_id, membership.user.email, set(scope.split()))
        if user.session.browser_session_id:
            claims["sid"] = user.session.browser_session_id  # the OP session (OIDC Front-Channel Logout §3)
        return UserInfo(claims)
