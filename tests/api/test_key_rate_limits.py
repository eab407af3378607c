"""Per-key rate limits (issue 15, SPEC §14): set on create and PATCH, enforced by verify and
check (429 with Retry-After; X-RateLimit-* on verify), shared through Redis, free for keys
without a limit, and bound by the no-escalation rule (SPEC §3)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest

from outter_auth import clock
from tests.api_key_helpers import KEYS, MANAGE, audit_events, create_key, create_project, key_headers
from tests.assertions import assert_error
from tests.integration.servers import REDIS_URL, redis_reachable, require

VERIFY = KEYS + "/verify"
CHECK = "/api/auth/gateway/check"
RATE_HEADERS = ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
WINDOW_START = datetime(2031, 3, 4, 5, 6, 0, tzinfo=UTC)  # a multiple of 60 s since the epoch


def limited_key(client, headers, limit: int = 3, window: int = 60, **extra: Any) -> dict[str, Any]:
    return create_key(client, headers, rate_limit={"limit": limit, "window_seconds": window}, **extra)


def verify(client, raw: str, **kwargs: Any) -> Any:
    return client.post(VERIFY, headers=key_headers(raw), **kwargs)


def check(client, raw: str) -> Any:
    return client.get(CHECK, headers=key_headers(raw))


@pytest.fixture
def window_start() -> datetime:
    """The clock frozen at the start of a 60-second window (so no test straddles two)."""
    clock.freeze(WINDOW_START)
    return WINDOW_START


@pytest.fixture
def owner_at_window(window_start, make):
    """An owner logged in under the frozen clock (a token issued now would be in the future)."""
    return make.actor("acme", "owner@acme.test", "owner")


# --- the limit on the key ----------------------------------------------------------------------


def test_a_key_is_created_with_a_rate_limit_and_shows_it(client, owner):
    created = limited_key(client, owner.headers, limit=100, window=60)
    assert created["rate_limit"] == {"limit": 100, "window_seconds": 60}
    shown = client.get(f"{KEYS}/{created['id']}", headers=owner.headers).get_json()
    assert shown["rate_limit"] == {"limit": 100, "window_seconds": 60}
    assert create_key(client, owner.headers)["rate_limit"] is None


def test_patch_sets_changes_and_removes_a_limit(client, owner):
    created = create_key(client, owner.headers)
    url = f"{KEYS}/{created['id']}"
    for wanted in ({"limit": 5, "window_seconds": 1}, {"limit": 1000, "window_seconds": 3600}, None):
        response = client.patch(url, json={"rate_limit": wanted}, headers=owner.headers)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["rate_limit"] == wanted
    renamed = client.patch(url, json={"name": "renamed"}, headers=owner.headers).get_json()
    assert renamed["rate_limit"] is None


def test_a_rotated_key_keeps_its_limit(client, owner):
    created = limited_key(client, owner.headers, limit=7, window=30)
    rotated = client.post(f"{KEYS}/{created['id']}/rotate", json={}, headers=owner.headers).get_json()
    assert rotated["rate_limit"] == {"limit": 7, "window_seconds": 30}


@pytest.mark.parametrize(
    "rate_limit",
    [
        {"limit": 0, "window_seconds": 60},
        {"limit": 1_000_001, "window_seconds": 60},
        {"limit": 10, "window_seconds": 0},
        {"limit": 10, "window_seconds": 86_401},
        {"limit": 10},
        {"window_seconds": 10},
        {"limit": "10", "window_seconds": 60},
        {"limit": 1.5, "window_seconds": 60},
        {"limit": 10, "window_seconds": 60, "burst": 5},
        [10, 60],
        "10/minute",
    ],
)
def test_out_of_bounds_or_malformed_limits_are_422(client, owner, rate_limit):
    response = client.post(KEYS, json={"name": "x", "scopes": ["a"], "rate_limit": rate_limit}, headers=owner.headers)
    created = create_key(client, owner.headers)
    patched = client.patch(f"{KEYS}/{created['id']}", json={"rate_limit": rate_limit}, headers=owner.headers)
    for refused in (response, patched):
        errors = assert_error(refused, 422)["errors"]["json"]
        assert errors["rate_limit"] != ["Unknown field."], errors  # refused for its value: the field exists


def test_the_bounds_themselves_are_accepted(client, owner):
    assert limited_key(client, owner.headers, limit=1, window=1)["rate_limit"] == {"limit": 1, "window_seconds": 1}
    widest = limited_key(client, owner.headers, limit=1_000_000, window=86_400)["rate_limit"]
    assert widest == {"limit": 1_000_000, "window_seconds": 86_400}


# --- enforcement -----------------------------------------------------------------------------


def test_verify_answers_a_limited_key_with_its_budget_then_429(client, owner_at_window, window_start):
    created = limited_key(client, owner_at_window.headers, limit=3, window=60)
    reset = str(math.ceil(window_start.timestamp()) + 60)
    for remaining in (2, 1, 0):
        response = verify(client, created["key"])
        assert response.status_code == 200, response.get_json()
        assert response.headers["X-RateLimit-Limit"] == "3"
        assert response.headers["X-RateLimit-Remaining"] == str(remaining)
        assert response.headers["X-RateLimit-Reset"] == reset

    clock.advance(20)
    refused = verify(client, created["key"])
    assert refused.status_code == 429
    assert refused.get_json() == {"valid": False, "code": "rate_limited"}
    assert refused.headers["Retry-After"] == "40"
    assert refused.headers["X-RateLimit-Remaining"] == "0" and refused.headers["X-RateLimit-Reset"] == reset
    assert refused.headers["Cache-Control"] == "no-store"


def test_check_answers_an_empty_429_with_retry_after(client, owner_at_window):
    created = limited_key(client, owner_at_window.headers, limit=2, window=60)
    assert [check(client, created["key"]).status_code for _ in range(2)] == [200, 200]
    refused = check(client, created["key"])
    assert refused.status_code == 429
    assert refused.get_data() == b""
    assert refused.headers["Retry-After"] == "60"
    assert "X-Outter-Key-Id" not in refused.headers


def test_verify_and_check_spend_one_budget(client, owner_at_window):
    created = limited_key(client, owner_at_window.headers, limit=3, window=60)
    assert verify(client, created["key"]).status_code == 200
    assert check(client, created["key"]).status_code == 200
    assert verify(client, created["key"]).status_code == 200
    assert check(client, created["key"]).status_code == 429
    assert verify(client, created["key"]).status_code == 429


def test_the_budget_comes_back_when_the_window_ends(client, owner_at_window):
    created = limited_key(client, owner_at_window.headers, limit=1, window=60)
    assert verify(client, created["key"]).status_code == 200
    assert verify(client, created["key"]).status_code == 429
    clock.advance(59)
    assert verify(client, created["key"]).status_code == 429
    clock.advance(1)
    assert verify(client, created["key"]).status_code == 200


def test_a_missing_scope_also_spends_and_carries_the_headers(client, owner_at_window):
    created = limited_key(client, owner_at_window.headers, limit=2, window=60)
    response = verify(client, created["key"], json={"required_scopes": ["billing:write"]})
    assert response.status_code == 403
    assert response.headers["X-RateLimit-Remaining"] == "1"


def test_raising_a_limit_takes_effect_at_once(client, owner_at_window):
    created = limited_key(client, owner_at_window.headers, limit=1, window=60)
    assert verify(client, created["key"]).status_code == 200
    assert verify(client, created["key"]).status_code == 429
    patched = client.patch(
        f"{KEYS}/{created['id']}",
        json={"rate_limit": {"limit": 5, "window_seconds": 60}},
        headers=owner_at_window.headers,
    )
    assert patched.status_code == 200
    response = verify(client, created["key"])  # the window's count goes on: 1 + 1 refused + this one
    assert response.status_code == 200 and response.headers["X-RateLimit-Remaining"] == "2"
    client.patch(f"{KEYS}/{created['id']}", json={"rate_limit": None}, headers=owner_at_window.headers)
    assert all(verify(client, created["key"]).status_code == 200 for _ in range(10))


def test_limits_apply_whatever_brute_force_protection_says(make_app, owner_at_window):
    """OUTTER_RATE_LIMITS is the brute-force switch (off in tests); a key's limit is its owner's."""
    for rate_limits in (False, True):
        gateway = make_app(rate_limits=rate_limits).test_client()
        created = limited_key(gateway, owner_at_window.headers, limit=1, window=60)
        assert [verify(gateway, created["key"]).status_code for _ in range(2)] == [200, 429]


def test_a_rate_limited_key_does_not_spend_its_address_budget(make_app, owner_at_window):
    gateway = make_app(rate_limits=True, rate_limit_refusals_ip="2/minute").test_client()
    created = limited_key(gateway, owner_at_window.headers, limit=1, window=60)
    assert verify(gateway, created["key"]).status_code == 200
    for _ in range(5):
        assert verify(gateway, created["key"]).get_json() == {"valid": False, "code": "rate_limited"}
    other = create_key(gateway, owner_at_window.headers)
    assert verify(gateway, other["key"]).status_code == 200


def test_a_key_over_its_budget_is_answered_from_memory(app, client, owner_at_window, monkeypatch):
    """A runaway client costs one counter round trip per process and window, not one a request."""
    created = limited_key(client, owner_at_window.headers, limit=2, window=60)
    storage = app.extensions["outter_auth"].key_limiter._storage
    increments: list[str] = []
    real_incr = storage.incr
    monkeypatch.setattr(storage, "incr", lambda key, *a, **k: increments.append(key) or real_incr(key, *a, **k))
    statuses = [verify(client, created["key"]).status_code for _ in range(20)]
    assert statuses == [200, 200] + [429] * 18
    assert len(increments) == 3


def test_keys_without_a_limit_never_reach_the_limiter(app, client, owner, monkeypatch):
    """SPEC §14: keys without a limit pay nothing for the feature; counted in calls, not time."""
    limiter = app.extensions["outter_auth"].key_limiter
    calls: list[Any] = []
    real_spend, real_incr = limiter.spend, limiter._storage.incr
    monkeypatch.setattr(limiter, "spend", lambda *a, **k: calls.append(("spend", a)) or real_spend(*a, **k))
    monkeypatch.setattr(limiter._storage, "incr", lambda *a, **k: calls.append(("incr", a)) or real_incr(*a, **k))
    unlimited = create_key(client, owner.headers)
    for _ in range(5):
        for response in (verify(client, unlimited["key"]), check(client, unlimited["key"])):
            assert response.status_code == 200
            assert not set(RATE_HEADERS) & set(response.headers.keys())
    assert calls == []

    limited = limited_key(client, owner.headers, limit=100, window=60)
    verify(client, limited["key"])
    check(client, limited["key"])
    assert [name for name, _ in calls] == ["spend", "incr", "spend", "incr"]


def test_a_failing_counter_store_lets_limited_keys_through(make_app, owner):
    gateway = make_app(redis_url="redis://127.0.0.1:1/0").test_client()
    created = limited_key(gateway, owner.headers, limit=1, window=60)
    for _ in range(3):
        response = verify(gateway, created["key"])
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "1"
    assert check(gateway, created["key"]).status_code == 200


@pytest.fixture
def redis_available() -> None:
    require(redis_reachable())


def test_with_redis_two_instances_share_a_keys_budget(make_app, owner, redis_available):
    first = make_app(redis_url=REDIS_URL).test_client()
    second = make_app(redis_url=REDIS_URL).test_client()
    created = limited_key(first, owner.headers, limit=4, window=3600)
    assert verify(first, created["key"]).status_code == 200
    assert check(second, created["key"]).status_code == 200
    assert verify(second, created["key"]).status_code == 200
    last = verify(first, created["key"])
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    assert verify(second, created["key"]).status_code == 429
    assert check(first, created["key"]).status_code == 429


# --- no escalation (SPEC §3) -------------------------------------------------------------------


@pytest.fixture
def manager(client, owner) -> dict[str, Any]:
    """A key that manages keys, itself limited to 100 requests a minute."""
    return limited_key(client, owner.headers, limit=100, window=60, scopes=[*MANAGE, "content:generate"])


def create_as(client, manager: dict[str, Any], rate_limit: Any) -> Any:
    body = {"name": "child", "scopes": ["content:generate"], "rate_limit": rate_limit}
    return client.post(KEYS, json=body, headers=key_headers(manager["key"]))


@pytest.mark.parametrize(
    "rate_limit",
    [
        {"limit": 100, "window_seconds": 60},  # the same
        {"limit": 10, "window_seconds": 60},  # fewer
        {"limit": 100, "window_seconds": 3600},  # as many, over longer
        {"limit": 50, "window_seconds": 30},  # the same rate, a smaller burst
    ],
)
def test_a_limited_key_makes_keys_within_its_limit(client, manager, rate_limit):
    response = create_as(client, manager, rate_limit)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["rate_limit"] == rate_limit


@pytest.mark.parametrize(
    "rate_limit",
    [
        None,  # no limit at all
        {"limit": 101, "window_seconds": 60},  # more per window
        {"limit": 100, "window_seconds": 59},  # a higher rate
        {"limit": 200, "window_seconds": 120},  # the same rate, a bigger burst
        {"limit": 60, "window_seconds": 1},  # far faster
    ],
)
def test_a_limited_key_cannot_make_a_key_without_a_limit_or_with_a_looser_one(app, client, manager, rate_limit):
    response = create_as(client, manager, rate_limit)
    assert_error(response, 403)
    assert "rate limit" in response.get_json()["message"]
    refused = audit_events(app, "api_key.escalation_refused")
    assert len(refused) == 1 and refused[0]["details"]["rate_limit"] == rate_limit


def test_a_limited_key_cannot_loosen_or_lift_a_limit_by_patch(client, owner, manager):
    child = create_as(client, manager, {"limit": 10, "window_seconds": 60}).get_json()
    for wanted in (None, {"limit": 1000, "window_seconds": 60}):
        for target in (child, manager):
            response = client.patch(
                f"{KEYS}/{target['id']}", json={"rate_limit": wanted}, headers=key_headers(manager["key"])
            )
            assert_error(response, 403)
    tighter = client.patch(
        f"{KEYS}/{child['id']}",
        json={"rate_limit": {"limit": 5, "window_seconds": 60}},
        headers=key_headers(manager["key"]),
    )
    assert tighter.status_code == 200


def test_a_limited_key_may_revoke_but_not_rename_an_unlimited_one(client, owner, manager):
    unlimited = create_key(client, owner.headers)
    url = f"{KEYS}/{unlimited['id']}"
    assert_error(client.patch(url, json={"name": "mine now"}, headers=key_headers(manager["key"])), 403)
    assert client.delete(url, headers=key_headers(manager["key"])).status_code == 204


def test_a_limited_key_cannot_make_an_oauth_client(client, owner):
    """Clients have no rate limit: a limited key making one would escape its own."""
    manager = limited_key(client, owner.headers, limit=100, window=60, scopes=["clients:write", "content:generate"])
    body = {"name": "escape", "grant_types": ["client_credentials"], "scopes": ["content:generate"]}
    response = client.post("/api/auth/clients", json=body, headers=key_headers(manager["key"]))
    assert_error(response, 403)


def test_owners_and_unlimited_keys_make_keys_with_any_limit_or_none(client, owner):
    unlimited_manager = create_key(client, owner.headers, scopes=[*MANAGE, "content:generate"])
    for rate_limit in (None, {"limit": 1_000_000, "window_seconds": 1}):
        assert create_as(client, unlimited_manager, rate_limit).status_code == 201
        body = {"name": "x", "scopes": ["content:generate"], "rate_limit": rate_limit}
        assert client.post(KEYS, json=body, headers=owner.headers).status_code == 201


def test_a_project_key_with_a_limit_keeps_both_bounds(client, owner):
    project = create_project(client, owner.headers, "shop")
    manager = limited_key(client, owner.headers, limit=10, window=60, scopes=MANAGE, project_id=project)
    body = {"name": "x", "scopes": ["api_keys:read"], "project_id": project, "rate_limit": None}
    assert_error(client.post(KEYS, json=body, headers=key_headers(manager["key"])), 403)
    body["rate_limit"] = {"limit": 10, "window_seconds": 60}
    assert client.post(KEYS, json=body, headers=key_headers(manager["key"])).status_code == 201
