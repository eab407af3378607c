"""The runtime's client cache: the same guarded cache as API keys, keyed by client id."""

from __future__ import annotations

from dataclasses import replace

from outter_auth.services.cache import GuardedCache
from outter_auth.services.changes import tag
from outter_auth.services.clients import ClientInfo

BILLING = ClientInfo("cli_1", "ten_1", "Billing", False, False, ("client_credentials",), ("users:read",), ())


def client_cache(ttl: float = 300) -> GuardedCache[str, ClientInfo | None]:
    return GuardedCache(ttl, 100, lambda client_id, info: (tag("client", client_id),))


def test_a_change_announced_during_a_read_is_not_cached():
    """The guard ClientCache lacked before issue 10: a narrowing of the client committed
    while its old row was being read must not sit in the cache until the TTL."""
    cache = client_cache()
    narrowed = replace(BILLING, scopes=())
    rows = [BILLING, narrowed]
    reads = []

    def load() -> ClientInfo | None:
        reads.append(1)
        row = rows.pop(0)
        if row is BILLING:
            cache.forget(tag("client", BILLING.id))  # the PATCH commits right after this read
        return row

    assert cache.get(BILLING.id, load) == BILLING  # the request in flight used what it read
    assert cache.get(BILLING.id, load) == narrowed  # ...but the next one read again
    assert cache.get(BILLING.id, load) == narrowed and len(reads) == 2  # and that is cached


def test_a_deleted_client_is_cached_as_none_and_forgotten_by_its_tag():
    cache = client_cache()
    rows = [None, BILLING]
    assert cache.get(BILLING.id, lambda: rows.pop(0)) is None
    assert cache.get(BILLING.id, lambda: rows.pop(0)) is None  # cached: no second read
    cache.forget(tag("client", BILLING.id))
    assert cache.get(BILLING.id, lambda: rows.pop(0)) == BILLING


def test_forgetting_one_client_keeps_the_others():
    cache = client_cache()
    other = replace(BILLING, id="cli_2")
    cache.get(BILLING.id, lambda: BILLING)
    cache.get(other.id, lambda: other)
    cache.forget(tag("client", BILLING.id))
    assert cache.peek(BILLING.id) is None and cache.peek(other.id) == other


def test_clear_forgets_everything_and_trips_the_guard():
    cache = client_cache()

    def load() -> ClientInfo:
        cache.clear()  # the invalidation channel reconnected while we read
        return BILLING

    assert cache.get(BILLING.id, load) == BILLING
    assert cache.peek(BILLING.id) is None
