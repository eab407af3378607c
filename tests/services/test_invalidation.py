"""The invalidation bus (``services.invalidation``): committed changes travel over Redis to
every other process. How a change is announced and heard in this process is
tests/services/test_changes.py."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from outter_auth.services.invalidation import InvalidationBus
from tests.integration.servers import REDIS_URL, redis_reachable, require


@pytest.fixture
def redis_url() -> str:
    if reason := redis_reachable():
        require(reason)
    return REDIS_URL


def test_the_bus_carries_tags_to_another_process_and_clears_on_reconnect(redis_url):
    """Two buses stand for two processes: one publishes, the other's listener hears it. A
    listener that (re)subscribes clears its caches, since it may have missed messages."""
    received: list[str] = []
    cleared = threading.Event()
    arrived = threading.Event()
    mine = f"api_key:key_{uuid.uuid4().hex}"  # other test runs share this Redis: listen for ours

    def on_changed(tag: str) -> None:
        if tag == mine:
            received.append(tag)
            arrived.set()

    listener = InvalidationBus(redis_url, on_changed, cleared.set)
    publisher = InvalidationBus(redis_url, lambda tag: None, lambda: None)
    try:
        listener.start()
        assert listener.subscribed.wait(5) and cleared.is_set()
        started = time.monotonic()
        publisher.publish(mine)
        assert arrived.wait(5), "the other process never heard of the change"
        assert received == [mine] and time.monotonic() - started < 1.0
    finally:
        listener.stop()
        publisher.stop()


def test_without_redis_publishing_is_a_no_op():
    bus = InvalidationBus("", lambda tag: None, lambda: None)
    assert not bus.enabled
    bus.publish("api_key:key_1")  # nothing to reach: the cache TTL is the bound
