"""The gateway contract (SPEC §7): the hot path of the whole platform.

These two views are deliberately lean: no schema round trips, responses built
directly. ``verify`` answers JSON; ``check`` answers with identity headers and an
empty body, for subrequest-style gateways (nginx ``auth_request``, forward-auth).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, request
from flask_smorest import Blueprint

from outter_auth import clock
from outter_auth.auth import API_KEY_HEADER
from outter_auth.runtime import runtime
from outter_auth.services import tokens
from outter_auth.services.api_keys import ApiKeyRefused
from outter_auth.services.gateway_tokens import verify_bearer
from outter_auth.services.key_cache import KeySnapshot

blp = Blueprint("gateway", __name__, url_prefix="/api/auth", description="Gateway contract (SPEC §7)")

REQUIRED_SCOPES_HEADER = "X-Outter-Required-Scopes"
_BEARER = re.compile(r"Bearer +([A-Za-z0-9\-._~+/]+=*)", re.IGNORECASE)
_SCOPE_SEPARATORS = re.compile(r"[\s,]+")
MAX_REQUIRED_SCOPES = 100

STRING = {"type": "string"}
VERIFY_BODY = {
    "required": False,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "key": {**STRING, "description": "The key, if not sent in X-API-Key"},
                    "required_scopes": {"type": "array", "items": STRING, "maxItems": MAX_REQUIRED_SCOPES},
                },
            }
        }
    },
}
VERIFIED = {
    "type": "object",
    "properties": {
        "valid": {"type": "boolean"},
        "key_id": STRING,
        "tenant_id": STRING,
        "project_id": {"type": "string", "nullable": True},
        "environment": STRING,
        "scopes": {"type": "array", "items": STRING},
        "expires_at": {"type": "string", "format": "date-time", "nullable": True},
    },
}
REFUSED = {
    "type": "object",
    "properties": {
        "valid": {"type": "boolean"},
        "code": {
            "type": "string",
            "enum": ["missing", "malformed", "unknown", "revoked", "expired", "insufficient_scope"],
        },
        "missing_scopes": {"type": "array", "items": STRING},
    },
}


def _json(body: dict[str, Any], status: int) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = f'ApiKey realm="outter", error="{body["code"]}"'
    return response


def _bad_request(message: str) -> Response:
    return _json({"valid": False, "code": "malformed", "message": message}, 400)


@blp.route("/api-keys/verify", methods=["POST"])
@blp.doc(
    summary="Verify an API key",
    description="For gateways: the key in X-API-Key (or JSON `key`), optional `required_scopes`.",
    requestBody=VERIFY_BODY,
    parameters=[{"in": "header", "name": API_KEY_HEADER, "schema": STRING, "required": False}],
    responses={
        "200": {"description": "Valid", "content": {"application/json": {"schema": VERIFIED}}},
        "400": {"description": "Malformed request", "content": {"application/json": {"schema": REFUSED}}},
        "401": {"description": "Refused", "content": {"application/json": {"schema": REFUSED}}},
        "403": {"description": "A required scope is missing", "content": {"application/json": {"schema": REFUSED}}},
    },
)
def verify() -> Response:
    body: Any = {}
    if request.content_length:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or set(body) - {"key", "required_scopes"}:
            return _bad_request("the body must be a JSON object with `key` and/or `required_scopes`")
    raw = request.headers.get(API_KEY_HEADER, body.get("key"))
    required = body.get("required_scopes", [])
    if (
        not isinstance(required, list)
        or len(required) > MAX_REQUIRED_SCOPES
        or not all(isinstance(s, str) for s in required)
    ):
        return _bad_request("`required_scopes` must be a list of strings")
    if raw is None:
        return _json({"valid": False, "code": "missing"}, 401)
    try:
        key = _verify_key(raw)
    except ApiKeyRefused as refusal:
        return _json({"valid": False, "code": refusal.code}, 401)
    missing = sorted(set(required) - set(key.scopes))
    if missing:
        return _json({"valid": False, "code": "insufficient_scope", "missing_scopes": missing}, 403)
    return _json(
        {
            "valid": True,
            "key_id": key.id,
            "tenant_id": key.tenant_id,
            "project_id": key.project_id,
            "environment": key.environment,
            "scopes": list(key.scopes),
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
        200,
    )


@blp.route("/gateway/check", methods=["GET"])
@blp.doc(
    summary="Check a request's credential (auth subrequest)",
    description="X-API-Key or Authorization: Bearer; optional X-Outter-Required-Scopes (space or comma "
    "separated). 200 with identity headers, or 401/403 with an empty body.",
    parameters=[
        {"in": "header", "name": API_KEY_HEADER, "schema": STRING, "required": False},
        {"in": "header", "name": REQUIRED_SCOPES_HEADER, "schema": STRING, "required": False},
    ],
    responses={
        "200": {"description": "Allowed; identity in X-Outter-* headers"},
        "401": {"description": "No valid credential"},
        "403": {"description": "A scope is missing"},
    },
)
def check() -> Response:
    raw = request.headers.get(API_KEY_HEADER)
    authorization = request.headers.get("Authorization")
    try:
        if raw is not None:
            identity = _key_identity(_verify_key(raw))
        elif authorization is not None:
            identity = _token_identity(authorization)
        else:
            return _empty(401)
    except (ApiKeyRefused, tokens.InvalidToken):
        return _empty(401)
    required = _SCOPE_SEPARATORS.split(request.headers.get(REQUIRED_SCOPES_HEADER, "").strip())
    if not set(s for s in required if s) <= set(identity["X-Outter-Scopes"].split()):
        return _empty(403)
    response = _empty(200)
    response.headers.update(identity)
    return response


def _empty(status: int) -> Response:
    response = Response(b"", status=status)
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="outter", ApiKey realm="outter"'
    return response


def _verify_key(raw: object) -> KeySnapshot:
    state = runtime()
    state.invalidation.start()
    key = state.key_verifier.verify(raw)
    state.last_used.touch(key.id, clock.now())
    return key


def _key_identity(key: KeySnapshot) -> dict[str, str]:
    return {
        "X-Outter-Key-Id": key.id,
        "X-Outter-Tenant-Id": key.tenant_id,
        "X-Outter-Project-Id": key.project_id or "",
        "X-Outter-Environment": key.environment,
        "X-Outter-Scopes": " ".join(key.scopes),
    }


def _token_identity(authorization: str) -> dict[str, str]:
    match = _BEARER.fullmatch(authorization.strip())
    if match is None:
        raise tokens.InvalidToken("malformed Authorization header")
    claims = verify_bearer(match.group(1))
    identity = {
        "X-Outter-Tenant-Id": str(claims["tenant_id"]),
        "X-Outter-Project-Id": "",
        "X-Outter-Environment": "",
        "X-Outter-Scopes": str(claims.get("scope") or ""),
    }
    if "sid" in claims:
        identity["X-Outter-User-Id"] = str(claims["sub"])
    else:
        identity["X-Outter-Client-Id"] = str(claims["sub"])
    return identity
