"""Per-app runtime state (settings, signing keys), reached through ``runtime()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app

from outter_auth.config import Settings
from outter_auth.rate_limits import RateLimits
from outter_auth.services.api_keys import Peppers
from outter_auth.services.client_tokens import ClientTokenReuse
from outter_auth.services.clients import ClientCache
from outter_auth.services.invalidation import InvalidationBus
from outter_auth.services.key_cache import KeyVerifier
from outter_auth.services.key_usage import LastUsedRecorder
from outter_auth.services.lockout import LockoutPolicy
from outter_auth.services.signing_keys import KeyStore
from outter_auth.services.tokens import TokenSettings


@dataclass
class Runtime:
    settings: Settings
    keystore: KeyStore
    token_settings: TokenSettings
    peppers: Peppers
    last_used: LastUsedRecorder
    key_verifier: KeyVerifier
    client_cache: ClientCache
    client_tokens: ClientTokenReuse
    invalidation: InvalidationBus
    lockout: LockoutPolicy
    rate_limits: RateLimits | None = None  # None when OUTTER_RATE_LIMITS is off

    def api_key_changed(self, key_id: str) -> None:
        """A key was revoked, rotated or changed: drop it here and in every other process."""
        self.key_verifier.forget(key_id)
        self.invalidation.publish("api_key", key_id)

    def client_changed(self, client_id: str) -> None:
        """An OAuth client was changed, deleted or got a new secret: likewise."""
        self.client_cache.forget(client_id)
        self.client_tokens.forget(client_id)
        self.invalidation.publish("client", client_id)

    def forget(self, kind: str, object_id: str) -> None:
        """What another process announced on the invalidation channel."""
        if kind == "api_key":
            self.key_verifier.forget(object_id)
        elif kind == "client":
            self.client_cache.forget(object_id)
            self.client_tokens.forget(object_id)

    def forget_all(self) -> None:
        self.key_verifier.clear()
        self.client_cache.clear()
        self.client_tokens.clear()


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["outter_auth"])
