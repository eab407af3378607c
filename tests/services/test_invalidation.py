"""Changes reach every cache: announced in the transaction, heard after the commit, here and
(over Redis) in every other process; never for a rolled-back change."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from outter_auth.extensions import db
from outter_auth.services import changes
from outter_auth.services.invalidation import InvalidationBus
from tests.integration.servers import REDIS_URL, redis_reachable, require


@pytest.fixture
def heard(app, monkeypatch):
    """The tags this process's runtime hears of, in order."""
    tags: list[str] = []
    state = app.extensions["outter_auth"]
    original = state.forget
    monkeypatch.setattr(state, "forget", lambda tag: (tags.append(tag), original(tag)))
    return tags


def test_a_change_is_heard_once_its_transaction_commits(ctx, heard):
    changes.announce(db.session, "api_key", "key_1")
    changes.announce(db.session, "api_key", "key_1")  # announced twice, heard once
    assert heard == []  # not before the commit: the change might still be rolled back

    db.session.commit()

    assert heard == ["api_key:key_1"]


def test_a_rolled_back_change_is_never_heard(ctx, heard):
    changes.announce(db.session, "client", "cli_1")
    db.session.rollback()
    db.session.commit()  # a later commit must not carry the dropped announcement

    assert heard == []


def test_an_unknown_kind_is_an_error_not_a_silent_tag():
    with pytest.raises(ValueError, match="unknown kind"):
        changes.tag("apikey", "key_1")


def test_a_cache_entry_is_dropped_when_its_change_commits(app, ctx):
    state = app.extensions["outter_auth"]
    state.clients.get("cli_gone", lambda: None)
    assert "cli_gone" in state.clients._entries

    changes.announce(db.session, "client", "cli_gone")
    db.session.commit()

    assert "cli_gone" not in state.clients._entries


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
