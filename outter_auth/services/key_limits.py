"""Per-key rate limits (SPEC §14), counted where every worker and instance sees them.

A key may carry a :class:`~outter_auth.models.api_keys.RateLimit`: at most ``limit``
verifications per fixed window of ``window_seconds``. Windows are aligned on the epoch
(window ``n`` covers ``[n·S, (n+1)·S)``), so every process names the same counter
without asking anybody, and the moment a window ends is known without a read. Spending
is one ``INCR`` with an expiry (the ``limits`` library's storage: Redis when
``OUTTER_REDIS_URL`` is set, process memory otherwise); the count it returns decides.

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

from limits.storage import Storage

from outter_auth import clock
from outter_auth.models.api_keys import RateLimit

log = logging.getLogger(__name__)

KEY_PREFIX = "outter-auth:key-limit"
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


def _now() -> float:
    return clock.now().timestamp()  # the service's clock: tests move it instead of sleeping


class KeyLimiter:
    """Spends per-key budgets in a ``limits`` storage (shared through Redis, or in memory)."""

    MAX_REMEMBERED = 10_000

    def __init__(self, storage: Storage, timer: Callable[[], float] = _now) -> None:
        self._storage = storage
        self._timer = timer
        self._over: dict[tuple[str, RateLimit], float] = {}  # (key, its limit) -> end of its window
        self._lock = threading.Lock()
        self._failures = FailOpen("not limiting API keys")

    def spend(self, key_id: str, rate: RateLimit) -> Verdict:
        """Count one verification of ``key_id`` against ``rate``."""
        now = self._timer()
        window = int(now // rate.window_seconds)
        resets_at = float((window + 1) * rate.window_seconds)
        wait = max(1, math.ceil(resets_at - now))
        over_until = self._over.get((key_id, rate))
        if over_until is not None and over_until > now:
            return Verdict(False, rate.limit, 0, over_until, wait)
        counter = f"{KEY_PREFIX}:{key_id}:{rate.window_seconds}:{window}"
        try:
            # The counter outlives its window by a second at most: aligned windows never reuse it.
            count = self._storage.incr(counter, wait + 1)
        except Exception as error:  # noqa: BLE001 - any storage failure: fail open, loudly
            self._failures.failed(error)
            return Verdict(True, rate.limit, rate.limit, resets_at, wait)
        if count > rate.limit:
            self._remember((key_id, rate), resets_at, now)
            return Verdict(False, rate.limit, 0, resets_at, wait)
        return Verdict(True, rate.limit, rate.limit - count, resets_at, wait)

    def _remember(self, over: tuple[str, RateLimit], until: float, now: float) -> None:
        with self._lock:
            if len(self._over) >= self.MAX_REMEMBERED:
                self._over = {k: v for k, v in self._over.items() if v > now}
            if len(self._over) < self.MAX_REMEMBERED:
                self._over[over] = until
