"""The per-key limiter (issue 15, SPEC §14): budgets reserved in slices from one shared count.

Several ``KeyLimiter`` on one storage stand for several processes on one Redis (the API
tests, tests/api/test_key_rate_limits.py, and the two-instance test use Redis itself).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from limits.storage import MemoryStorage

from outter_auth.models import RateLimit
from outter_auth.services.key_limits import KeyLimiter

T0 = 1_900_000_040.0  # 20 s into a 60-second window (windows are aligned on the epoch)


class Clock:
    def __init__(self, at: float = T0) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


class CountingStorage(MemoryStorage):
    def __init__(self) -> None:
        super().__init__()
        self.round_trips = 0

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        self.round_trips += 1
        return super().incr(key, expiry, amount)


@pytest.fixture
def storage() -> CountingStorage:
    return CountingStorage()


def processes(storage: Any, clock: Clock, count: int) -> list[KeyLimiter]:
    return [KeyLimiter(storage, timer=clock) for _ in range(count)]


def admitted(limiters: list[KeyLimiter], rate: RateLimit, requests: int, key: str = "key_a") -> int:
    turns = itertools.cycle(limiters)
    return sum(next(turns).spend(key, rate).allowed for _ in range(requests))


@pytest.mark.parametrize("limit", [1, 3, 1999])
def test_limits_under_2000_are_counted_request_by_request_across_processes(storage, limit):
    limiters = processes(storage, Clock(), 3)
    assert admitted(limiters, RateLimit(limit, 60), limit + 50) == limit
    assert storage.round_trips == limit + 3  # then each process answers from memory


@pytest.mark.parametrize("limit", [2000, 5003, 100_000])
def test_large_limits_are_reserved_in_slices_and_never_exceeded(storage, limit):
    limiters = processes(storage, Clock(), 4)
    slice_ = limit // 1000
    total = admitted(limiters, RateLimit(limit, 60), limit + 500)
    assert limit - 4 * slice_ <= total <= limit  # at most a slice per process left unspent
    assert storage.round_trips <= limit // slice_ + 8


def test_one_process_spends_its_whole_budget(storage):
    (limiter,) = processes(storage, Clock(), 1)
    assert admitted([limiter], RateLimit(5003, 60), 6000) == 5003


def test_the_budget_comes_back_with_the_next_window(storage):
    clock = Clock()
    (limiter,) = processes(storage, clock, 1)
    rate = RateLimit(2, 60)
    assert [limiter.spend("k", rate).allowed for _ in range(3)] == [True, True, False]
    refused = limiter.spend("k", rate)
    assert (refused.retry_after, refused.resets_at) == (40, T0 + 40)
    clock.at += 40
    assert limiter.spend("k", rate).allowed


def test_a_changed_limit_is_a_new_budget_in_memory_but_the_same_count(storage):
    (limiter,) = processes(storage, Clock(), 1)
    assert admitted([limiter], RateLimit(1, 60), 1) == 1
    assert not limiter.spend("key_a", RateLimit(1, 60)).allowed  # over (and counted: attempts count)
    assert admitted([limiter], RateLimit(4, 60), 5) == 2  # 2 of 4 went under the old limit


def test_remaining_and_reset_as_the_headers_show_them(storage):
    (limiter,) = processes(storage, Clock(), 1)
    verdicts = [limiter.spend("k", RateLimit(3, 60)) for _ in range(4)]
    assert [v.remaining for v in verdicts] == [2, 1, 0, 0]
    assert verdicts[0].headers() == {
        "X-RateLimit-Limit": "3",
        "X-RateLimit-Remaining": "2",
        "X-RateLimit-Reset": str(int(T0 + 40)),
    }


def test_keys_have_budgets_of_their_own(storage):
    (limiter,) = processes(storage, Clock(), 1)
    rate = RateLimit(1, 60)
    assert limiter.spend("a", rate).allowed and limiter.spend("b", rate).allowed
    assert not limiter.spend("a", rate).allowed


def test_a_failing_store_lets_requests_through(caplog):
    class Down(MemoryStorage):
        def incr(self, key: str, expiry: float, amount: int = 1) -> int:
            raise ConnectionError("store down")

    limiter = KeyLimiter(Down(), timer=Clock())
    assert all(limiter.spend("k", RateLimit(1, 60)).allowed for _ in range(5))
    assert sum("rate limit storage unavailable" in r.message for r in caplog.records) == 1  # once a minute
