"""The gateway contract (SPEC §7): the hot path of the whole platform.

These two views are deliberately lean: no schema round trips, responses built
directly. ``verify`` answers JSON; ``check`` answers with identity headers and an
empty body, for subrequest-style gateways (nginx ``auth_request``, forward-auth).

Per-key rate limits and usage (SPEC §14): a key that carries a limit spends it here
(``services.key_limits``); one without pays a single ``is None`` check. Every answer
about a key we know is counted for its daily usage, in memory (``services.key_usage``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Response, request

from outter_auth import clock, metrics
from outter_auth.api.base import Blueprint, json_body
from outter_auth.credentials import API_KEY_HEADER, AuthenticationFailed, Principal, resolve, verify_key
from outter_auth.rate_limits import client_ip
from outter_auth.runtime import Runtime, runtime
from outter_auth.services import key_usage
from outter_auth.services.key_limits import Verdict

blp = Blueprint("gateway", __name__, url_prefix="/api/auth", description="Gateway contract (SPEC §7)")

REQUIRED_SCOPES_HEADER = "X-Outter-Required-Scopes"
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


INTEGER = {"type": "integer"}
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": {"description": "A rate-limited key: its limit per window", "schema": INTEGER},
    "X-RateLimit-Remaining": {"description": "A rate-limited key: what is left of it", "schema": INTEGER},
    "X-RateLimit-Reset": {"description": "A rate-limited key: its window's end (epoch seconds)", "schema": INTEGER},
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": INTEGER}}


def _json(
    body: dict[str, Any], status: int, retry_after: int | None = None, limited: Verdict | None = None
) -> Response:
    metrics.gateway_result("verify", body.get("code", "valid"))
    response = Response(json.dumps(body, separators=(",", ":")), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = f'ApiKey realm="outter", error="{body["code"]}"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if limited is not None:
        response.headers.update(limited.headers())
    return response


def _count_refusal(state: Runtime, refusal: AuthenticationFailed) -> None:
    """A refused key we know (revoked, expired) counts in its usage; others have no owner."""
    if refusal.key_id is not None:
        state.key_usage.count(refusal.key_id, key_usage.REFUSED, clock.now())


def _over_refusal_budget(code: str) -> int | None:
    """Count a refusal against the caller's IP; the seconds to wait once it is over budget.

    Missing and malformed keys are refused with no I/O at all (SPEC §7) and are not
    counted: they cost us nothing. Valid keys never get here, so the hot path never
    touches the limiter's storage.
    """
    limits = runtime().rate_limits
    if limits is None or code in UNCOUNTED_REFUSALS:
        return None
    ip = client_ip()
    return limits.refusals.over(ip, read=False) or limits.refusals.spend(ip)


def _verify_request() -> tuple[object, list[str]]:
    """The key (header first, then the body) and the required scopes; ValueError if malformed."""
    body: Any = {}
    if request.content_length:
        body = json_body()
        if not isinstance(body, dict) or set(body) - {"key", "required_scopes"}:
            raise ValueError("the body must be a JSON object with `key` and/or `required_scopes`")
    required = body.get("required_scopes", [])
    if (
        not isinstance(required, list)
        or len(required) > MAX_REQUIRED_SCOPES
        or not all(isinstance(s, str) for s in required)
    ):
        raise ValueError("`required_scopes` must be a list of strings")
    return request.headers.get(API_KEY_HEADER, body.get("key")), required


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
            "description": "The key is over its own rate limit, or too many refused keys came from this "
            "address (Retry-After); valid keys without a limit of their own are never limited",
            "content": {"application/json": {"schema": REFUSED}},
            "headers": {**RETRY_AFTER, **RATE_LIMIT_HEADERS},
        },
    },
)
def verify() -> Response:
    try:
        raw, required = _verify_request()
    except ValueError as error:
        return _bad_request(str(error))
    if raw is None:
        return _json({"valid": False, "code": "missing"}, 401)
    state = runtime()
    try:
        key = verify_key(state, raw)
    except AuthenticationFailed as refusal:
        _count_refusal(state, refusal)
        retry_after = _over_refusal_budget(refusal.code)
        if retry_after is not None:
            return _json({"valid": False, "code": "rate_limited"}, 429, retry_after)
        return _json({"valid": False, "code": refusal.code}, 401)
    limited = None
    if key.rate_limit is not None:
        limited = state.key_limiter.spend(key.id, key.rate_limit)
        if not limited.allowed:
            state.key_usage.count(key.id, key_usage.REFUSED, clock.now())
            return _json({"valid": False, "code": "rate_limited"}, 429, limited.retry_after, limited)
    missing = sorted(set(required) - set(key.scopes))
    if missing:
        state.key_usage.count(key.id, key_usage.REFUSED, clock.now())
        return _json({"valid": False, "code": "insufficient_scope", "missing_scopes": missing}, 403, None, limited)
    state.key_usage.count(key.id, key_usage.VERIFIED, clock.now())
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
        None,
        limited,
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
        "429": {
            "description": "The key is over its own rate limit, or too many refused credentials came from this "
            "address (Retry-After)",
            "headers": {**RETRY_AFTER, **RATE_LIMIT_HEADERS},
        },
    },
)
def check() -> Response:
    headers = request.headers
    state = runtime()
    try:
        principal = resolve(state, headers.get(API_KEY_HEADER), headers.get("Authorization"), cached=True)
    except AuthenticationFailed as refusal:
        metrics.gateway_result("check", refusal.code)
        if refusal.code == "missing":
            return _empty(401)
        _count_refusal(state, refusal)
        retry_after = _over_refusal_budget(refusal.code)
        return _empty(401) if retry_after is None else _empty(429, retry_after)
    limited = None
    if principal.rate_limit is not None:  # API keys only
        limited = state.key_limiter.spend(principal.id, principal.rate_limit)
        if not limited.allowed:
            metrics.gateway_result("check", "rate_limited")
            state.key_usage.count(principal.id, key_usage.REFUSED, clock.now())
            return _empty(429, limited.retry_after, limited)
    required = _SCOPE_SEPARATORS.split(headers.get(REQUIRED_SCOPES_HEADER, "").strip())
    if not set(s for s in required if s) <= principal.scopes:
        metrics.gateway_result("check", "insufficient_scope")
        if principal.type == "api_key":
            state.key_usage.count(principal.id, key_usage.REFUSED, clock.now())
        return _empty(403, None, limited)
    metrics.gateway_result("check", "valid")
    if principal.type == "api_key":
        state.key_usage.count(principal.id, key_usage.VERIFIED, clock.now())
    response = _empty(200, None, limited)
    response.headers.update(_identity(principal))
    return response


def _empty(status: int, retry_after: int | None = None, limited: Verdict | None = None) -> Response:
    response = Response(b"", status=status)
    response.headers["Cache-Control"] = "no-store"
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="outter", ApiKey realm="outter"'
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    if limited is not None:
        response.headers.update(limited.headers())
    return response


def _identity(principal: Principal) -> dict[str, str]:
    """SPEC §7's identity headers, with the scopes the caller holds now."""
    identity = {
        "X-Outter-Tenant-Id": principal.tenant_id,
        "X-Outter-Project-Id": principal.project_id or "",
        "X-Outter-Environment": principal.environment or "",
        "X-Outter-Scopes": " ".join(principal.scope_list),
    }
    header = {"api_key": "X-Outter-Key-Id", "user": "X-Outter-User-Id", "client": "X-Outter-Client-Id"}
    identity[header[principal.type]] = principal.id
    return identity
