"""Per-app runtime state (settings, signing keys, caches), reached through ``runtime()``.

It also hears every committed change (``services.changes``): each tag drops the
matching entries from this process's caches at once, and is published on the
invalidation channel for every other worker and instance.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import cast

from flask import current_app, has_app_context

from outter_auth.config import Settings
from outter_auth.extensions import db
from outter_auth.rate_limits import RateLimits
from outter_auth.services import changes
from outter_auth.services.api_keys import Peppers
from outter_auth.services.cache import GuardedCache
from outter_auth.services.client_tokens import ClientTokenReuse, RevokedTokens
from outter_auth.services.clients import ClientInfo, builtin_client, find_client
from outter_auth.services.gateway_tokens import VerifiedTokens
from outter_auth.services.invalidation import InvalidationBus
from outter_auth.services.issuance import TokenIssuer
from outter_auth.services.key_cache import KeyVerifier
from outter_auth.services.key_limits import KeyLimiter
from outter_auth.services.key_usage import KeyUsageRecorder
from outter_auth.services.leaks import ScannerKeys
from outter_auth.services.lockout import LockoutPolicy
from outter_auth.services.login import LoginPolicy
from outter_auth.services.signing_keys import KeyStore
from outter_auth.services.token_state import TokenState
from outter_auth.services.tokens import TokenSettings

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    keystore: KeyStore
    token_settings: TokenSettings
    peppers: Peppers
    key_usage: KeyUsageRecorder
    key_verifier: KeyVerifier
    key_limiter: KeyLimiter
    clients: GuardedCache[str, ClientInfo | None]
    client_tokens: ClientTokenReuse
    issuer: TokenIssuer
    token_state: TokenState
    verified_tokens: VerifiedTokens
    invalidation: InvalidationBus
    lockout: LockoutPolicy
    rate_limits: RateLimits | None = None  # None when OUTTER_RATE_LIMITS is off
    revoked_tokens: RevokedTokens | None = None  # with Redis: marks that stop the reuse of revoked tokens
    scanner_keys: ScannerKeys | None = None  # None without OUTTER_SECRET_SCANNING_KEYS_FILE
    _caches: tuple[GuardedCache[object, object], ...] = field(default=(), init=False, repr=False)

    def __post_init__(self) -> None:
        self._caches = cast(
            tuple[GuardedCache[object, object], ...],
            (self.key_verifier.cache, self.clients, *self.token_state.caches),
        )

    @property
    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(self.settings.bcrypt_rounds, self.lockout if self.lockout.enabled else None)

    def changed(self, tags: list[str]) -> None:
        """Committed changes of this process: drop them here, then tell the others."""
        for tag in tags:
            self.forget(tag)
            kind, _, object_id = tag.partition(":")
            if kind == "access_token" and self.revoked_tokens is not None:
                self.revoked_tokens.mark(object_id)  # before the answer: see services/client_tokens.py
        for tag in tags:
            self.invalidation.publish(tag)

    def forget(self, tag: str) -> None:
        """Drop what depends on ``tag`` (a change made here, or announced by another process)."""
        for cache in self._caches:
            cache.forget(tag)
        kind, _, object_id = tag.partition(":")
        if kind == "client":
            self.client_tokens.forget(object_id)
        elif kind == "access_token":
            self.client_tokens.forget_token(object_id)

    def forget_all(self) -> None:
        for cache in self._caches:
            cache.clear()
        self.client_tokens.clear()

    def client(self, client_id: str) -> ClientInfo | None:
        """A client by id, cached (every token request and every client token needs it)."""
        settings = self.settings
        return self.clients.get(
            client_id,
            lambda: find_client(
                db.session,
                client_id,
                settings.first_party_client_id,
                settings.scopes,
                settings.first_party_browser_redirect_uris,
            ),
        )

    def first_party_client(self) -> ClientInfo:
        """The built-in first-party client (``OUTTER_FIRST_PARTY_CLIENT_ID``): never stored."""
        settings = self.settings
        return builtin_client(
            settings.first_party_client_id, settings.scopes, settings.first_party_browser_redirect_uris
        )


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["outter_auth"])


def _publish_committed(tags: list[str]) -> None:
    if has_app_context():
        runtime().changed(tags)
    else:  # every service call runs in an app context (requests, CLI, background writers)
        log.warning("a change committed outside of an app context was not announced: %s", tags)


changes.install(_publish_committed)
