"""Bearer JWTs at the gateway check: verified like any gateway would, offline.

A verified token's claims are cached by the token's SHA-256 until it expires, so
a client re-sending its token skips the RSA work; the cache is bounded, and a
cached token is still refused once its ``exp`` has passed. Like the offline
gateways (Kong, Apache), this does not consult the revocation list.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from cachetools import TTLCache
from flask import current_app

from outter_auth import clock
from outter_auth.services import tokens

MAX_ENTRIES = 50_000
CACHE_SECONDS = 60

_lock = threading.Lock()
_cache: TTLCache[bytes, dict[str, Any]] = TTLCache(MAX_ENTRIES, CACHE_SECONDS, timer=time.monotonic)


def verify_bearer(token: str) -> dict[str, Any]:
    if len(token) > tokens.MAX_TOKEN_LENGTH:
        raise tokens.InvalidToken("malformed token")
    state = current_app.extensions["outter_auth"]
    fingerprint = hashlib.sha256(f"{id(state)}:{token}".encode()).digest()
    with _lock:
        claims: dict[str, Any] | None = _cache.get(fingerprint)
    if claims is not None:
        if claims["exp"] + state.token_settings.leeway > clock.timestamp():
            return claims
        raise tokens.InvalidToken("token expired")
    claims = tokens.verify_access_token(token, state.keystore.ring(), state.token_settings)
    with _lock:
        _cache[fingerprint] = claims
    return claims
