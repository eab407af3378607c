"""The authorization code grant (RFC 6749 §4.1, SPEC §11) on Authlib, with PKCE and OIDC.

Authlib validates the authorization request (client, redirect URI, response type, scope),
builds the redirect with ``code`` and ``state``, and at the token endpoint checks the
client, the code's redirect URI and, through :class:`S256Challenge`, the PKCE verifier;
``OpenIDCode`` (``oauth/openid.py``) adds the ID token. The codes themselves are
``services.authorization_codes``: stored as digests, spent once, and a reused one revokes
what it issued.

Stricter than RFC 6749 on purpose (RFC 9700, OAuth 2.1): PKCE with S256 for every client,
confidential ones included; ``redirect_uri`` always required; a repeated parameter is an
error; ``request``, ``request_uri`` and response modes other than ``query`` are refused.
"""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.errors import AccessDeniedError, InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError

from outter_auth.api.base import request_origin
from outter_auth.extensions import db
from outter_auth.models import AuthorizationCode
from outter_auth.oauth.clients import ALL_METHODS, Client, check_requested_scope
from outter_auth.runtime import runtime
from outter_auth.scopes import OFFLINE_ACCESS, user_scopes
from outter_auth.services import authorization_codes, sessions
from outter_auth.services.browser_sessions import SignedIn

PKCE_METHOD = "S256"
PRINTABLE_NAME = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]{1,40}")
# Parameters that decide where errors may be sent: repeated, no redirect can be trusted.
ADDRESSING = ("response_type", "client_id", "redirect_uri")
PROMPTS = frozenset({"none", "login", "consent"})
MAX_NONCE = 255
MAX_LOGIN_HINT = 320
MAX_AGE_DIGITS = 9


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """RFC 7636 for every client, S256 only (RFC 9700 §2.1.1): a missing challenge, a missing
    method (which RFC 7636 reads as ``plain``) or ``plain`` itself is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = PKCE_METHOD
    SUPPORTED_CODE_CHALLENGE_METHOD = [PKCE_METHOD]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != PKCE_METHOD:
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)


class IssuedCode:
    """Authlib's view of a stored code (``AuthorizationCodeMixin`` and what ``CodeChallenge``
    and ``OpenIDCode`` read)."""

    def __init__(self, record: AuthorizationCode) -> None:
        self.record = record
        self.code_challenge = record.code_challenge
        self.code_challenge_method = record.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.record.redirect_uri

    def get_scope(self) -> str:
        return self.record.scope

    def get_nonce(self) -> str | None:
        return self.record.nonce

    def get_auth_time(self) -> int:
        return int(self.record.auth_time.timestamp())

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> list[str]:
        return ["pwd"]


def granted_scopes(client: Client, signed_in: SignedIn, requested: str | None) -> tuple[str, ...]:
    """What the signed-in user gets through ``client`` for the ``scope`` parameter (SPEC §11):
    what consent asks for and what the code carries."""
    role = signed_in.role or ""
    wanted = requested.split() if requested else None
    return user_scopes(wanted, client.info.scopes, role, runtime().settings.scopes)


def check_authorization_parameters(grant: Any, redirect_uri: str) -> None:
    """What Authlib leaves to us, checked once the redirect URI is trusted (errors redirect)."""
    request = grant.request
    repeated = [name for name, values in request.payload.datalist.items() if len(values) > 1]
    if repeated:
        # RFC 6749 §5.2 allows only some characters in a description: a name outside them is not echoed.
        named = " ".join(name for name in repeated if PRINTABLE_NAME.fullmatch(name))
        raise InvalidRequestError(f"parameter sent more than once: {named}" if named else "a parameter was repeated")
    data = request.payload.data
    if "request" in data:
        raise RequestNotSupportedError()
    if "request_uri" in data:
        raise RequestURINotSupportedError()
    if data.get("response_mode", "query") != "query":
        raise InvalidRequestError("response_mode must be query")
    prompts = (data.get("prompt") or "").split()
    if not set(prompts) <= PROMPTS or ("none" in prompts and len(prompts) > 1):
        raise InvalidRequestError("prompt must be none, login or consent (none alone)")
    max_age = data.get("max_age")
    if max_age is not None and not (max_age.isdigit() and len(max_age) <= MAX_AGE_DIGITS):
        raise InvalidRequestError("max_age must be a number of seconds")
    if len(data.get("nonce") or "") > MAX_NONCE:
        raise InvalidRequestError(f"nonce is at most {MAX_NONCE} characters")
    if len(data.get("login_hint") or "") > MAX_LOGIN_HINT:
        raise InvalidRequestError("login_hint is too long")


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_METHODS

    def __init__(self, request: Any, server: Any) -> None:
        super().__init__(request, server)
        self.register_hook("after_validate_authorization_request_payload", check_authorization_parameters)

    @staticmethod
    def validate_no_multiple_request_parameter(request: Any) -> None:
        # Only what addresses the answer is checked before the redirect URI is: the rest are
        # errors sent back to the client (check_authorization_parameters).
        for name in ADDRESSING:
            if len(request.payload.datalist.get(name, [])) > 1:
                raise InvalidRequestError(f"parameter sent more than once: {name}")

    def validate_requested_scope(self) -> None:
        check_requested_scope(self.request)

    def generate_authorization_code(self) -> str:
        return authorization_codes.new_code()

    def save_authorization_code(self, code: str, request: Any) -> None:
        signed_in: SignedIn = request.user
        client: Client = request.client
        data = request.payload.data
        if signed_in.tenant_id is None:
            raise RuntimeError("a code is only issued once the browser session has a tenant")
        binding = authorization_codes.CodeBinding(
            client_id=client.get_client_id(),
            user_id=signed_in.user_id,
            tenant_id=signed_in.tenant_id,
            browser_session_id=signed_in.id,
            redirect_uri=request.payload.redirect_uri,
            scopes=granted_scopes(client, signed_in, request.payload.scope),
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
            nonce=data.get("nonce") or None,
            auth_time=signed_in.auth_time,
        )
        try:
            authorization_codes.issue(db.session, code, binding)
        except authorization_codes.CodeRefused:  # signed out in another tab a moment ago
            raise AccessDeniedError("the sign-in ended", redirect_uri=binding.redirect_uri) from None

    def query_authorization_code(self, code: str, client: Client) -> IssuedCode | None:
        try:
            record = authorization_codes.find(db.session, code, client.get_client_id(), request_origin())
        except authorization_codes.CodeRefused as error:
            raise InvalidGrantError(str(error)) from None
        return IssuedCode(record) if record is not None else None

    def authenticate_user(self, authorization_code: IssuedCode) -> sessions.ActiveSession:
        client: Client = self.request.client
        settings = runtime().settings
        try:
            return authorization_codes.redeem(
                db.session,
                authorization_code.record,
                client_scopes=client.info.scopes,
                catalogue=settings.scopes,
                session_ttl=settings.refresh_token_ttl,
                origin=request_origin(),
            )
        except authorization_codes.CodeRefused as error:
            raise InvalidGrantError(str(error)) from None

    def delete_authorization_code(self, authorization_code: IssuedCode) -> None:
        """Spent already, in ``authenticate_user`` (deleting it would forget a replay)."""

    def generate_token(self, user: sessions.ActiveSession, **_: Any) -> dict[str, Any]:
        client: Client = self.request.client
        # SPEC §11: a refresh token for first-party clients, and for others with offline_access.
        refresh = client.check_grant_type("refresh_token") and (
            client.info.is_first_party or OFFLINE_ACCESS in user.scopes
        )
        return runtime().issuer.session_tokens(user, with_refresh_token=refresh)
