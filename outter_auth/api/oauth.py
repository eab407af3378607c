"""OAuth 2.0 endpoints (form-encoded): token, revocation, introspection."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from outter_auth.api.base import Blueprint
from outter_auth.oauth import authorization_server
from outter_auth.services.grant_types import GRANT_TYPES

blp = Blueprint("oauth", __name__, url_prefix="/oauth", description="OAuth 2.0 (RFC 6749, RFC 7009, RFC 7662)")

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
