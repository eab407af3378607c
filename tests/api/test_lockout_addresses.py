"""Lockout that cannot be turned against users (issue 13.11): failures lock the (email,
client address) pair, as Auth0 does; an attacker rotating addresses meets an account-wide
budget, which locks the email for everybody.

``locking_app``: 3 failures lock a pair, 9 from all addresses together lock the account,
locks of 60 s doubling up to 600 s. The owner signs in from ``HOME``; strangers from
other addresses (documentation ranges, RFC 5737 and RFC 3849).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from flask import Flask

from outter_auth import clock
from outter_auth.config import ConfigError, load_settings
from tests.api_key_helpers import audit_events
from tests.apps import extra_app
from tests.assertions import assert_error
from tests.factories import PASSWORD, Factory
from tests.oauth_helpers import OUTTER_APP, assert_oauth_error

LOGIN = "/api/auth/login"
WRONG = "not the password at all"
PAIR, ACCOUNT, BASE = 3, 9, 60
SETTINGS = {
    "lockout_threshold": PAIR,
    "lockout_account_threshold": ACCOUNT,
    "lockout_base_seconds": BASE,
    "lockout_max_seconds": 600,
}
VICTIM = "victim@acme.test"
GHOST = "ghost@acme.test"
HOME = "192.0.2.10"
STRANGERS = [f"198.51.100.{n}" for n in range(1, 60)]


@pytest.fixture(scope="module")
def _locking_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    with extra_app({**base_config, **SETTINGS}) as built:
        yield built


@pytest.fixture
def lc(_locking_app: Flask, app: Flask) -> Any:
    """A test client of the locking app (depends on ``app`` so rows are cleaned)."""
    return _locking_app.test_client()


@pytest.fixture
def victim(make: Factory) -> str:
    clock.freeze(datetime.now(UTC))
    return make.user("acme", VICTIM, "member")


def login(client: Any, email: str, password: str, ip: str) -> Any:
    return client.post(LOGIN, json={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip})


def fail(client: Any, email: str, ip: str, times: int = 1) -> None:
    for _ in range(times):
        assert_error(login(client, email, WRONG, ip), 401)


def assert_locked(response: Any) -> int:
    assert_error(response, 429)
    return int(response.headers["Retry-After"])


def locks(app: Flask) -> list[tuple[str, int, str | None]]:
    """``account.locked`` events as (scope, failures, ip), oldest first."""
    return [(e["details"]["scope"], e["details"]["failures"], e["ip"]) for e in audit_events(app, "account.locked")]


# --- a stranger locks only their own address out -------------------------------------------


def test_a_strangers_failures_lock_the_stranger_out_not_the_owner(app, lc, victim):
    stranger = STRANGERS[0]
    fail(lc, VICTIM, stranger, PAIR)

    assert_locked(login(lc, VICTIM, PASSWORD, stranger))  # even the right password, from there
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200  # the owner, from home
    assert locks(app) == [("address", PAIR, stranger)]


def test_the_owners_own_failures_still_lock_the_owners_address(lc, victim):
    fail(lc, VICTIM, HOME, PAIR)

    assert_locked(login(lc, VICTIM, PASSWORD, HOME))
    assert login(lc, VICTIM, PASSWORD, STRANGERS[0]).status_code == 200  # the pair, not the account


def test_an_ipv6_network_counts_as_one_address(lc, victim):
    for host in ("2001:db8:0:1::1", "2001:db8:0:1::2", "2001:db8:0:1:ffff::3"):  # one /64
        fail(lc, VICTIM, host)

    assert_locked(login(lc, VICTIM, PASSWORD, "2001:db8:0:1::abcd"))
    assert login(lc, VICTIM, PASSWORD, "2001:db8:0:2::1").status_code == 200  # the next /64


def test_a_correct_password_resets_only_its_own_addresses_count(lc, victim):
    stranger = STRANGERS[0]
    fail(lc, VICTIM, stranger, PAIR - 1)
    fail(lc, VICTIM, HOME, PAIR - 1)
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200  # resets home's count

    fail(lc, VICTIM, stranger)  # the stranger's third failure locks the stranger
    fail(lc, VICTIM, HOME, PAIR - 1)  # home starts afresh: two more are still no lock

    assert_locked(login(lc, VICTIM, PASSWORD, stranger))
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200


def test_the_password_grant_counts_the_same_pair(lc, victim):
    stranger = STRANGERS[0]
    form = {"grant_type": "password", "username": VICTIM, "client_id": OUTTER_APP.client_id}
    for _ in range(PAIR):
        response = lc.post("/oauth/token", data={**form, "password": WRONG}, environ_base={"REMOTE_ADDR": stranger})
        assert_oauth_error(response, 400, "invalid_grant")

    locked = lc.post("/oauth/token", data={**form, "password": PASSWORD}, environ_base={"REMOTE_ADDR": stranger})
    assert_oauth_error(locked, 429, "temporarily_unavailable")
    assert_locked(login(lc, VICTIM, PASSWORD, stranger))
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200


# --- an attacker rotating addresses meets the account-wide budget ---------------------------


def test_addresses_each_under_the_pair_threshold_together_lock_the_account(app, lc, victim):
    spent = 0
    for ip in STRANGERS:  # 2 failures from each address: never a pair lock
        times = min(PAIR - 1, ACCOUNT - spent)
        if times == 0:
            break
        fail(lc, VICTIM, ip, times)  # the last of them, the 9th in all, locks the account
        spent += times

    assert [scope for scope, _, _ in locks(app)] == ["account"]
    assert locks(app)[0][1] == ACCOUNT
    # Now the email is locked for everybody, the owner at home included, and for new addresses.
    assert assert_locked(login(lc, VICTIM, PASSWORD, HOME)) == BASE
    assert_locked(login(lc, VICTIM, PASSWORD, STRANGERS[-1]))


def test_below_the_account_budget_strangers_never_lock_the_owner_out(app, lc, victim):
    # Strangers from many addresses spend all but one failure of the account-wide budget:
    # some of them lock themselves out (3 from one address), none locks the account.
    spent = 0
    for ip in STRANGERS:
        times = min(PAIR, ACCOUNT - 1 - spent)
        if times == 0:
            break
        fail(lc, VICTIM, ip, times)
        spent += times

    assert spent == ACCOUNT - 1
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200
    assert {scope for scope, _, _ in locks(app)} == {"address"}


def test_unknown_emails_meet_the_account_wide_lock_alike(lc, victim):
    for ip in STRANGERS[:ACCOUNT]:
        fail(lc, VICTIM, ip)
        fail(lc, GHOST, ip)

    known, unknown = login(lc, VICTIM, PASSWORD, HOME), login(lc, GHOST, PASSWORD, HOME)
    assert assert_locked(known) == assert_locked(unknown)
    assert known.get_json() == unknown.get_json()


def test_the_account_wide_lock_grows_like_the_pair_lock(lc, victim):
    for ip in STRANGERS[:ACCOUNT]:
        fail(lc, VICTIM, ip)
    assert assert_locked(login(lc, VICTIM, PASSWORD, HOME)) == BASE
    clock.advance(BASE)

    fail(lc, VICTIM, STRANGERS[ACCOUNT])  # one more failure, from yet another address

    assert assert_locked(login(lc, VICTIM, PASSWORD, HOME)) == 2 * BASE


# --- account.locked says which, without the address ------------------------------------------


def test_account_locked_says_the_scope_and_keeps_the_address_in_ip_only(app, lc, victim):
    fail(lc, VICTIM, STRANGERS[0], PAIR)  # locks that address out
    for ip in STRANGERS[1 : ACCOUNT - PAIR + 1]:
        fail(lc, VICTIM, ip)  # the last, the 9th failure in all, locks the account

    events = audit_events(app, "account.locked")  # under a frozen clock: in no particular order
    assert sorted((e["details"]["scope"], e["ip"]) for e in events) == [
        ("account", STRANGERS[ACCOUNT - PAIR]),
        ("address", STRANGERS[0]),
    ]
    for event in events:
        assert set(event["details"]) == {"scope", "failures", "locked_until"}
        assert "198.51.100" not in json.dumps(event["details"])
        assert event["subject"] == victim


# --- an unlock clears both kinds -------------------------------------------------------------


@pytest.mark.parametrize("how", ["rest", "cli"])
def test_an_unlock_lifts_the_pair_and_the_account_wide_locks(app, lc, victim, owner, how):
    fail(lc, VICTIM, HOME, PAIR)  # home is locked out
    for ip in STRANGERS[: ACCOUNT - PAIR]:
        fail(lc, VICTIM, ip)  # and now the whole account
    assert sorted(scope for scope, _, _ in locks(app)) == ["account", "address"]

    if how == "rest":
        assert lc.post(f"/api/auth/users/{victim}/unlock", headers=owner.headers).status_code == 204
    else:
        result = _locking_app_cli(lc, "users", "unlock", VICTIM)
        assert result.exit_code == 0, result.output

    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200
    assert login(lc, VICTIM, PASSWORD, STRANGERS[0]).status_code == 200
    fail(lc, VICTIM, HOME, PAIR - 1)  # both counts start afresh
    assert login(lc, VICTIM, PASSWORD, HOME).status_code == 200


def _locking_app_cli(client: Any, *args: str) -> Any:
    return client.application.test_cli_runner().invoke(args=list(args))


# --- settings --------------------------------------------------------------------------------


def test_the_defaults_are_ten_per_address_and_a_hundred_per_account():
    settings = load_settings({}, environ={})
    assert (settings.lockout_threshold, settings.lockout_account_threshold) == (10, 100)
    assert load_settings({}, environ={"OUTTER_LOCKOUT_ACCOUNT_THRESHOLD": "0"}).lockout_account_threshold == 0


def test_an_account_budget_below_the_pair_threshold_is_refused_in_one_line():
    with pytest.raises(ConfigError) as refused:
        load_settings({}, environ={"OUTTER_LOCKOUT_THRESHOLD": "10", "OUTTER_LOCKOUT_ACCOUNT_THRESHOLD": "5"})
    assert "OUTTER_LOCKOUT_ACCOUNT_THRESHOLD" in str(refused.value) and "\n" not in str(refused.value)
