"""Public discovery: the JWKS, and the OpenID Provider Metadata (OIDC Discovery §3) which is
also the authorization-server metadata (RFC 8414)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Response, request
from flask.views import MethodView

from outter_auth import clock
from outter_auth.api.base import Blueprint
from outter_auth.oauth import AUTH_METHODS_SUPPORTED, SECRET_METHODS
from outter_auth.oauth.code_grant import PKCE_METHOD, PROMPTS
from outter_auth.runtime import runtime
from outter_auth.scopes import MANAGEMENT_SCOPES, OIDC_SCOPES
from outter_auth.services.grant_types import GRANT_TYPES

blp = Blueprint("wellknown", __name__, url_prefix="/.well-known", description="Discovery and public keys")

# The JWKS body changes only when the set of published keys does; gateways fetch it
# often, so it is built once per key set and the published set re-derived at most
# once a second (a retired key leaves on a whole-second boundary anyway).
_bodies: dict[tuple[str, ...], tuple[bytes, str]] = {}
# (ring, second, body, etag) of the last answer. The ring itself, not its id(): a new
# ring (a reload, another app) could be given the id of a freed one within the same second.
_current: tuple[object, int, bytes, str] | None = None


def _jwks_body() -> tuple[bytes, str]:
    global _current
    ring = runtime().keystore.ring()
    second = clock.timestamp()  # the clock the key states are derived from
    current = _current
    if current is not None and current[0] is ring and current[1] == second:
        return current[2], current[3]
    jwks = ring.published_jwks()
    kids = tuple(key["kid"] for key in jwks["keys"])
    built = _bodies.get(kids)
    if built is None:
        body = json.dumps(jwks, separators=(",", ":")).encode()
        built = _bodies[kids] = (body, hashlib.sha256(body).hexdigest()[:32])
    _current = (ring, second, *built)  # one ring at a time: older snapshots are let go
    return built


@blp.route("/jwks.json")
class Jwks(MethodView):
    @blp.response(200, description="The public signing keys (RFC 7517)")
    @blp.alt_response(304, description="Not modified (If-None-Match matched the ETag)")
    def get(self) -> Response:
        """Public signing keys

        Cacheable for ``OUTTER_JWKS_MAX_AGE`` seconds; answers 304 to a matching
        ``If-None-Match``.
        """
        body, etag = _jwks_body()
        headers = {
            "Cache-Control": f"public, max-age={runtime().settings.jwks_max_age}",
            "ETag": f'"{etag}"',
        }
        if request.if_none_match.contains_weak(etag):  # RFC 9110 §13.1.2: weak comparison
            return Response(status=304, headers=headers)
        return Response(body, mimetype="application/json", headers=headers)


def server_metadata() -> dict[str, Any]:
    """What exists, and nothing more (RFC 8414 §2, OpenID Connect Discovery §3)."""
    settings = runtime().settings
    issuer = settings.issuer
    scopes = dict.fromkeys([*OIDC_SCOPES, *MANAGEMENT_SCOPES, *settings.scopes])
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "userinfo_endpoint": f"{issuer}/oauth/userinfo",
        "end_session_endpoint": f"{issuer}/oauth/logout",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": [PKCE_METHOD],
        "token_endpoint_auth_methods_supported": AUTH_METHODS_SUPPORTED,
        "revocation_endpoint_auth_methods_supported": AUTH_METHODS_SUPPORTED,
        "introspection_endpoint_auth_methods_supported": SECRET_METHODS,
        "scopes_supported": list(scopes),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "prompt_values_supported": sorted(PROMPTS),
        "claims_supported": [
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "azp",
            "amr",
            "sid",
            "email",
            "email_verified",
            "tenant_id",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        # OIDC Discovery §3 makes this true when absent: say that there is none.
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
    }


@blp.route("/openid-configuration")
class OpenIdConfiguration(MethodView):
    @blp.response(200, description="Provider metadata")
    def get(self) -> dict[str, Any]:
        """OpenID Connect discovery document"""
        return server_metadata()


@blp.route("/oauth-authorization-server")
class AuthorizationServerMetadata(MethodView):
    @blp.response(200, description="Authorization server metadata (RFC 8414)")
    def get(self) -> dict[str, Any]:
        """OAuth 2.0 authorization server metadata"""
        return server_metadata()
