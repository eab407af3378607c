"""Signature checks of Bearer JWTs, remembered: a client re-sending its token skips the RSA work.

Verified claims are kept by the token's SHA-256 until the token expires (at most
``CACHE_SECONDS``), bounded in number, and only for the key ring they were verified
against: a reloaded ring (a key rotated, retired or revoked) checks every token again.
A cached token is still refused once its ``exp`` has passed. What the token's holder
may still do (revocation, session, membership, client) is ``services.token_state``'s.
"""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from cachetools import TTLCache

from outter_auth import clock
from outter_auth.services import tokens
from outter_auth.services.signing_keys import KeyRing

MAX_ENTRIES = 50_000
CACHE_SECONDS = 60


class VerifiedTokens:
    def __init__(self, settings: tokens.TokenSettings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._cache: TTLCache[bytes, tuple[KeyRing, dict[str, Any]]] = TTLCache(
            MAX_ENTRIES, CACHE_SECONDS, timer=time.monotonic
        )

    def verify(self, token: str, ring: KeyRing) -> dict[str, Any]:
        """The claims of a valid access token, or :class:`tokens.InvalidToken`."""
        if len(token) > tokens.MAX_TOKEN_LENGTH:
            raise tokens.InvalidToken("malformed token")
        fingerprint = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        with self._lock:
            cached = self._cache.get(fingerprint)
        if cached is not None and cached[0] is ring:
            claims = cached[1]
            if claims["exp"] + self._settings.leeway > clock.timestamp():
                return claims
            raise tokens.InvalidToken("token expired")
        claims = tokens.verify_access_token(token, ring, self._settings)
        with self._lock:
            self._cache[fingerprint] = (ring, claims)
        return claims
