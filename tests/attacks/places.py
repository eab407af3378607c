"""Every place that reads a credential, and what "refused" means at each.

A Bearer token is read by ``/api/auth/me``, the management API, logout, the gateway
check (offline, like Kong), and the OAuth introspection and revocation endpoints (in the
form body). An API key is read by verify (header and body), the gateway check,
``/api/auth/me``, the management API and introspection. The attack tables present each
credential at every place of its kind; the refusal at each place is its own shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

from tests.oauth_helpers import OUTTER_APP, REVOKE_URL, OAuthClient, bearer, introspect, post_form

ME = "/api/auth/me"
KEYS = "/api/auth/api-keys"
LOGOUT = "/api/auth/logout"
CHECK = "/api/auth/gateway/check"
VERIFY = "/api/auth/api-keys/verify"
IDENTITY_HEADERS = ("X-Outter-Tenant-Id", "X-Outter-User-Id", "X-Outter-Client-Id", "X-Outter-Key-Id")
INACTIVE = {"active": False}
MAX_BODY = 64 * 1024  # MAX_CONTENT_LENGTH
FORM_PLACES = ("introspect", "revoke")


@dataclass(frozen=True)
class Caller:
    """What the places need besides the credential: a test client and an introspecting client of the tenant."""

    client: FlaskClient
    introspector: OAuthClient


def make_caller(client: FlaskClient, owner_headers: dict[str, str]) -> Caller:
    """A caller with a new confidential client of the owner's tenant (made through the REST API)."""
    body = {"name": "Gateway", "grant_types": ["client_credentials"], "scopes": ["users:read"]}
    response = client.post("/api/auth/clients", json=body, headers=owner_headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    return Caller(client, OAuthClient(made["client_id"], made["client_secret"]))


# -- Bearer tokens --------------------------------------------------------------------------

# Where the token travels in an Authorization header (the header itself may be the attack).
HEADER_PLACES: dict[str, Callable[[FlaskClient, dict[str, Any]], Any]] = {
    "me": lambda c, kw: c.get(ME, **kw),
    "management": lambda c, kw: c.get(KEYS, **kw),
    "logout": lambda c, kw: c.post(LOGOUT, **kw),
    "check": lambda c, kw: c.get(CHECK, **kw),
}
BEARER_PLACES = (*HEADER_PLACES, "introspect", "revoke")


def present_bearer(caller: Caller, place: str, token: str) -> list[Any]:
    """The responses to ``token`` at ``place`` (introspection: without and with a hint)."""
    if place in HEADER_PLACES:
        return [HEADER_PLACES[place](caller.client, {"headers": bearer(token)})]
    if place == "introspect":
        return [
            introspect(caller.client, caller.introspector, token),
            introspect(caller.client, caller.introspector, token, token_type_hint="access_token"),
        ]
    if place == "revoke":
        return [post_form(caller.client, REVOKE_URL, {"token": token}, OUTTER_APP, "none")]
    raise ValueError(place)


def bearer_refusal_problems(place: str, response: Any, token: str | None = None, error: str = "invalid_token") -> str:
    """Why ``response`` is not the refusal due at ``place`` ("" if it is).

    ``error``: the RFC 6750 error code the challenge must carry ("" for any of
    invalid_token / invalid_request).
    """
    text = response.get_data(as_text=True)
    status = response.status_code
    if place in FORM_PLACES and token is not None and len(token) > MAX_BODY and status == 413:
        return ""  # the token alone is larger than any request body may be
    if place == "introspect":
        if status != 200 or response.get_json(silent=True) != INACTIVE:
            return f"introspection answered {status} {text[:200]} instead of {INACTIVE}"
        return ""
    if place == "revoke":
        return "" if status == 200 else f"revocation answered {status} {text[:200]} instead of 200"
    challenge = response.headers.get("WWW-Authenticate", "")
    if status != 401:
        return f"{status} instead of 401: {text[:200]}"
    if token and len(token) > 8 and (token in text or token in challenge):
        return "the token is echoed back"
    if place == "check":
        if text:
            return f"the check's refusal has a body: {text[:200]}"
        if not challenge:
            return "no WWW-Authenticate challenge"
        leaked = [h for h in IDENTITY_HEADERS if h in response.headers]
        return f"identity headers on a refusal: {leaked}" if leaked else ""
    if not challenge.startswith("Bearer") or 'realm="outter"' not in challenge:
        return f"challenge {challenge!r} is not a Bearer challenge"
    errors = [error] if error else ["invalid_token", "invalid_request"]
    if not any(f'error="{e}"' in challenge for e in errors):
        return f"challenge {challenge!r} lacks error={errors}"
    body = response.get_json(silent=True) or {}
    if body.get("code") != 401 or body.get("status") != "Unauthorized" or not body.get("message"):
        return f"body {text[:200]} is not the SPEC error shape"
    return ""


# -- API keys -------------------------------------------------------------------------------

KEY_PLACES = ("verify", "verify-body", "check", "me", "management", "introspect")


def present_key(caller: Caller, place: str, raw: str) -> Any:
    client = caller.client
    if place == "verify":
        return client.post(VERIFY, headers={"X-API-Key": raw})
    if place == "verify-body":
        return client.post(VERIFY, json={"key": raw})
    if place == "check":
        return client.get(CHECK, headers={"X-API-Key": raw})
    if place == "me":
        return client.get(ME, headers={"X-API-Key": raw})
    if place == "management":
        return client.get(KEYS, headers={"X-API-Key": raw})
    if place == "introspect":
        return introspect(client, caller.introspector, raw)
    raise ValueError(place)


def key_refusal_problems(place: str, response: Any, raw: str, code: str) -> str:
    """Why ``response`` is not the refusal of key ``raw`` for ``code`` at ``place`` ("" if it is).

    ``code`` is SPEC §7's reason (malformed, unknown, revoked, expired); the JSON
    endpoints name it, the check says nothing, introspection says only "inactive".
    """
    text = response.get_data(as_text=True)
    status = response.status_code
    secret = raw[12:] if len(raw) > 16 else ""
    if secret and secret in text + str(response.headers):
        return "the key is echoed back"
    if place == "introspect":
        ok = status == 200 and response.get_json(silent=True) == INACTIVE
        return "" if ok else f"introspection answered {status} {text[:200]} instead of {INACTIVE}"
    if status != 401:
        return f"{status} instead of 401: {text[:200]}"
    challenge = response.headers.get("WWW-Authenticate", "")
    if place == "check":
        if text:
            return f"the check's refusal has a body: {text[:200]}"
        leaked = [h for h in IDENTITY_HEADERS if h in response.headers]
        return f"identity headers on a refusal: {leaked}" if leaked else ""
    if not challenge.startswith("ApiKey"):
        return f"challenge {challenge!r} is not an ApiKey challenge"
    body = response.get_json(silent=True) or {}
    if place in ("verify", "verify-body"):
        return "" if body == {"valid": False, "code": code} else f"verify answered {body} instead of code {code!r}"
    if 'error="invalid_key"' not in challenge:
        return f"challenge {challenge!r} lacks error=invalid_key"
    if body.get("code") != 401 or body.get("status") != "Unauthorized" or code not in body.get("message", ""):
        return f"body {body} is not the SPEC error shape naming {code!r}"
    return ""
