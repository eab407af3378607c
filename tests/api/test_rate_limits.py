"""Rate limits (issue 6): failed guesses on login and /oauth/token per IP and per account,
refusals per IP on the gateway endpoints; 429 with Retry-After in each endpoint family's
error shape.

Each test builds its own app (its own in-memory counters) on the shared test database,
with limits small enough to reach in a few requests. The testing default is "off".
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import limits.storage.memory
import pytest
import redis

from outter_auth import clock, rate_limits
from outter_auth.config import ConfigError, load_settings
from outter_auth.services import api_key_format
from tests.api_key_helpers import create_key
from tests.assertions import assert_error
from tests.factories import PASSWORD
from tests.integration.servers import redis_reachable, require
from tests.oauth_helpers import FIRST_PARTY, OAuthClient, assert_oauth_error, token_request

LOGIN = "/api/auth/login"
VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"
REDIS_URL = "redis://127.0.0.1:6379/0"
GENEROUS = "1000/minute"
LIMITS_OFF = {
    "rate_limit_login_ip": GENEROUS,
    "rate_limit_login_account": GENEROUS,
    "rate_limit_token_ip": GENEROUS,
    "rate_limit_token_account": GENEROUS,
    "rate_limit_refusals_ip": GENEROUS,
}


@pytest.fixture
def limited(make_app):
    """``limited(rate_limit_login_ip="2/minute", ...)``: an app with rate limits on."""
    return lambda **limits: make_app(rate_limits=True, **{**LIMITS_OFF, **limits})


def from_ip(ip: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": ip}}


def login(client, email: str, password: str = PASSWORD, ip: str = "192.0.2.1") -> Any:
    return client.post(LOGIN, json={"email": email, "password": password}, **from_ip(ip))


def assert_rest_429(response: Any, longest_window: int = 60) -> int:
    assert_error(response, 429)
    assert response.headers["Cache-Control"] == "no-store"
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= longest_window
    return retry_after


def unknown_key() -> str:
    """Well-formed (valid checksum) but never issued."""
    return api_key_format.generate("live")


# --- login ------------------------------------------------------------------------------


def test_failed_logins_are_limited_per_ip_and_other_addresses_are_not(limited, owner, admin):
    client = limited(rate_limit_login_ip="3/minute").test_client()
    # One address spraying three accounts (two of them do not exist).
    assert login(client, admin.email, "wrong-password").status_code == 401
    assert login(client, "nobody@acme.test", "whatever").status_code == 401
    assert login(client, "nobody@else.test", "whatever").status_code == 401
    # The address has spent its failures: even the right password of a fourth account waits.
    assert_rest_429(login(client, owner.email))
    assert login(client, owner.email, ip="192.0.2.2").status_code == 200


def test_successful_logins_never_spend_the_ip_budget(limited, owner):
    """A busy address (an office, a NAT, a test suite) that logs in correctly is never slowed."""
    client = limited(rate_limit_login_ip="2/minute").test_client()
    for _ in range(6):
        assert login(client, owner.email).status_code == 200
    assert login(client, owner.email, "wrong").status_code == 401
    assert login(client, owner.email).status_code == 200


def test_failed_logins_are_limited_per_account_and_address(limited, owner, admin):
    client = limited(rate_limit_login_account="2/minute").test_client()
    assert login(client, owner.email, "wrong-password-1", ip="198.51.100.1").status_code == 401
    assert login(client, owner.email, "wrong-password-2", ip="198.51.100.1").status_code == 401
    # The same address, and even the right password: the pair has used its failures.
    assert_rest_429(login(client, owner.email, ip="198.51.100.1"))
    assert_rest_429(login(client, owner.email.upper(), ip="198.51.100.1"))  # emails compare case-insensitively
    # Other accounts from that address are untouched (the IP budget is the one they share).
    assert login(client, admin.email, ip="198.51.100.1").status_code == 200


def test_a_strangers_failures_never_make_the_owner_wait(limited, owner):
    """A budget of the account alone would let anybody who knows an email make its owner
    wait (issue 13.11): strangers from many addresses spend their own pairs' budgets only."""
    client = limited(rate_limit_login_account="2/minute").test_client()
    for n in range(1, 6):
        for attempt in range(2):
            assert login(client, owner.email, f"wrong-{attempt}", ip=f"198.51.100.{n}").status_code == 401
        assert_rest_429(login(client, owner.email, "wrong", ip=f"198.51.100.{n}"))

    assert login(client, owner.email, ip="203.0.113.7").status_code == 200


def test_successful_logins_do_not_count_against_the_account(limited, owner):
    client = limited(rate_limit_login_account="2/minute").test_client()
    for n in range(5):
        assert login(client, owner.email, ip=f"203.0.113.{n}").status_code == 200


@pytest.fixture
def limiter_clock(monkeypatch) -> None:
    """The limiter's windows on the service's clock, so tests move time instead of sleeping:
    ``limits``' in-memory storage and our Retry-After arithmetic both read ``time.time()``."""
    clock.freeze(datetime.now(UTC))
    timer = SimpleNamespace(time=lambda: clock.now().timestamp(), monotonic=time.monotonic)
    monkeypatch.setattr(limits.storage.memory, "time", timer)
    monkeypatch.setattr(rate_limits, "time", timer)


def test_a_limit_is_lifted_when_its_window_passes(limited, owner, limiter_clock):
    client = limited(rate_limit_login_ip="2/minute").test_client()
    assert login(client, owner.email, "wrong-1").status_code == 401
    assert login(client, owner.email, "wrong-2").status_code == 401
    retry_after = assert_rest_429(login(client, owner.email))
    assert retry_after == 60  # the whole window: no time has passed

    clock.advance(retry_after - 1)
    assert assert_rest_429(login(client, owner.email)) == 1
    clock.advance(1)
    assert login(client, owner.email).status_code == 200


def test_bodies_without_an_email_spend_nothing_but_are_refused_once_the_ip_is_over(limited, owner):
    client = limited(rate_limit_login_ip="2/minute").test_client()
    ip = from_ip("192.0.2.9")
    for _ in range(5):  # no guess was made: nothing is counted
        assert client.post(LOGIN, json={}, **ip).status_code == 422
        assert client.post(LOGIN, data="{not json", content_type="application/json", **ip).status_code == 400
    assert login(client, owner.email, "wrong-1", ip="192.0.2.9").status_code == 401
    assert login(client, owner.email, "wrong-2", ip="192.0.2.9").status_code == 401
    assert_rest_429(client.post(LOGIN, json={"email": 7}, **ip))


# --- /oauth/token -------------------------------------------------------------------------


def test_token_failures_are_limited_per_ip_in_the_rfc6749_shape(limited, machine, web_app):
    app = limited(rate_limit_token_ip="2/minute")
    confidential, other = machine, web_app
    client = app.test_client()
    form = {"grant_type": "client_credentials"}
    for _ in range(4):  # successes spend nothing
        assert token_request(client, form, confidential).status_code == 200
    # Two guesses from this address, at two clients' secrets.
    for guessed in (other, confidential):
        wrong = OAuthClient(guessed.client_id, "ocs_not-the-secret")
        assert client.post("/oauth/token", data=form, headers=_basic(wrong)).status_code == 401
    response = client.post("/oauth/token", data=form, headers=_basic(confidential))
    body = assert_oauth_error(response, 429, "temporarily_unavailable")
    assert "slow down" in body["error_description"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_wrong_client_secrets_never_lock_the_client_out(limited, machine):
    """A 256-bit secret cannot be guessed: a per-client budget would only let anybody who
    knows the client id lock the client out. Wrong secrets spend their addresses' budgets."""
    app = limited(rate_limit_token_account="2/minute", rate_limit_token_ip="3/minute")
    confidential = machine
    wrong = OAuthClient(confidential.client_id, "ocs_not-the-secret")
    client = app.test_client()
    form = {"grant_type": "client_credentials"}
    for n in range(6):
        response = client.post("/oauth/token", data=form, headers=_basic(wrong), **from_ip(f"10.0.0.{n}"))
        assert_oauth_error(response, 401, "invalid_client")
    # The right secret, from a new address: the client works.
    assert (
        client.post("/oauth/token", data=form, headers=_basic(confidential), **from_ip("10.0.0.9")).status_code == 200
    )
    # One address guessing on: its own budget runs out.
    for _ in range(2):
        assert client.post("/oauth/token", data=form, headers=_basic(wrong), **from_ip("10.0.0.0")).status_code == 401
    response = client.post("/oauth/token", data=form, headers=_basic(confidential), **from_ip("10.0.0.0"))
    assert_oauth_error(response, 429, "temporarily_unavailable")


def password_grant(client, username: str, password: str, ip: str) -> Any:
    form = {"grant_type": "password", "username": username, "password": password, "client_id": FIRST_PARTY}
    return client.post("/oauth/token", data=form, **from_ip(ip))


def test_password_grant_failures_are_limited_per_username_and_address(limited, owner, admin):
    client = limited(rate_limit_token_account="2/minute").test_client()
    assert password_grant(client, owner.email, "nope", "10.1.0.1").status_code == 400
    assert password_grant(client, owner.email, "nope", "10.1.0.1").status_code == 400
    assert_oauth_error(password_grant(client, owner.email, PASSWORD, "10.1.0.1"), 429, "temporarily_unavailable")
    # The owner from another address is not made to wait by what was tried from this one.
    assert password_grant(client, owner.email, PASSWORD, "10.1.0.2").status_code == 200
    # The same client, another user: the first-party client is shared by everybody.
    assert password_grant(client, admin.email, PASSWORD, "10.1.0.1").status_code == 200


def test_successful_password_grants_do_not_count_against_the_username(limited, owner):
    client = limited(rate_limit_token_account="2/minute").test_client()
    for n in range(5):
        assert password_grant(client, owner.email, PASSWORD, f"10.1.1.{n}").status_code == 200


def test_a_bad_refresh_token_counts_against_the_address_not_the_shared_client(limited, owner):
    """Bad refresh tokens are no guess at a client secret: were they counted against the
    first-party client, anybody could stop every user's refresh with a few of them."""
    client = limited(rate_limit_token_account="2/minute", rate_limit_token_ip="3/minute").test_client()

    def refresh(refresh_token: str, ip: str) -> Any:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": FIRST_PARTY}
        return client.post("/oauth/token", data=form, **from_ip(ip))

    for n in range(3):
        assert_oauth_error(refresh(f"not-a-refresh-token-{n}", "10.2.0.1"), 400, "invalid_grant")
    assert_oauth_error(refresh("not-a-refresh-token", "10.2.0.1"), 429, "temporarily_unavailable")
    # Another address refreshes a real token of the same (shared) client.
    response = refresh(owner.login_body["refresh_token"], "10.2.0.2")
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"grant_type": "urn:nope"}, id="unsupported-grant-type"),
        pytest.param({"grant_type": "client_credentials", "scope": "not:allowed"}, id="invalid-scope"),
        pytest.param({"grant_type": "client_credentials", "scope": "a", "extra": ["1", "2"]}, id="repeated-parameter"),
    ],
)
def test_token_requests_refused_for_their_shape_spend_nothing(limited, machine, form):
    app = limited(rate_limit_token_ip="2/minute", rate_limit_token_account="2/minute")
    confidential = machine
    client = app.test_client()
    for _ in range(4):
        response = client.post("/oauth/token", data=form, headers=_basic(confidential))
        assert response.status_code == 400, response.get_json()
        assert response.get_json()["error"] not in ("invalid_grant", "invalid_client")
    assert token_request(client, {"grant_type": "client_credentials"}, confidential).status_code == 200


def test_grants_without_a_password_read_no_counter(limited, owner, machine, monkeypatch):
    """Only the password grant names a guessable secret worth a read of the shared counts
    before the request; a machine's client_credentials request reads none (issue 14)."""
    app = limited()
    confidential = machine
    strategy = app.extensions["outter_auth"].rate_limits.strategy
    reads: list[tuple[str, ...]] = []
    real_test = strategy.test
    monkeypatch.setattr(strategy, "test", lambda item, *keys, **kw: reads.append(keys) or real_test(item, *keys, **kw))
    client = app.test_client()
    assert token_request(client, {"grant_type": "client_credentials"}, confidential).status_code == 200
    assert reads == []
    form = {"grant_type": "password", "username": owner.email, "password": PASSWORD, "client_id": FIRST_PARTY}
    assert client.post("/oauth/token", data=form).status_code == 200
    assert len(reads) == 2 and any("account" in key for keys in reads for key in keys)


def _basic(oauth_client: OAuthClient) -> dict[str, str]:
    headers, _ = oauth_client.auth("basic")
    return headers


# --- verify and check: refusals only -------------------------------------------------------


def test_refused_keys_are_limited_per_ip_but_valid_keys_never_are(limited, client, owner):
    raw = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    gateway = limited(rate_limit_refusals_ip="3/minute").test_client()
    for _ in range(50):
        assert gateway.post(VERIFY, headers={"X-API-Key": raw}, **from_ip("192.0.2.50")).status_code == 200
    bad = unknown_key()
    for _ in range(3):
        assert gateway.post(VERIFY, headers={"X-API-Key": bad}, **from_ip("192.0.2.50")).status_code == 401
    response = gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **from_ip("192.0.2.50"))
    assert response.status_code == 429
    assert response.get_json() == {"valid": False, "code": "rate_limited"}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Cache-Control"] == "no-store"
    # The address is over its refusal budget, yet the valid key still passes...
    assert gateway.post(VERIFY, headers={"X-API-Key": raw}, **from_ip("192.0.2.50")).status_code == 200
    # ...and another address is refused normally.
    assert gateway.post(VERIFY, headers={"X-API-Key": bad}, **from_ip("192.0.2.51")).status_code == 401


def test_missing_and_malformed_keys_are_not_counted(limited):
    gateway = limited(rate_limit_refusals_ip="2/minute").test_client()
    ip = from_ip("192.0.2.60")
    for _ in range(10):
        assert gateway.post(VERIFY, **ip).get_json()["code"] == "missing"
        assert gateway.post(VERIFY, headers={"X-API-Key": "outter_live_nope"}, **ip).get_json()["code"] == "malformed"
        assert gateway.get(CHECK, headers={"X-API-Key": "garbage"}, **ip).status_code == 401
        assert gateway.get(CHECK, **ip).status_code == 401
    assert gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 401
    assert gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 401
    assert gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 429


def test_only_login_and_token_requests_go_through_the_limiter(limited, client, owner, monkeypatch):
    """Every other request, the hot path above all, never reaches the counter store."""
    raw = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    app = limited()
    strategy = app.extensions["outter_auth"].rate_limits.strategy
    passes = []
    for name in ("test", "hit", "get_window_stats"):
        real = getattr(strategy, name)
        monkeypatch.setattr(strategy, name, lambda *a, _real=real, **k: passes.append(1) or _real(*a, **k))
    gateway = app.test_client()
    assert gateway.post(VERIFY, headers={"X-API-Key": raw}).status_code == 200
    assert gateway.get(CHECK, headers={"X-API-Key": raw}).status_code == 200
    assert gateway.get("/healthz").status_code == 200
    assert gateway.get("/.well-known/jwks.json").status_code == 200
    assert passes == []
    assert login(gateway, owner.email).status_code == 200
    assert passes  # the limited views do pass through it


def test_an_address_over_budget_is_answered_from_memory(limited, monkeypatch):
    """A flood costs one counter round trip per process and window, not one per request."""
    app = limited(rate_limit_refusals_ip="2/minute")
    strategy = app.extensions["outter_auth"].rate_limits.strategy
    hits = []
    real_hit = strategy.hit
    monkeypatch.setattr(strategy, "hit", lambda *a, **k: hits.append(a) or real_hit(*a, **k))
    gateway = app.test_client()
    ip = from_ip("192.0.2.65")
    statuses = [gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code for _ in range(30)]
    assert statuses == [401, 401] + [429] * 28
    assert len(hits) == 3
    # Another address is counted afresh.
    assert gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}, **from_ip("192.0.2.66")).status_code == 401
    assert len(hits) == 4


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(lambda: {"X-API-Key": unknown_key()}, id="unknown-key"),
        pytest.param(lambda: {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."}, id="forged-jwt"),
    ],
)
def test_check_answers_an_empty_429_once_refusals_are_over_budget(limited, credential):
    gateway = limited(rate_limit_refusals_ip="2/minute").test_client()
    ip = from_ip("192.0.2.70")
    assert gateway.get(CHECK, headers=credential(), **ip).status_code == 401
    assert gateway.get(CHECK, headers=credential(), **ip).status_code == 401
    response = gateway.get(CHECK, headers=credential(), **ip)
    assert response.status_code == 429
    assert response.data == b""
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "X-Outter-Tenant-Id" not in response.headers


def test_check_with_a_valid_key_is_never_limited(limited, client, owner):
    raw = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    gateway = limited(rate_limit_refusals_ip="1/minute").test_client()
    ip = from_ip("192.0.2.80")
    assert gateway.get(CHECK, headers={"X-API-Key": unknown_key()}, **ip).status_code == 401
    assert gateway.get(CHECK, headers={"X-API-Key": unknown_key()}, **ip).status_code == 429
    for _ in range(20):
        assert gateway.get(CHECK, headers={"X-API-Key": raw}, **ip).status_code == 200


# --- client addresses ----------------------------------------------------------------------


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(limited, owner):
    client = limited(rate_limit_login_ip="2/minute").test_client()

    def spoofing(forwarded_for: str) -> Any:
        return client.post(
            LOGIN,
            json={"email": owner.email, "password": "wrong-password"},
            headers={"X-Forwarded-For": forwarded_for},
            **from_ip("192.0.2.90"),
        )

    assert spoofing("203.0.113.1").status_code == 401
    assert spoofing("203.0.113.2").status_code == 401
    # A new X-Forwarded-For each time does not buy a fresh budget: the socket's address counts.
    assert_rest_429(spoofing("203.0.113.3"))


def test_behind_a_trusted_proxy_each_client_address_has_its_own_budget(limited, owner):
    client = limited(rate_limit_login_ip="2/minute", trusted_proxies=1).test_client()
    proxy = from_ip("10.9.9.9")

    def via_proxy(client_ip: str, password: str = "wrong-password") -> Any:
        return client.post(
            LOGIN, json={"email": owner.email, "password": password}, headers={"X-Forwarded-For": client_ip}, **proxy
        )

    assert via_proxy("203.0.113.1").status_code == 401
    assert via_proxy("203.0.113.1").status_code == 401
    assert_rest_429(via_proxy("203.0.113.1", PASSWORD))
    assert via_proxy("203.0.113.2", PASSWORD).status_code == 200  # another client behind the same proxy
    # A client cannot prepend its own "hops": only the last one, added by the proxy, counts.
    assert_rest_429(via_proxy("198.51.100.200, 203.0.113.1"))


# --- shared counters -----------------------------------------------------------------------


@pytest.fixture
def redis_available() -> None:
    require(redis_reachable())  # skipped without Redis, a failure under CI


def test_with_redis_every_instance_shares_the_counters(limited, owner, redis_available):
    first = limited(rate_limit_login_ip="3/minute", redis_url=REDIS_URL).test_client()
    second = limited(rate_limit_login_ip="3/minute", redis_url=REDIS_URL).test_client()
    ip = f"test-{uuid.uuid4().hex}"  # a fresh counter, whatever earlier runs left in Redis
    assert login(first, owner.email, "wrong-1", ip=ip).status_code == 401
    assert login(second, owner.email, "wrong-2", ip=ip).status_code == 401
    assert login(first, owner.email, "wrong-3", ip=ip).status_code == 401
    assert_rest_429(login(second, owner.email, ip=ip))
    assert_rest_429(login(first, owner.email, ip=ip))


def test_refusal_budget_is_shared_through_redis(limited, redis_available):
    first = limited(rate_limit_refusals_ip="2/minute", redis_url=REDIS_URL).test_client()
    second = limited(rate_limit_refusals_ip="2/minute", redis_url=REDIS_URL).test_client()
    ip = from_ip(f"test-{uuid.uuid4().hex}")
    assert first.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 401
    assert second.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 401
    assert first.post(VERIFY, headers={"X-API-Key": unknown_key()}, **ip).status_code == 429


def test_an_unreachable_limit_store_fails_open_not_shut(limited, client, owner):
    """A dead Redis must not lock everybody out, nor answer 500."""
    dead = "redis://127.0.0.1:1/0"
    raw = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    gateway = limited(rate_limit_login_ip="1/minute", rate_limit_refusals_ip="1/minute", redis_url=dead).test_client()
    for _ in range(3):
        assert login(gateway, owner.email, "wrong").status_code == 401
        assert login(gateway, owner.email).status_code == 200
        assert gateway.post(VERIFY, headers={"X-API-Key": unknown_key()}).status_code == 401
    assert gateway.post(VERIFY, headers={"X-API-Key": raw}).status_code == 200


def test_a_429_still_says_when_to_retry_if_the_store_fails_while_answering(limited, owner, monkeypatch):
    app = limited(rate_limit_login_ip="1/minute")
    strategy = app.extensions["outter_auth"].rate_limits.strategy
    client = app.test_client()
    assert login(client, owner.email, "wrong").status_code == 401

    def store_down(*args: Any, **kwargs: Any) -> Any:
        raise redis.ConnectionError("gone")

    monkeypatch.setattr(strategy, "get_window_stats", store_down)
    response = login(client, owner.email)
    assert_rest_429(response)
    assert response.headers["Retry-After"] == "60"  # the window's length


# --- configuration -------------------------------------------------------------------------


def test_limits_are_off_in_the_testing_environment_unless_asked_for(client, owner):
    for _ in range(40):
        assert login(client, owner.email, "wrong").status_code == 401
    assert login(client, owner.email).status_code == 200


def test_limits_are_on_by_default_outside_testing():
    assert load_settings({}, environ={}).rate_limits is True
    assert load_settings({"env": "testing"}, environ={}).rate_limits is False
    assert load_settings({"env": "testing"}, environ={"OUTTER_RATE_LIMITS": "true"}).rate_limits is True
    assert load_settings({}, environ={"OUTTER_RATE_LIMITS": "off"}).rate_limits is False


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OUTTER_RATE_LIMIT_LOGIN_IP", "lots"),
        ("OUTTER_RATE_LIMIT_TOKEN_ACCOUNT", "10 per fortnight"),
        ("OUTTER_RATE_LIMIT_REFUSALS_IP", "-1/minute"),
        ("OUTTER_RATE_LIMITS", "maybe"),
        ("OUTTER_TRUSTED_PROXIES", "-1"),
        ("OUTTER_TRUSTED_PROXIES", "many"),
    ],
)
def test_bad_limit_settings_are_refused_in_one_line(variable, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({}, environ={variable: value})
    assert variable in str(raised.value) and "\n" not in str(raised.value)


def test_the_openapi_document_declares_the_429s(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "429" in paths["/api/auth/login"]["post"]["responses"]
    assert "429" in paths["/oauth/token"]["post"]["responses"]
    assert "429" in paths[VERIFY]["post"]["responses"]
    assert "429" in paths[CHECK]["get"]["responses"]
