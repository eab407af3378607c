"""API-key verification for the gateway: the hot path.

A presented key is checked in this order, cheapest first:

1. shape and checksum (``api_key_format.parse``): no I/O at all;
2. an in-process cache of results keyed by the key's digest (never by the key),
   positive *and* negative, so a flood of one unknown key costs one database
   query per process per TTL (``services.cache.GuardedCache``);
3. the database (one indexed lookup).

A cached key is a frozen snapshot whose status is recomputed on every read, so an
expiry or the end of a rotation grace is exact. Revocation, rotation and updates
drop the entry here and, through the invalidation channel (Redis pub/sub), in every
other process within about a second; without Redis the TTL bounds staleness.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from outter_auth import clock, metrics
from outter_auth.models import ApiKey
from outter_auth.models.api_keys import RateLimit, key_status
from outter_auth.services import api_key_format
from outter_auth.services.api_keys import ApiKeyRefused, Peppers
from outter_auth.services.cache import NEVER_STALE, GuardedCache, StalePolicy
from outter_auth.services.changes import tag
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
    # Rides in the cache so that an unlimited key costs one ``is None`` check (SPEC §14).
    rate_limit: RateLimit | None = None

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
            rate_limit=key.rate_limit,
        )

    def status(self, now: datetime) -> str:
        return key_status(self.revoked_at, self.expires_at, now)

    @property
    def ends_at(self) -> datetime | None:
        """When the key stops working: its expiry, or the end of a rotation grace if sooner."""
        ends = [moment for moment in (self.expires_at, self.revoked_at) if moment is not None]
        return min(ends) if ends else None


def _tags(digest: bytes, snapshot: KeySnapshot | None) -> tuple[str, ...]:
    return (tag("api_key", snapshot.id),) if snapshot is not None else ()


class KeyVerifier:
    def __init__(
        self,
        peppers: Peppers,
        ttl: float,
        load: Callable[[str], KeySnapshot | None],
        *,
        stale: StalePolicy = NEVER_STALE,
    ) -> None:
        """``load(raw_key)`` fetches the key from the database (None if unknown)."""
        self._peppers = peppers
        self._load = load
        self.cache: GuardedCache[bytes, KeySnapshot | None] = GuardedCache(ttl, MAX_ENTRIES, _tags, stale=stale)

    def verify(self, raw: object) -> KeySnapshot:
        """The snapshot of an active key, or :class:`ApiKeyRefused` with SPEC §7's code."""
        try:
            parsed = api_key_format.parse(raw)
        except api_key_format.MalformedApiKey:
            raise ApiKeyRefused("malformed") from None
        digest = secret_digest(parsed.raw, self._peppers.current)
        misses: list[bool] = []  # the loader runs on a cache miss only

        def load() -> KeySnapshot | None:
            misses.append(True)
            return self._load(parsed.raw)

        found = self.cache.get(digest, load)
        metrics.key_cache_lookup(hit=not misses)
        if found is None:
            raise ApiKeyRefused("unknown")
        status = found.status(clock.now())
        if status != "active":
            raise ApiKeyRefused(status, found.id)
        return found
