"""Per-key rate limits (SPEC §14), counted where every worker and instance sees them.

A key may carry a :class:`~outter_auth.models.api_keys.RateLimit`: at most ``limit``
verifications per fixed window of ``window_seconds``. Windows are aligned on the epoch
(window ``n`` covers ``[n·S, (n+1)·S)``), so every process names the same counter
without asking anybody, and the moment a window ends is known without a read. The
counter lives in the ``limits`` library's storage: Redis when ``OUTTER_REDIS_URL`` is
set, process memory otherwise.

A process reserves its share of a window in slices: one ``INCRBY slice`` (with the
counter's expiry) hands it ``slice`` requests, spent from memory until they are gone.
The slice is a thousandth of the limit, at least one: a limit under 2,000 is counted
request by request, exactly; a limit of a million a day costs one round trip per
thousand requests. Slices are cut from the shared count, so all processes together never
let more than ``limit`` through in a window; what a process reserved and did not use
(at most a slice each) is lost to the others until the window ends. That is the trade:
never over the limit, at most ``processes × limit / 1000`` under it, and a limited key
costs about what an unlimited one does. ``X-RateLimit-Remaining`` is this process's view:
what the store had left when it last reserved, plus its own unspent slice.

Only keys that carry a limit get here: the gateway checks ``snapshot.rate_limit is None``
first, so an unlimited key pays nothing for the feature.

Once a key is over its budget, this process remembers it until the window ends and
answers from memory: a runaway client costs one round trip per process and window, not
one per request. If the counter store fails, limits fail open (the request goes through,
a warning is logged at most once a minute): an outage of Redis must not lock every
limited key out — the same policy as the brute-force limits (``outter_auth.rate_limits``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from limits.storage import Storage

from outter_auth import clock
from outter_auth.models.api_keys import RateLimit

log = logging.getLogger(__name__)

KEY_PREFIX = "outter-auth:key-limit"
SLICES_PER_LIMIT = 1000  # a slice is limit // 1000 requests, at least 1 (see the module's docstring)
STORAGE_ERROR_LOG_INTERVAL = 60.0  # seconds between two "limit storage down" warnings


@dataclass(frozen=True)
class Verdict:
    """What a key's budget says about one more verification."""

    allowed: bool
    limit: int
    remaining: int
    resets_at: float  # epoch seconds: the end of the current window
    retry_after: int  # seconds until then, at least 1

    def headers(self) -> dict[str, str]:
        """``X-RateLimit-*`` as GitHub and Flask-Limiter send them (the reset as epoch seconds)."""
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(self.resets_at)),
        }


class FailOpen:
    """Logs a failing limit store at most once a minute; callers then let requests through."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._last_log = -math.inf

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_log >= STORAGE_ERROR_LOG_INTERVAL:
            self._last_log = now
            log.warning("rate limit storage unavailable, %s: %s", self._what, type(error).__name__)


@dataclass
class _Slice:
    """Requests of one window a process reserved and has not spent yet."""

    window: int
    left: int
    count: int  # the window's shared count right after this slice was reserved


def _now() -> float:
    return clock.now().timestamp()  # the service's clock: tests move it instead of sleeping


class KeyLimiter:
    """Spends per-key budgets in a ``limits`` storage (shared through Redis, or in memory)."""

    MAX_REMEMBERED = 10_000

    def __init__(self, storage: Storage, timer: Callable[[], float] = _now) -> None:
        self._storage = storage
        self._timer = timer
        self._over: dict[tuple[str, RateLimit], float] = {}  # (key, its limit) -> end of its window
        self._slices: dict[tuple[str, RateLimit], _Slice] = {}
        self._lock = threading.Lock()
        self._failures = FailOpen("not limiting API keys")

    def spend(self, key_id: str, rate: RateLimit) -> Verdict:
        """Count one verification of ``key_id`` against ``rate``."""
        now = self._timer()
        window = int(now // rate.window_seconds)
        resets_at = float((window + 1) * rate.window_seconds)
        wait = max(1, math.ceil(resets_at - now))
        held = (key_id, rate)  # a changed limit is a new budget: nothing carries over
        with self._lock:
            over_until = self._over.get(held)
            if over_until is not None and over_until > now:
                return Verdict(False, rate.limit, 0, over_until, wait)
            reserved = self._slices.get(held)
            if reserved is not None and reserved.window == window and reserved.left > 0:
                reserved.left -= 1
                return Verdict(True, rate.limit, _remaining(rate, reserved), resets_at, wait)
        size = max(1, rate.limit // SLICES_PER_LIMIT)
        counter = f"{KEY_PREFIX}:{key_id}:{rate.window_seconds}:{window}"
        try:
            # The counter outlives its window by a second at most: aligned windows never reuse it.
            count = self._storage.incr(counter, wait + 1, amount=size)
        except Exception as error:  # noqa: BLE001 - any storage failure: fail open, loudly
            self._failures.failed(error)
            return Verdict(True, rate.limit, rate.limit, resets_at, wait)
        granted = min(size, rate.limit - (count - size))  # the part of the slice within the limit
        if granted <= 0:
            self._remember(held, resets_at, now)
            return Verdict(False, rate.limit, 0, resets_at, wait)
        fresh = _Slice(window, granted - 1, count)
        with self._lock:
            self._slices[held] = fresh  # a slice another thread left unspent is lost: never over the limit
            self._bound(self._slices, now)
        return Verdict(True, rate.limit, _remaining(rate, fresh), resets_at, wait)

    def _remember(self, over: tuple[str, RateLimit], until: float, now: float) -> None:
        with self._lock:
            self._bound(self._over, now)
            if len(self._over) < self.MAX_REMEMBERED:
                self._over[over] = until

    def _bound(self, table: dict[tuple[str, RateLimit], Any], now: float) -> None:
        """Keep a table to MAX_REMEMBERED entries: drop what belongs to windows gone by."""
        if len(table) < self.MAX_REMEMBERED:
            return
        for held, value in list(table.items()):
            ended = value <= now if isinstance(value, float) else (value.window + 1) * held[1].window_seconds <= now
            if ended:
                del table[held]
        while len(table) >= self.MAX_REMEMBERED:  # all current: forget the oldest (a slice is only lost)
            del table[next(iter(table))]


def _remaining(rate: RateLimit, reserved: _Slice) -> int:
    return max(0, rate.limit - reserved.count) + reserved.left
