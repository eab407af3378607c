"""OAuth 2.0 and OpenID Connect endpoints: authorization (the browser's way in, SPEC §11),
token, revocation, introspection (form-encoded), userinfo and logout."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from flask.views import MethodView

from outter_auth.api.base import Blueprint
from outter_auth.credentials import AuthenticationFailed, resolve
from outter_auth.oauth import authorization_server
from outter_auth.oauth.openid import identity_claims
from outter_auth.pages import flow
from outter_auth.pages.views import logout
from outter_auth.runtime import runtime
from outter_auth.scopes import OPENID
from outter_auth.services.grant_types import GRANT_TYPES

blp = Blueprint(
    "oauth",
    __name__,
    url_prefix="/oauth",
    description="OAuth 2.0 (RFC 6749, RFC 7636, RFC 7009, RFC 7662, RFC 9207) and OpenID Connect",
)

CLIENT_AUTH = [{"clientBasic": []}, {}]  # client_secret_basic, or client_id (+ secret) in the form


def _form(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    # Unknown parameters are ignored (RFC 6749 §3.2), but none may be sent twice: one string each.
    schema = {"type": "object", "properties": properties, "required": required, "additionalProperties": STRING}
    return {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": schema}}}


def _json(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "properties": properties}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


STRING = {"type": "string"}
OAUTH_ERROR_FIELDS = {"error": STRING, "error_description": STRING}
OAUTH_ERROR = _json("RFC 6749 §5.2 error", OAUTH_ERROR_FIELDS)
TOO_MANY = {
    **_json("Too many attempts from this address, for this user or client (Retry-After)", OAUTH_ERROR_FIELDS),
    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
}
CLIENT_FIELDS = {"client_id": STRING, "client_secret": STRING}
TOKEN_FORM = _form(
    {
        "grant_type": {
            "type": "string",
            "enum": list(GRANT_TYPES),
            "description": "; ".join(f"{grant.name}: {grant.summary}" for grant in GRANT_TYPES.values()),
        },
        "username": STRING,
        "password": STRING,
        "tenant": {**STRING, "description": "Tenant slug or id (password grant, users of several tenants)"},
        "refresh_token": STRING,
        "scope": STRING,
        **CLIENT_FIELDS,
    },
    ["grant_type"],
)
TOKEN_BODY = _json(
    "Tokens (RFC 6749 §5.1)",
    {
        "access_token": STRING,
        "token_type": STRING,
        "expires_in": {"type": "integer"},
        "refresh_token": STRING,
        "scope": STRING,
    },
)
TOKEN_PARAM_FORM = _form(
    {
        "token": {**STRING, "description": "An empty or unknown token is an invalid token: 200, nothing happens"},
        "token_type_hint": {
            **STRING,
            "description": "access_token or refresh_token; advisory: an unknown hint is ignored (RFC 7009 §2.1)",
        },
        **CLIENT_FIELDS,
    },
    ["token"],
)


@blp.route("/token")
class TokenEndpoint(MethodView):
    @blp.doc(
        requestBody=TOKEN_FORM,
        security=CLIENT_AUTH,
        responses={"200": TOKEN_BODY, "400": OAUTH_ERROR, "401": OAUTH_ERROR, "429": TOO_MANY},
    )
    def post(self) -> Response:
        """Issue tokens

        For each grant type of the ``grant_type`` enum. Every answer has ``Cache-Control: no-store``.
        """
        return authorization_server().create_token_response()


@blp.route("/revoke")
class RevocationEndpoint(MethodView):
    @blp.doc(
        requestBody=TOKEN_PARAM_FORM,
        security=CLIENT_AUTH,
        responses={"200": _json("Revoked, or not a token of this client", {}), "400": OAUTH_ERROR, "401": OAUTH_ERROR},
    )
    def post(self) -> Response:
        """Revoke a token (RFC 7009)

        A refresh token ends its session; an access token is denied until it expires.
        Unknown tokens, and tokens of other clients, answer 200 and change nothing.
        """
        return authorization_server().create_endpoint_response("revocation")


@blp.route("/introspect")
class IntrospectionEndpoint(MethodView):
    @blp.doc(
        requestBody=TOKEN_PARAM_FORM,
        security=CLIENT_AUTH,
        responses={
            "200": _json("RFC 7662 §2.2: active, and the token's claims when active", {"active": {"type": "boolean"}}),
            "400": OAUTH_ERROR,
            "401": OAUTH_ERROR,
        },
    )
    def post(self) -> Response:
        """Introspect a token (RFC 7662)

        For confidential clients; a client learns only about tokens of its own tenant.
        """
        return authorization_server().create_endpoint_response("introspection")


HTML_PAGE = {"description": "", "content": {"text/html": {"schema": {"type": "string"}}}}
QUERY = "query"


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {"in": QUERY, "name": name, "required": required, "schema": STRING, "description": description}


AUTHORIZE_PARAMETERS = [
    _query("response_type", "code (the only one)", True),
    _query("client_id", "The client", True),
    _query("redirect_uri", "Registered for the client, matched exactly (loopback ports vary for public clients)", True),
    _query("scope", "Space-separated; openid for an ID token, offline_access for a third party's refresh token"),
    _query("state", "Echoed back unchanged"),
    _query("code_challenge", "PKCE (RFC 7636), required for every client", True),
    _query("code_challenge_method", "S256 (plain is refused)", True),
    _query("nonce", "Echoed in the ID token"),
    _query("prompt", "none, login or consent"),
    _query("max_age", "Seconds since the last sign-in beyond which the user signs in again"),
    _query("login_hint", "The email to fill in"),
    _query("tenant", "Tenant slug or id (an extension), for users of several tenants"),
]


@blp.route("/authorize")
class AuthorizationEndpoint(MethodView):
    @blp.doc(
        parameters=AUTHORIZE_PARAMETERS,
        responses={
            "302": {"description": "To the redirect URI with code, state and iss; or error, state and iss"},
            "400": {**HTML_PAGE, "description": "Unknown client or unregistered redirect URI: a page, no redirect"},
        },
    )
    def get(self) -> Response:
        """Authorize (sign a user in through the browser)

        RFC 6749 §4.1 with PKCE (S256, every client) and OpenID Connect. Without a browser
        session the user is sent to the sign-in page, then to the tenant choice and the
        consent page when needed; every answer carries ``iss`` (RFC 9207).
        """
        return flow.proceed(flow.Pending.arrived(request.query_string.decode("utf-8", "replace")))


USERINFO = _json("Claims about the user that the token's scopes allow", {"sub": STRING, "tenant_id": STRING})


@blp.route("/userinfo")
class UserInfoEndpoint(MethodView):
    @blp.doc(
        security=[{"bearerAuth": []}],
        responses={"200": USERINFO, "401": OAUTH_ERROR, "403": OAUTH_ERROR},
    )
    def get(self) -> Response:
        """UserInfo (OpenID Connect Core §5.3)

        For an access token with the ``openid`` scope: ``sub``, ``tenant_id``, and ``email``
        and ``email_verified`` with the ``email`` scope.
        """
        return _userinfo()

    @blp.doc(security=[{"bearerAuth": []}], responses={"200": USERINFO, "401": OAUTH_ERROR, "403": OAUTH_ERROR})
    def post(self) -> Response:
        """UserInfo (POST)"""
        return _userinfo()


def _userinfo() -> Response:
    try:
        principal = resolve(runtime(), None, request.headers.get("Authorization"), cached=False)
    except AuthenticationFailed as failed:
        return _bearer_error(401, failed.error or "invalid_token", str(failed), failed.challenge)
    if principal.type != "user" or OPENID not in principal.scopes:
        challenge = 'Bearer realm="outter", error="insufficient_scope", scope="openid"'
        return _bearer_error(403, "insufficient_scope", "the token has no openid scope", challenge)
    claims = identity_claims(principal.id, principal.tenant_id, principal.email or "", principal.scopes)
    return Response(json.dumps(claims), 200, mimetype="application/json", headers={"Cache-Control": "no-store"})


def _bearer_error(status: int, error: str, description: str, challenge: str) -> Response:
    body = {"error": error, "error_description": description}
    headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
    return Response(json.dumps(body), status, mimetype="application/json", headers=headers)


LOGOUT_PARAMETERS = [
    _query("id_token_hint", "An ID token this service issued (it may have expired)"),
    _query("post_logout_redirect_uri", "Registered for the client, matched exactly"),
    _query("client_id", "The client (or the audience of id_token_hint)"),
    _query("state", "Echoed back on the redirect"),
]


@blp.route("/logout")
class EndSessionEndpoint(MethodView):
    @blp.doc(
        parameters=LOGOUT_PARAMETERS,
        responses={
            "200": {**HTML_PAGE, "description": "Signed out, or asked to confirm"},
            "302": {"description": "To the post-logout redirect URI, with state"},
            "400": {**HTML_PAGE, "description": "An invalid request (bad id_token_hint, client mismatch)"},
        },
    )
    def get(self) -> Response:
        """End the browser session (OpenID Connect RP-Initiated Logout 1.0)

        Ends the browser session and every session (refresh-token family) started from it.
        Without an ``id_token_hint`` of this session, the user confirms on a page first.
        """
        return logout()

    @blp.doc(
        requestBody={
            **_form(
                {
                    "id_token_hint": STRING,
                    "post_logout_redirect_uri": STRING,
                    "client_id": STRING,
                    "state": STRING,
                    "csrf_token": {**STRING, "description": "Set by the confirmation page's form"},
                },
                [],
            ),
            "required": False,
        },
        responses={
            "200": {**HTML_PAGE, "description": "Signed out, or asked to confirm"},
            "302": {"description": "To the post-logout redirect URI, with state"},
            "400": {**HTML_PAGE, "description": "An invalid request (bad id_token_hint, client mismatch)"},
        },
    )
    def post(self) -> Response:
        """End the browser session (the parameters in a form)

        The same as GET; the confirmation page's form posts here with its CSRF token.
        """
        return logout()
