"""Digests of high-entropy secrets (client secrets, API keys): fast, peppered, compared in constant time.

These secrets carry >= 190 bits of entropy, so a slow hash buys nothing (SPEC §6);
the pepper (``OUTTER_API_KEY_PEPPER``) keeps a stolen table useless without the config.
"""

from __future__ import annotations

import hashlib
import hmac


def secret_digest(secret: str, pepper: str) -> bytes:
    raw = secret.encode("utf-8")
    if pepper:
        return hmac.new(pepper.encode("utf-8"), raw, hashlib.sha256).digest()
    return hashlib.sha256(raw).digest()


def secret_matches(secret: str, stored: bytes | None, pepper: str) -> bool:
    if stored is None:
        return False
    return hmac.compare_digest(secret_digest(secret, pepper), stored)
