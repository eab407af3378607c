"""The API-key verifier and its guarded cache (``services.key_cache``, ``services.cache``).

Races are forced, not hoped for: the loader itself announces the change at the worst
moment, as the invalidation thread would while a request thread reads the database.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from outter_auth import clock
from outter_auth.services import api_key_format
from outter_auth.services.api_keys import ApiKeyRefused, Peppers
from outter_auth.services.cache import StalePolicy
from outter_auth.services.key_cache import KeySnapshot, KeyVerifier


class DatabaseDown(Exception):
    """Stands for SQLAlchemy's OperationalError in these unit tests."""


ACTIVE = KeySnapshot("key_race", "ten_1", None, "live", ("content:read",), None, None)
TAG = "api_key:key_race"


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_over(rows: list[object], ttl: float = 300, stale_ttl: float = 0.0) -> tuple[KeyVerifier, list[str]]:
    """A verifier whose database answers ``rows`` in turn (an exception is raised)."""
    loads: list[str] = []

    def load(raw: str) -> KeySnapshot | None:
        loads.append(raw)
        row = rows.pop(0)
        if isinstance(row, Exception):
            raise row
        return row  # type: ignore[return-value]

    return KeyVerifier(Peppers(""), ttl, load, stale=StalePolicy(stale_ttl, (DatabaseDown,))), loads


def test_an_invalidation_that_arrives_during_a_database_read_is_not_cached():
    """The listener thread calls ``forget`` while a request thread is in ``load``: the row it
    read predates the revocation, so that result must not be cached past the ``forget``."""
    raw = api_key_format.generate("live")
    revoked = replace(ACTIVE, revoked_at=datetime.now(UTC))
    rows: list[object] = [ACTIVE, revoked]
    verifier, loads = verifier_over(rows)

    def load_racing(raw_key: str) -> KeySnapshot | None:
        row = rows.pop(0)
        loads.append(raw_key)
        if row is ACTIVE:
            verifier.cache.forget(TAG)  # the revocation commits and is announced right after this read
        return row  # type: ignore[return-value]

    verifier._load = load_racing
    assert verifier.verify(raw).id == ACTIVE.id  # the request that was in flight still passes

    with pytest.raises(ApiKeyRefused) as refused:
        verifier.verify(raw)
    assert refused.value.code == "revoked"
    assert len(loads) == 2  # the racing result was not stored: the second call read again


def test_without_an_invalidation_the_result_is_served_from_the_cache():
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([ACTIVE])

    assert verifier.verify(raw) == ACTIVE
    assert verifier.verify(raw) == ACTIVE
    assert len(loads) == 1


def test_forget_drops_the_key_by_its_tag_and_the_next_read_goes_to_the_database():
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([ACTIVE, replace(ACTIVE, revoked_at=datetime.now(UTC))])
    verifier.verify(raw)

    verifier.cache.forget("api_key:some_other_key")
    verifier.verify(raw)
    assert len(loads) == 1  # another key's change leaves this one cached

    verifier.cache.forget(TAG)
    with pytest.raises(ApiKeyRefused, match="revoked"):
        verifier.verify(raw)
    assert len(loads) == 2


def test_unknown_keys_are_cached_too_so_a_flood_costs_one_read():
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([None])

    for _ in range(50):
        with pytest.raises(ApiKeyRefused, match="unknown"):
            verifier.verify(raw)
    assert len(loads) == 1


def test_malformed_keys_never_reach_the_cache_or_the_database():
    verifier, loads = verifier_over([])
    with pytest.raises(ApiKeyRefused) as refused:
        verifier.verify("outter_live_" + "A" * 38)
    assert refused.value.code == "malformed" and loads == []


def test_a_cached_key_expires_exactly_when_it_should():
    clock.freeze(datetime(2026, 1, 1, tzinfo=UTC))
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([replace(ACTIVE, expires_at=clock.now() + timedelta(seconds=10))])
    verifier.verify(raw)

    clock.advance(10)
    with pytest.raises(ApiKeyRefused, match="expired"):
        verifier.verify(raw)
    assert len(loads) == 1  # from the cache, status recomputed


def test_a_ttl_of_zero_reads_the_database_every_time():
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([ACTIVE, ACTIVE], ttl=0)
    verifier.verify(raw)
    verifier.verify(raw)
    assert len(loads) == 2


def test_stale_if_error_serves_a_recently_verified_key_while_the_database_is_down():
    timer = FakeTimer()
    raw = api_key_format.generate("live")
    verifier, loads = verifier_over([ACTIVE, DatabaseDown(), DatabaseDown()], ttl=5, stale_ttl=600)
    verifier.cache._timer = timer
    verifier.verify(raw)

    timer.now += 30  # past the TTL: a reload is due, and the database is gone
    assert verifier.verify(raw) == ACTIVE
    timer.now += 570  # 600 s after the last successful read: too old to vouch for
    with pytest.raises(DatabaseDown):
        verifier.verify(raw)


def test_stale_if_error_never_serves_an_unknown_key_or_a_forgotten_one():
    timer = FakeTimer()
    unknown, known = api_key_format.generate("live"), api_key_format.generate("live")
    verifier, _ = verifier_over([None, ACTIVE, DatabaseDown(), DatabaseDown()], ttl=5, stale_ttl=600)
    verifier.cache._timer = timer
    with pytest.raises(ApiKeyRefused):
        verifier.verify(unknown)
    verifier.verify(known)
    verifier.cache.forget(TAG)  # a revocation heard before (or during) the outage
    timer.now += 30

    with pytest.raises(DatabaseDown):
        verifier.verify(unknown)  # a negative answer is no reason to refuse during an outage: 503
    with pytest.raises(DatabaseDown):
        verifier.verify(known)  # forgotten: never answered from memory again


def test_other_errors_are_never_answered_from_the_cache():
    timer = FakeTimer()
    raw = api_key_format.generate("live")
    verifier, _ = verifier_over([ACTIVE, RuntimeError("a bug, not an outage")], ttl=5, stale_ttl=600)
    verifier.cache._timer = timer
    verifier.verify(raw)
    timer.now += 30
    with pytest.raises(RuntimeError):
        verifier.verify(raw)
