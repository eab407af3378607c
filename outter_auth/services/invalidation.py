"""Cross-process cache invalidation over Redis pub/sub (``OUTTER_REDIS_URL``).

Every process subscribes from a daemon thread (started lazily, again after a
fork) and drops what a message names (a tag of ``services.changes``) from its caches. While the subscription is
down a process cannot hear invalidations, so it clears its whole cache when it
(re)connects; in between, the cache TTL bounds how stale a result can be.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

import redis

from outter_auth import metrics

log = logging.getLogger(__name__)

# Retries of a lost subscription, every half second at most: once Redis is back, every
# process must hear invalidations again within a second (SPEC §7). A refused connection
# costs next to nothing, so trying that often while Redis is down is cheap.
MAX_BACKOFF = 0.5
# Messages are "<tag> <unix time of publishing>", the tag "<kind>:<id>" ("api_key:key_… 1767225600.123456");
# the time is for the invalidation-lag metric, and a message without it is still understood.
CHANNEL = "outter-auth:changed"


class InvalidationBus:
    def __init__(self, redis_url: str, on_changed: Callable[[str], None], on_reconnect: Callable[[], None]) -> None:
        self._url = redis_url
        self._on_changed = on_changed
        self._on_reconnect = on_reconnect
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._client: redis.Redis | None = None
        self.subscribed = threading.Event()
        self._stopped = threading.Event()

    @property
    def enabled(self) -> bool:
        return bool(self._url)

    def start(self) -> None:
        """Subscribe in this process (idempotent; call on the first use in a worker)."""
        if not self.enabled or self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._client = redis.Redis.from_url(self._url, socket_connect_timeout=1, socket_timeout=2)
            self.subscribed.clear()
            threading.Thread(target=self._listen, name="cache-invalidation", daemon=True).start()
        # Serve the first request only once subscribed (or after a second without Redis), so
        # what it caches cannot predate an invalidation this process could not hear.
        self.subscribed.wait(timeout=1.0)

    def publish(self, tag: str) -> None:
        """Tell every process that an object changed; best effort (the TTL is the fallback)."""
        if not self.enabled:
            return
        self.start()
        try:
            assert self._client is not None
            self._client.publish(CHANNEL, f"{tag} {time.time():.6f}")
        except redis.RedisError as error:
            log.warning("could not publish an invalidation: %s", type(error).__name__)

    def stop(self) -> None:
        """End the subscription thread once its current wait ends (tests, shutdown)."""
        self._stopped.set()

    def _listen(self) -> None:
        backoff = 0.1
        while not self._stopped.is_set():
            try:
                client = redis.Redis.from_url(self._url, socket_connect_timeout=1, health_check_interval=10)
                pubsub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(CHANNEL)
                self._on_reconnect()  # we may have missed messages while not subscribed
                self.subscribed.set()
                backoff = 0.1
                for message in pubsub.listen():
                    if self._stopped.is_set():
                        break
                    data = message.get("data")
                    if isinstance(data, bytes):
                        tag, _, sent = data.decode("utf-8", "replace").partition(" ")
                        self._on_changed(tag)
                        _observe_lag(sent)
            except redis.RedisError as error:
                self.subscribed.clear()
                log.warning("invalidation channel down (%s); retrying", type(error).__name__)
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)


def _observe_lag(sent: str) -> None:
    try:
        metrics.invalidation_received(time.time() - float(sent))
    except ValueError:
        pass  # an older publisher's message, without the time
