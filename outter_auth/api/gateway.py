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

from outter_auth import clock
from outter_auth.api.base import Blueprint, json_body
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
UNCOUNTED_REFUSALS = frozenset({"missing", "malformed"})

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
            "enum": ["missing", "malformed", "unknown", "revoked", "expired", "insufficient_scope", "rate_limited"],
        },
        "missing_scopes": {"type": "array", "items": STRING},
    },
}


def _json(body: dict[str, Any], status: int, retry_after: int | None = None) -> Response:
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = f'ApiKey realm="outter", error="{body["code"]}"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def _over_refusal_budget(code: str) -> int | None:
    """Count a refusal against the caller's IP; the seconds to wait once it is over budget.

    Missing and malformed keys are refused with no I/O at all (SPEC §7) and are not
    counted: they cost us nothing. Valid keys never get here, so the hot path never
    touches the limiter's storage.
    """
    limits = runtime().rate_limits
    if limits is None or code in UNCOUNTED_REFUSALS:
        return None
    return limits.refusals.spend()


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
        "429": {
            "description": "Too many refused keys from this address (Retry-After); valid keys are never limited",
            "content": {"application/json": {"schema": REFUSED}},
        },
    },
)
def verify() -> Response:
    body: Any = {}
    if request.content_length:
        body = json_body()
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
        retry_after = _over_refusal_budget(refusal.code)
        if retry_after is not None:
            return _json({"valid": False, "code": "rate_limited"}, 429, retry_after)
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
    description="X-API-Key or Authorization: Bearer (not both); optional X-Outter-Required-Scopes (space or "
    "comma separated). 200 with identity headers, or 401/403 with an empty body.",
    parameters=[
        {"in": "header", "name": API_KEY_HEADER, "schema": STRING, "required": False},
        {"in": "header", "name": REQUIRED_SCOPES_HEADER, "schema": STRING, "required": False},
    ],
    responses={
        "200": {"description": "Allowed; identity in X-Outter-* headers"},
        "401": {"description": "No valid credential"},
        "403": {"description": "A scope is missing"},
        "429": {"description": "Too many refused credentials from this address (Retry-After)"},
    },
)
def check() -> Response:
    raw = request.headers.get(API_KEY_HEADER)
    authorization = request.headers.get("Authorization")
    if raw is not None and authorization is not None:
        # As everywhere else (auth.py): one credential. Passing on a key would let an
        # unchecked Bearer token ride along to a service that reads Authorization itself.
        return _empty(401)
    try:
        if raw is not None:
            identity = _key_identity(_verify_key(raw))
        elif authorization is not None:
            identity = _token_identity(authorization)
        else:
            return _empty(401)
    except (ApiKeyRefused, tokens.InvalidToken) as refusal:
        retry_after = _over_refusal_budget(getattr(refusal, "code", "invalid_token"))
        return _empty(401) if retry_after is None else _empty(429, retry_after)
    required = _SCOPE_SEPARATORS.split(request.headers.get(REQUIRED_SCOPES_HEADER, "").strip())
    if not set(s for s in required if s) <= set(identity["X-Outter-Scopes"].split()):
        return _empty(403)
    response = _empty(200)
    response.headers.update(identity)
    return response


def _empty(status: int, retry_after: int | None = None) -> Response:
    response = Response(b"", status=status)
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="outter", ApiKey realm="outter"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
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
