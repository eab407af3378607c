"""API-key verification for the gateway: the hot path.

A presented key is checked in this order, cheapest first:

1. shape and checksum (``api_key_format.parse``): no I/O at all;
2. an in-process cache of results keyed by the key's digest (never by the key),
   positive *and* negative, so a flood of one unknown key costs one database
   query per process per TTL;
3. the database (one indexed lookup).

A cached key is a frozen snapshot whose status is recomputed on every read, so an
expiry or the end of a rotation grace is exact. Revocation, rotation and updates
drop the entry here and, through ``InvalidationBus`` (Redis pub/sub), in every
other process within about a second; without Redis the TTL bounds staleness.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cachetools import TTLCache

from outter_auth import clock
from outter_auth.models import ApiKey
from outter_auth.models.api_keys import key_status
from outter_auth.services import api_key_format
from outter_auth.services.api_keys import ApiKeyRefused, Peppers
from outter_auth.services.digests import secret_digest

MAX_ENTRIES = 200_000


@dataclass(frozen=True)
class KeySnapshot:
    id: str
    tenant_id: str
    project_id: str | None
    environment: str
    scopes: tuple[str, ...]
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> KeySnapshot:
        return cls(
            id=key.id,
            tenant_id=key.tenant_id,
            project_id=key.project_id,
            environment=key.environment,
            scopes=tuple(key.scopes),
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )

    def status(self, now: datetime) -> str:
        return key_status(self.revoked_at, self.expires_at, now)


_UNKNOWN = object()  # the negative-cache marker


class KeyVerifier:
    def __init__(self, peppers: Peppers, ttl: float, load: Callable[[str], KeySnapshot | None]) -> None:
        """``load(raw_key)`` fetches the key from the database (None if unknown)."""
        self._peppers = peppers
        self._load = load
        self._enabled = ttl > 0
        self._cache: TTLCache[bytes, object] = TTLCache(MAX_ENTRIES, ttl or 1, timer=time.monotonic)
        self._digests_by_id: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every invalidation, so a racing read is not cached

    def verify(self, raw: object) -> KeySnapshot:
        """The snapshot of an active key, or :class:`ApiKeyRefused` with SPEC §7's code."""
        try:
            parsed = api_key_format.parse(raw)
        except api_key_format.MalformedApiKey:
            raise ApiKeyRefused("malformed") from None
        digest = secret_digest(parsed.raw, self._peppers.current)
        with self._lock:
            found = self._cache.get(digest) if self._enabled else None
        if found is None:
            found = self._fetch(parsed.raw, digest)
        if found is _UNKNOWN:
            raise ApiKeyRefused("unknown")
        assert isinstance(found, KeySnapshot)
        status = found.status(clock.now())
        if status != "active":
            raise ApiKeyRefused(status)
        return found

    def _fetch(self, raw: str, digest: bytes) -> object:
        with self._lock:
            generation = self._generation
        snapshot = self._load(raw)
        found: object = snapshot if snapshot is not None else _UNKNOWN
        if self._enabled:
            with self._lock:
                if generation != self._generation:
                    # An invalidation arrived while we read: what we read may predate it.
                    return found
                self._cache[digest] = found
                if snapshot is not None:
                    self._digests_by_id[snapshot.id] = digest
        return found

    def forget(self, key_id: str) -> None:
        """Drop a key's cached result (it was revoked, rotated or changed)."""
        with self._lock:
            self._generation += 1
            digest = self._digests_by_id.pop(key_id, None)
            if digest is not None:
                self._cache.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._cache.clear()
            self._digests_by_id.clear()
