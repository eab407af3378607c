"""One per-process cache for what other processes may change: API keys, clients, token state.

Three rules make it safe to cache credentials:

1. **Tags.** Each entry carries the tags of the objects it was read from (``api_key:key_…``,
   ``client:cli_…``, ``session:ses_…``); :meth:`GuardedCache.forget` drops every entry with a
   tag. The invalidation channel (``services.invalidation``) delivers tags from every process.
2. **The guard.** A load that was under way while an invalidation arrived is returned to its
   caller but never stored: what it read may predate the change (a revocation committed while
   we were reading would otherwise sit in the cache until the TTL).
3. **Stale-if-error.** Entries are kept past their TTL (until evicted by size) so that, when a
   reload fails because the database is unreachable, a positive result loaded within
   ``stale_ttl`` seconds can still be answered (SPEC §7 "Outages"). Negative results are never
   served stale, and a forgotten entry is gone: a revocation heard before or during an outage
   can never be answered from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from cachetools import LRUCache

K = TypeVar("K")
V = TypeVar("V")


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class StalePolicy:
    """When a positive entry may be answered past its TTL: for ``ttl`` seconds after it was
    loaded, while loads fail with one of ``errors`` (the database is unreachable);
    ``on_error()`` hears of each such failure."""

    ttl: float = 0.0
    errors: tuple[type[BaseException], ...] = ()
    on_error: Callable[[], None] = _nothing


NEVER_STALE = StalePolicy()


@dataclass(frozen=True)
class _Entry(Generic[V]):
    value: V
    loaded_at: float
    tags: tuple[str, ...]


class GuardedCache(Generic[K, V]):
    """A TTL cache with tag invalidation, an invalidation guard and stale-if-error.

    ``tags_of(key, value)`` names what a loaded value depends on; ``stale`` says when a
    positive entry may be served past its TTL; ``is_positive(value)`` tells a result worth
    serving stale from a negative one. A ``ttl`` of 0 turns caching off (every call loads)."""

    def __init__(
        self,
        ttl: float,
        maxsize: int,
        tags_of: Callable[[K, V], Iterable[str]],
        *,
        stale: StalePolicy = NEVER_STALE,
        is_positive: Callable[[V], bool] = lambda value: value is not None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._stale = stale
        self._stale_ttl = max(stale.ttl, ttl)
        self._tags_of = tags_of
        self._is_positive = is_positive
        self._timer = timer
        self._entries: LRUCache[K, _Entry[V]] = LRUCache(maxsize)
        self._keys_by_tag: dict[str, set[K]] = {}
        self._lock = threading.Lock()
        self._generation = 0  # bumped by every invalidation: the guard of rule 2
        self._prune_at = 1024

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get(self, key: K, load: Callable[[], V]) -> V:
        """The cached value of ``key`` if fresh, else ``load()`` (stored unless the guard trips)."""
        now = self._timer()
        with self._lock:
            entry = self._entries.get(key)
            generation = self._generation
        if entry is not None and now - entry.loaded_at < self._ttl:
            return entry.value
        try:
            value = load()
        except self._stale.errors:
            self._stale.on_error()
            if entry is not None and self._is_positive(entry.value) and now - entry.loaded_at < self._stale_ttl:
                return entry.value
            raise
        if self.enabled:
            self._store(key, value, now, generation)
        return value

    def peek(self, key: K) -> V | None:
        """The cached value of ``key``, fresh or not, without loading (tests, diagnostics)."""
        with self._lock:
            entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def forget(self, tag: str) -> None:
        """Drop every entry that depends on ``tag``; loads under way are not stored."""
        with self._lock:
            self._generation += 1
            for key in self._keys_by_tag.pop(tag, ()):
                self._entries.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._entries.clear()
            self._keys_by_tag.clear()

    def _store(self, key: K, value: V, now: float, generation: int) -> None:
        tags = tuple(self._tags_of(key, value))
        with self._lock:
            if generation != self._generation:
                return  # an invalidation arrived while we read: what we read may predate it
            self._entries[key] = _Entry(value, now, tags)
            for tag in tags:
                self._keys_by_tag.setdefault(tag, set()).add(key)
            if len(self._keys_by_tag) > self._prune_at:
                self._prune_tags()

    def _prune_tags(self) -> None:
        """Forget the tags of entries the LRU evicted, so the index stays about as small as
        the cache; amortised: the next pruning waits until the index has doubled."""
        live = self._entries
        self._keys_by_tag = {
            tag: kept for tag, keys in self._keys_by_tag.items() if (kept := {k for k in keys if k in live})
        }
        self._prune_at = 2 * len(self._keys_by_tag) + 1024
