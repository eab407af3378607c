"""Account lockout (issue 6): failed logins per email lock it for a while, growing, lifted by time or an admin.

The session ``app`` runs with lockout off (the testing default); ``locking_app`` is a second
app on the same database with threshold 3, base 60 s and maximum 600 s. Factories keep using
the session app: it is the same database, and their own logins must never be locked.

Every request here comes from the test client's one address, so the lock met is the one of
the (email, address) pair; the account-wide budget (20 here) is out of reach.
test_lockout_addresses.py covers other addresses and the account-wide lock.

Expectations are computed here, not imported: the account key is SHA-256 of the normalised
email, the address key SHA-256 of "address:" and the address, the lock lengths are 60, 120,
240, 480 and then 600 seconds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from flask import Flask
from sqlalchemy import select, text

from outter_auth import clock
from outter_auth.config import load_settings
from outter_auth.extensions import db
from outter_auth.models import LoginFailures
from outter_auth.services import passwords
from tests.api_key_helpers import audit_events, create_key, key_headers
from tests.apps import extra_app
from tests.assertions import assert_error
from tests.concurrency import race
from tests.factories import PASSWORD, Factory
from tests.oauth_helpers import OUTTER_APP, OAuthClient, assert_oauth_error, password_grant

LOGIN = "/api/auth/login"
USERS = "/api/auth/users"
AUDIT = "/api/auth/audit-events"
WRONG = "not the password at all"
THRESHOLD, BASE, LONGEST = 3, 60, 600
LOCKOUT = {
    "lockout_threshold": THRESHOLD,
    "lockout_base_seconds": BASE,
    "lockout_max_seconds": LONGEST,
    "lockout_account_threshold": 20,
}
VICTIM = "victim@acme.test"
GHOST = "ghost@acme.test"  # no account has it


# --- fixtures and helpers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def _locking_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    with extra_app({**base_config, **LOCKOUT}) as built:
        yield built


@pytest.fixture
def locking_app(_locking_app: Flask, app: Flask) -> Flask:
    """Lockout on (3 failures, 60 s doubling up to 600 s); depends on ``app`` so rows are cleaned."""
    return _locking_app


@pytest.fixture
def lc(locking_app: Flask) -> Any:
    """A test client of the locking app."""
    return locking_app.test_client()


@pytest.fixture(scope="module")
def _tolerant_app(app: Flask, base_config: dict[str, object]) -> Iterator[Flask]:
    tolerant = {"lockout_threshold": 1000, "lockout_account_threshold": 1000, "lockout_base_seconds": 60}
    with extra_app({**base_config, **tolerant}) as built:
        yield built


@pytest.fixture
def tolerant_app(_tolerant_app: Flask, app: Flask) -> Flask:
    """Lockout on but with a threshold far away: failures count, nothing locks."""
    return _tolerant_app


@pytest.fixture
def t0() -> datetime:
    """Freeze the service clock near the real time (tokens made by the factories stay valid)."""
    now = datetime.now(UTC)  # not rounded down: the signing key made a moment ago must be active
    clock.freeze(now)
    return now


@pytest.fixture
def victim(make: Factory) -> str:
    """A plain member of ``acme``; returns the user id."""
    return make.user("acme", VICTIM, "member")


def login(client: Any, email: str, password: str = PASSWORD, **extra: str) -> Any:
    return client.post(LOGIN, json={"email": email, "password": password, **extra})


def fail(client: Any, email: str, times: int = 1) -> None:
    """``times`` wrong passwords, each an ordinary 401 (so none of them met a lock)."""
    for _ in range(times):
        response = login(client, email, WRONG)
        assert_error(response, 401)
        assert response.get_json()["message"] == "invalid email or password"


def lock(client: Any, email: str) -> None:
    fail(client, email, THRESHOLD)


def retry_after(response: Any) -> int:
    value = response.headers.get("Retry-After")
    assert value is not None and value.isdigit(), dict(response.headers)
    return int(value)


def assert_locked(response: Any, seconds: int | None = None, tolerance: int = 0) -> dict[str, Any]:
    """429 in the SPEC §4 shape, integer Retry-After (``seconds`` ± ``tolerance``), no-store."""
    body = assert_error(response, 429)
    assert set(body) == {"code", "status", "message"}, body
    assert body["status"] == "Too Many Requests"
    assert response.headers.get("Cache-Control") == "no-store", dict(response.headers)
    waited = retry_after(response)
    assert waited >= 1
    if seconds is not None:
        assert abs(waited - seconds) <= tolerance, (waited, seconds)
    return body


def assert_oauth_locked(response: Any, seconds: int | None = None) -> dict[str, Any]:
    """429 in RFC 6749 §5.2's shape (temporarily_unavailable), Retry-After, no-store."""
    body = assert_oauth_error(response, 429, "temporarily_unavailable")
    assert isinstance(body.get("error_description"), str) and body["error_description"], body
    waited = retry_after(response)
    if seconds is not None:
        assert waited == seconds, (waited, seconds)
    return body


def account_key(email: str) -> str:
    """SHA-256 of the normalised email, computed here rather than by the service."""
    return hashlib.sha256(email.strip().lower().encode("utf-8")).hexdigest()


def source_key(address: str) -> str:
    return hashlib.sha256(f"address:{address}".encode()).hexdigest()


HERE = source_key("127.0.0.1")  # the test client's address
EVERYWHERE = "*"  # the account-wide count


def stored_failures(app: Flask, source: str | None = HERE) -> dict[str, tuple[int, datetime | None]]:
    """account -> (failures, locked_until) of the counts of ``source`` (None: every row, keyed
    by account and source)."""
    with app.app_context():
        rows = db.session.scalars(select(LoginFailures)).all()
    if source is None:
        return {f"{row.account}/{row.source}": (row.failures, row.locked_until) for row in rows}
    return {row.account: (row.failures, row.locked_until) for row in rows if row.source == source}


def run_cli(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=list(args))


def unlock(client: Any, user_id: str, headers: dict[str, str]) -> Any:
    return client.post(f"{USERS}/{user_id}/unlock", headers=headers)


# --- 1. the lock: 401 before, 429 after -----------------------------------------------------


def test_wrong_passwords_answer_401_until_the_threshold_then_even_the_right_one_is_429(lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD)  # each of the three is a plain 401, the third one locks

    response = login(lc, VICTIM, PASSWORD)

    body = assert_locked(response, BASE)
    assert "try again" in body["message"]
    assert "access_token" not in response.get_data(as_text=True)


def test_retry_after_is_the_lock_length_with_a_running_clock(lc, victim):
    lock(lc, VICTIM)

    assert_locked(login(lc, VICTIM, PASSWORD), BASE, tolerance=1)
    assert_locked(login(lc, VICTIM, WRONG), BASE, tolerance=1)


def test_below_the_threshold_the_right_password_still_works(lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD - 1)

    assert login(lc, VICTIM).status_code == 200


def test_a_correct_password_resets_the_count(lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD - 1)
    assert login(lc, VICTIM).status_code == 200
    fail(lc, VICTIM, THRESHOLD - 1)  # 4 failures in all, but never 3 in a row

    assert login(lc, VICTIM).status_code == 200


def test_a_correct_password_without_a_tenant_also_resets_the_count(app, lc, victim, make, t0):
    make.tenant("globex")
    assert run_cli(app, "users", "create", VICTIM, "--tenant", "globex").exit_code == 0
    fail(lc, VICTIM, THRESHOLD - 1)
    assert_error(login(lc, VICTIM), 400)  # the right password: only the tenant is missing
    fail(lc, VICTIM)  # one failure after a correct password

    assert login(lc, VICTIM, tenant="acme").status_code == 200


def test_the_email_is_normalised_before_counting(lc, victim, t0):
    fail(lc, "Victim@Acme.test")
    fail(lc, "VICTIM@ACME.TEST")
    fail(lc, VICTIM)

    assert_locked(login(lc, VICTIM), BASE)
    assert_locked(login(lc, "vIcTiM@aCmE.tEsT"), BASE)


def test_the_lock_is_per_email(lc, victim, make, t0):
    make.user("acme", "bystander@acme.test", "member")
    lock(lc, VICTIM)

    assert login(lc, "bystander@acme.test").status_code == 200
    assert_locked(login(lc, VICTIM), BASE)


# --- 2. an unknown email locks exactly alike --------------------------------------------------


def test_an_unknown_email_locks_exactly_like_an_account(lc, victim, t0):
    for _ in range(THRESHOLD):
        known, unknown = login(lc, VICTIM, WRONG), login(lc, GHOST, WRONG)
        assert known.status_code == unknown.status_code == 401
        assert known.get_json() == unknown.get_json()

    known, unknown = login(lc, VICTIM, PASSWORD), login(lc, GHOST, PASSWORD)

    assert_locked(known, BASE)
    assert_locked(unknown, BASE)
    assert known.get_json() == unknown.get_json()
    assert retry_after(known) == retry_after(unknown) == BASE
    assert known.headers.get("Cache-Control") == unknown.headers.get("Cache-Control") == "no-store"
    # The right password and a wrong one meet the same lock, too.
    wrong = login(lc, VICTIM, WRONG)
    assert wrong.get_json() == known.get_json() and retry_after(wrong) == BASE


# --- 3. account.locked ------------------------------------------------------------------------


def test_account_locked_is_recorded_once_per_lock(app, lc, victim, owner, t0):
    lock(lc, VICTIM)
    for password in (PASSWORD, WRONG, WRONG):  # attempts during the lock record no further lock
        assert_locked(login(lc, VICTIM, password))

    events = audit_events(app, "account.locked")

    assert len(events) == 1, events
    event = events[0]
    assert event["tenant_id"] == owner.tenant_id
    assert event["subject"] == victim
    assert event["details"]["failures"] == THRESHOLD
    assert event["details"]["scope"] == "address"  # the test client's address; its ip is the event's
    assert event["ip"] == "127.0.0.1"
    assert datetime.fromisoformat(event["details"]["locked_until"]) == t0 + timedelta(seconds=BASE)
    assert PASSWORD not in json.dumps(event) and WRONG not in json.dumps(event)
    # The tenant's owner sees it in the audit trail.
    listed = lc.get(AUDIT, headers=owner.headers, query_string={"type": "account.locked"}).get_json()
    assert [(e["subject"], e["tenant_id"]) for e in listed] == [(victim, owner.tenant_id)]


def test_no_audit_event_holds_a_password(app, lc, victim, t0):
    lock(lc, VICTIM)
    assert_locked(login(lc, VICTIM, PASSWORD))

    with app.app_context():
        dump = json.dumps([list(row) for row in db.session.execute(text("SELECT * FROM audit_events"))], default=str)
    assert PASSWORD not in dump and WRONG not in dump


def test_a_user_of_two_tenants_is_reported_locked_to_both(app, lc, victim, make, t0):
    globex = make.tenant("globex")
    added = run_cli(app, "users", "create", VICTIM, "--tenant", "globex", "--role", "member", "--json")
    assert added.exit_code == 0, added.output
    assert json.loads(added.output)["id"] == victim

    lock(lc, VICTIM)
    assert_locked(login(lc, VICTIM, PASSWORD, tenant="globex"), BASE)

    events = audit_events(app, "account.locked")
    acme = make.tenant("acme")
    assert sorted(e["tenant_id"] for e in events) == sorted([acme.id, globex.id]), events
    assert {e["subject"] for e in events} == {victim}
    assert all(e["details"]["failures"] == THRESHOLD for e in events)


def test_an_unknown_email_lock_is_recorded_without_the_email(app, lc, t0):
    lock(lc, GHOST)

    events = audit_events(app, "account.locked")

    assert len(events) == 1
    assert events[0]["tenant_id"] is None and events[0]["subject"] is None
    assert events[0]["details"]["failures"] == THRESHOLD
    assert GHOST not in json.dumps(events)


# --- 4. and 5. lifted by time, growing delays -------------------------------------------------


def test_the_lock_lifts_by_itself_and_the_count_starts_afresh(lc, victim, t0):
    lock(lc, VICTIM)
    clock.advance(BASE - 1)
    assert_locked(login(lc, VICTIM), 1)

    clock.advance(2)
    assert login(lc, VICTIM).status_code == 200

    fail(lc, VICTIM, THRESHOLD - 1)  # a new run, not failures 4 and 5 of the old one
    assert login(lc, VICTIM).status_code == 200


def test_the_lock_grows_with_each_failure_after_it_and_is_capped(app, lc, victim, t0):
    lock(lc, VICTIM)
    assert_locked(login(lc, VICTIM), BASE)
    expected_locks = [BASE]

    # Attempts during a lock neither count nor extend it: Retry-After only goes down.
    clock.advance(10)
    assert_locked(login(lc, VICTIM, WRONG), BASE - 10)
    assert_locked(login(lc, VICTIM, WRONG), BASE - 10)
    assert_locked(login(lc, VICTIM, PASSWORD), BASE - 10)
    clock.advance(BASE - 10)  # the lock has just passed

    for expected in (2 * BASE, 4 * BASE, 8 * BASE, LONGEST, LONGEST):
        fail(lc, VICTIM)  # ONE more wrong password locks again
        assert_locked(login(lc, VICTIM), expected)
        clock.advance(expected // 2)
        assert_locked(login(lc, VICTIM, WRONG), expected - expected // 2)
        clock.advance(expected - expected // 2)
        expected_locks.append(expected)

    assert expected_locks == [60, 120, 240, 480, 600, 600]
    events = audit_events(app, "account.locked")
    assert sorted(e["details"]["failures"] for e in events) == [3, 4, 5, 6, 7, 8]
    assert stored_failures(app)[account_key(VICTIM)][0] == 8
    assert stored_failures(app, EVERYWHERE)[account_key(VICTIM)][0] == 8


def test_unknown_emails_grow_their_locks_alike(lc, t0):
    lock(lc, GHOST)
    clock.advance(BASE)
    fail(lc, GHOST)

    assert_locked(login(lc, GHOST), 2 * BASE)


# --- 6. a quiet day forgets -------------------------------------------------------------------


def test_a_quiet_day_forgets_earlier_failures(app, lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD - 1)
    clock.advance(timedelta(hours=25))
    fail(lc, VICTIM, THRESHOLD - 1)

    assert stored_failures(app)[account_key(VICTIM)][0] == THRESHOLD - 1
    assert login(lc, VICTIM).status_code == 200


def test_failures_within_a_day_still_add_up(lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD - 1)
    clock.advance(timedelta(hours=23))
    fail(lc, VICTIM)

    assert_locked(login(lc, VICTIM), BASE)


# --- 7. lifted by an admin --------------------------------------------------------------------


def test_an_admin_unlocks_a_member_at_once(app, lc, victim, admin, t0):
    lock(lc, VICTIM)
    assert_locked(login(lc, VICTIM))

    response = unlock(lc, victim, admin.headers)

    assert response.status_code == 204, response.get_data(as_text=True)
    assert response.get_data() == b""
    assert login(lc, VICTIM).status_code == 200
    events = audit_events(app, "account.unlocked")
    assert [(e["actor"], e["subject"], e["tenant_id"]) for e in events] == [(admin.user_id, victim, admin.tenant_id)]


def test_after_an_unlock_the_count_starts_afresh(app, lc, victim, admin, t0):
    lock(lc, VICTIM)
    assert unlock(lc, victim, admin.headers).status_code == 204
    assert not any(key.startswith(account_key(VICTIM)) for key in stored_failures(app, None))

    fail(lc, VICTIM, THRESHOLD - 1)
    assert login(lc, VICTIM).status_code == 200


def test_an_admin_unlocks_an_admin(lc, make, admin, t0):
    other_admin = make.user("acme", "ada@acme.test", "admin")
    lock(lc, "ada@acme.test")

    assert unlock(lc, other_admin, admin.headers).status_code == 204
    assert login(lc, "ada@acme.test").status_code == 200


def test_a_member_cannot_unlock(lc, victim, member, t0):
    lock(lc, VICTIM)

    assert_error(unlock(lc, victim, member.headers), 403)
    assert_locked(login(lc, VICTIM))


def test_a_member_cannot_unlock_themselves(lc, member, t0):
    lock(lc, member.email)

    assert_error(unlock(lc, member.user_id, member.headers), 403)
    assert_locked(login(lc, member.email))


def test_the_owner_of_another_tenant_cannot_see_the_user(lc, victim, other_owner, t0):
    lock(lc, VICTIM)

    assert_error(unlock(lc, victim, other_owner.headers), 404)
    assert_locked(login(lc, VICTIM))


def test_an_admin_cannot_unlock_an_owner(lc, make, owner, admin, t0):
    second_owner = make.user("acme", "olga@acme.test", "owner")
    lock(lc, "olga@acme.test")

    assert_error(unlock(lc, second_owner, admin.headers), 403)
    assert_locked(login(lc, "olga@acme.test"))

    assert unlock(lc, second_owner, owner.headers).status_code == 204
    assert login(lc, "olga@acme.test").status_code == 200


def test_an_api_key_with_users_write_unlocks_members_only(app, lc, victim, owner, admin, make, t0):
    key = create_key(lc, owner.headers, name="helpdesk", scopes=["users:write"])
    headers = key_headers(key["key"])
    second_owner = make.user("acme", "olga@acme.test", "owner")
    for email in (VICTIM, admin.email, "olga@acme.test"):
        lock(lc, email)

    assert unlock(lc, victim, headers).status_code == 204
    assert_error(unlock(lc, admin.user_id, headers), 403)
    assert_error(unlock(lc, second_owner, headers), 403)

    assert login(lc, VICTIM).status_code == 200
    assert_locked(login(lc, admin.email))
    assert_locked(login(lc, "olga@acme.test"))
    events = audit_events(app, "account.unlocked")
    assert [(e["actor"], e["subject"]) for e in events] == [(key["id"], victim)]


def test_an_api_key_without_users_write_cannot_unlock(lc, victim, owner, t0):
    key = create_key(lc, owner.headers, name="reader", scopes=["users:read"])
    lock(lc, VICTIM)

    assert_error(unlock(lc, victim, key_headers(key["key"])), 403)
    assert_locked(login(lc, VICTIM))


def test_unlock_needs_a_credential(lc, victim, t0):
    lock(lc, VICTIM)

    response = unlock(lc, victim, {})

    assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate")
    assert_locked(login(lc, VICTIM))


def test_unlock_of_an_unknown_id_is_404(lc, owner):
    assert_error(unlock(lc, "usr_" + "0" * 32, owner.headers), 404)


def test_unlocking_a_user_who_is_not_locked_is_harmless(app, lc, victim, make, owner, t0):
    make.user("acme", "bystander@acme.test", "member")
    lock(lc, "bystander@acme.test")
    fail(lc, VICTIM, THRESHOLD - 1)

    assert unlock(lc, owner.user_id, owner.headers).status_code == 204  # never failed at all
    assert unlock(lc, victim, owner.headers).status_code == 204  # failed, but not locked

    assert login(lc, owner.email).status_code == 200
    assert login(lc, VICTIM).status_code == 200
    assert_locked(login(lc, "bystander@acme.test"))  # someone else's lock is untouched


def test_unlock_lifts_the_lock_in_every_tenant(lc, app, victim, make, owner, t0):
    make.tenant("globex")
    assert run_cli(app, "users", "create", VICTIM, "--tenant", "globex").exit_code == 0
    lock(lc, VICTIM)

    assert unlock(lc, victim, owner.headers).status_code == 204

    assert login(lc, VICTIM, tenant="globex").status_code == 200


# --- 8. the OAuth password grant shares the lock ----------------------------------------------


@pytest.fixture(params=["outter-app", "tenant-client"])
def first_party(request: pytest.FixtureRequest, victim: str) -> OAuthClient:
    """The built-in first-party public client, or a tenant's own first-party public client."""
    if request.param == "outter-app":
        return OUTTER_APP
    mobile: OAuthClient = request.getfixturevalue("mobile")
    return mobile


def test_password_grant_failures_count_and_the_lock_answers_in_rfc6749_shape(lc, first_party, t0):
    for _ in range(THRESHOLD):
        assert_oauth_error(password_grant(lc, first_party, VICTIM, WRONG), 400, "invalid_grant")

    response = password_grant(lc, first_party, VICTIM, PASSWORD)

    body = assert_oauth_locked(response, BASE)
    assert set(body) <= {"error", "error_description"}
    assert "access_token" not in response.get_data(as_text=True)
    # The JSON login meets the same lock, in its own shape.
    assert_locked(login(lc, VICTIM), BASE)


def test_login_failures_lock_the_password_grant(lc, first_party, t0):
    fail(lc, VICTIM, THRESHOLD - 1)
    assert_oauth_error(password_grant(lc, first_party, VICTIM, WRONG), 400, "invalid_grant")

    assert_oauth_locked(password_grant(lc, first_party, VICTIM, PASSWORD), BASE)
    assert_oauth_locked(password_grant(lc, first_party, VICTIM, WRONG), BASE)


def test_password_grant_locks_an_unknown_username_alike(lc, victim, t0):
    for _ in range(THRESHOLD):
        known = password_grant(lc, OUTTER_APP, VICTIM, WRONG)
        unknown = password_grant(lc, OUTTER_APP, GHOST, WRONG)
        assert known.get_json() == unknown.get_json()

    known = password_grant(lc, OUTTER_APP, VICTIM, PASSWORD)
    unknown = password_grant(lc, OUTTER_APP, GHOST, PASSWORD)

    assert_oauth_locked(known, BASE)
    assert_oauth_locked(unknown, BASE)
    assert known.get_json() == unknown.get_json()


def test_password_grant_lock_lifts_with_time_and_is_recorded_once(app, lc, victim, t0):
    for _ in range(THRESHOLD):
        password_grant(lc, OUTTER_APP, VICTIM, WRONG)
    assert_oauth_locked(password_grant(lc, OUTTER_APP, VICTIM, PASSWORD), BASE)
    clock.advance(BASE)

    response = password_grant(lc, OUTTER_APP, VICTIM, PASSWORD)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(audit_events(app, "account.locked")) == 1


# --- 9. concurrency ---------------------------------------------------------------------------

RACERS = 8


def _race(app: Flask, email: str) -> list[Any]:
    return race(app, RACERS, lambda client: login(client, email, WRONG), "failure")


@pytest.mark.parametrize(
    ("email", "earlier"),
    [(VICTIM, 0), (GHOST, 0), (VICTIM, 1)],
    ids=["known-first-failures", "unknown-first-failures", "known-existing-counter"],
)
def test_concurrent_failures_are_all_counted(app, tolerant_app, victim, email, earlier):
    client = tolerant_app.test_client()
    fail(client, email, earlier)

    results = _race(tolerant_app, email)

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    statuses = [r.status_code for r in results]
    with app.app_context():
        dialect = db.engine.dialect.name
    if dialect == "sqlite" and any(s >= 500 for s in statuses):
        assert 500 not in statuses, [r.get_json() for r in results]
        pytest.skip(f"SQLite cannot serve {RACERS} concurrent writers reliably ('database is locked'): {statuses}")
    assert statuses == [401] * RACERS, [r.get_json() for r in results]
    assert stored_failures(app)[account_key(email)] == (earlier + RACERS, None)
    assert stored_failures(app, EVERYWHERE)[account_key(email)] == (earlier + RACERS, None)


# --- 10. lockout off --------------------------------------------------------------------------


def test_with_lockout_off_nothing_ever_locks_and_nothing_is_stored(app, client, victim):
    for _ in range(20):
        assert_error(login(client, VICTIM, WRONG), 401)
        assert_error(login(client, GHOST, WRONG), 401)

    assert login(client, VICTIM).status_code == 200
    assert stored_failures(app, None) == {}
    assert audit_events(app, "account.locked") == []


def test_lockout_is_on_by_default_outside_testing():
    assert load_settings({}, environ={}).lockout_threshold > 0
    assert load_settings({"env": "testing"}, environ={}).lockout_threshold == 0
    assert load_settings({"env": "testing"}, environ={"OUTTER_LOCKOUT_THRESHOLD": "5"}).lockout_threshold == 5


# --- 11. a locked login costs no bcrypt check -------------------------------------------------


def test_a_locked_login_performs_no_password_check(lc, victim, t0):
    lock(lc, VICTIM)
    lock(lc, GHOST)

    with mock.patch.object(passwords.bcrypt, "checkpw", wraps=passwords.bcrypt.checkpw) as checkpw:
        assert_locked(login(lc, VICTIM, PASSWORD))
        assert_locked(login(lc, VICTIM, WRONG))
        assert_locked(login(lc, GHOST, WRONG))
        assert_oauth_locked(password_grant(lc, OUTTER_APP, VICTIM, PASSWORD))
        locked_calls = checkpw.call_count
        fail(lc, "someone@acme.test")  # not locked: one check, so the patch does see them
        open_calls = checkpw.call_count - locked_calls

    assert locked_calls == 0
    assert open_calls == 1


# --- 12. the command line ---------------------------------------------------------------------


def test_cli_unlock_lifts_a_lock(app, locking_app, lc, victim, t0):
    lock(lc, VICTIM)

    result = run_cli(locking_app, "users", "unlock", "Victim@ACME.test", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"email": VICTIM, "unlocked": True}
    assert login(lc, VICTIM).status_code == 200
    events = audit_events(app, "account.unlocked")
    assert [(e["actor"], e["subject"]) for e in events] == [("cli", victim)]


def test_cli_unlock_in_text_and_of_an_unknown_email(locking_app, lc, t0):
    lock(lc, GHOST)

    result = run_cli(locking_app, "users", "unlock", GHOST)

    assert result.exit_code == 0, result.output
    assert GHOST in result.output
    fail(lc, GHOST)  # a plain 401 again, not a 429


def test_audit_prune_deletes_only_stale_unlocking_counters(app, t0):
    day = timedelta(days=1)
    rows = {
        "fresh": (2, t0 - timedelta(hours=1), None),
        "stale": (2, t0 - day - timedelta(hours=1), None),
        "stale-lock-passed": (3, t0 - day - timedelta(hours=1), t0 - day),
        "stale-but-still-locked": (9, t0 - day - timedelta(hours=1), t0 + timedelta(hours=1)),
        "lock-just-passed": (3, t0 - timedelta(hours=2), t0 - timedelta(hours=1)),
    }
    with app.app_context():
        for name, (failures, last, until) in rows.items():
            db.session.add(
                LoginFailures(
                    account=account_key(name), source=HERE, failures=failures, last_failure_at=last, locked_until=until
                )
            )
        db.session.commit()

    result = run_cli(app, "audit", "prune", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["login_failures"] == 2
    kept = {account_key(name) for name in ("fresh", "stale-but-still-locked", "lock-just-passed")}
    assert set(stored_failures(app)) == kept


def test_audit_prune_keeps_the_counters_of_real_failures(app, lc, victim, t0):
    fail(lc, VICTIM, THRESHOLD - 1)
    lock(lc, GHOST)

    result = run_cli(app, "audit", "prune", "--json")

    assert json.loads(result.output)["login_failures"] == 0
    assert set(stored_failures(app)) == {account_key(VICTIM), account_key(GHOST)}
    clock.advance(timedelta(hours=25))
    pruned = json.loads(run_cli(app, "audit", "prune", "--json").output)["login_failures"]
    assert pruned == 4  # each email's count from here, and from everywhere
    assert stored_failures(app, None) == {}


# --- 13. digests, not emails ------------------------------------------------------------------


def test_the_table_holds_digests_never_emails_nor_addresses(app, lc, victim, t0):
    fail(lc, "Victim@Acme.test", THRESHOLD - 1)
    lock(lc, "Ghost@ACME.test")

    assert set(stored_failures(app)) == {account_key(VICTIM), account_key(GHOST)}
    with app.app_context():
        dump = json.dumps([list(row) for row in db.session.execute(text("SELECT * FROM login_failures"))], default=str)
    for needle in (VICTIM, GHOST, "Victim@Acme.test", "Ghost@ACME.test", "victim@", "ghost@", "acme.test", "127.0.0"):
        assert needle.lower() not in dump.lower(), needle
    assert set(stored_failures(app, EVERYWHERE)) == {account_key(VICTIM), account_key(GHOST)}
