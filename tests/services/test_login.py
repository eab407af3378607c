"""Password sign-in (``services.login``): one answer and one bcrypt check for every failure,
the lockout before any check, and the membership a user acts in.

The cost of a check is counted, not timed: every path must make exactly one
``bcrypt.checkpw`` at the configured cost (SPEC §5: unknown email and wrong password take
the same time and give the same answer).
"""

from __future__ import annotations

from datetime import UTC, datetime

import bcrypt
import pytest
from sqlalchemy import select

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import AuditEvent, Membership, User
from outter_auth.services import passwords
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.lockout import AccountLocked, LockoutPolicy
from outter_auth.services.login import LoginPolicy, authenticate_password, choose_membership
from tests.factories import PASSWORD

ROUNDS = 4  # the factories hash with 4 rounds too: a real check and a burnt one cost the same
NO_LOCKOUT = LoginPolicy(ROUNDS)
LOCKOUT = LoginPolicy(ROUNDS, LockoutPolicy(threshold=3, base_seconds=60, max_seconds=600))
T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def bcrypt_checks(monkeypatch) -> list[int]:
    """The cost of every ``bcrypt.checkpw`` made (after the dummy hash exists, as it does
    after the first failed login of a process); ``bcrypt.hashpw`` must not be called."""
    passwords.burn_time(ROUNDS)
    costs: list[int] = []
    real_checkpw = bcrypt.checkpw

    def checkpw(password: bytes, hashed: bytes) -> bool:
        costs.append(int(hashed.split(b"$")[2]))
        return real_checkpw(password, hashed)

    def hashpw(*args: object) -> bytes:
        raise AssertionError("signing in never hashes a password")

    monkeypatch.setattr(bcrypt, "checkpw", checkpw)
    monkeypatch.setattr(bcrypt, "hashpw", hashpw)
    return costs


@pytest.fixture
def ann(ctx, make) -> str:
    return make.user("acme", "ann@acme.test", "member")


def login(email: str = "ann@acme.test", password: str = PASSWORD, policy: LoginPolicy = NO_LOCKOUT, **kwargs):
    return authenticate_password(db.session, email, password, policy, **kwargs)


def failures() -> list[tuple[str | None, str | None, str]]:
    """(tenant_id, subject, reason) of each login.failed event."""
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "login.failed").order_by(AuditEvent.id))
    return sorted((e.tenant_id, e.subject, e.details["reason"]) for e in rows)


# --- one answer, one check ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        pytest.param("nobody@acme.test", PASSWORD, "unknown_email", id="unknown-email"),
        pytest.param("ann@acme.test", "wrong password", "wrong_password", id="wrong-password"),
        pytest.param("ANN@acme.test ", "wrong password", "wrong_password", id="wrong-password-other-spelling"),
        pytest.param("ann\x00@acme.test", PASSWORD, "unknown_email", id="nul-in-email"),
        pytest.param("ann@acme.test", "p" * 73, "wrong_password", id="password-too-long-to-set"),
    ],
)
def test_every_failure_gives_the_same_answer_for_one_bcrypt_check(ann, make, bcrypt_checks, email, password, reason):
    with pytest.raises(InvalidCredentials) as refused:
        login(email, password)

    assert str(refused.value) == str(InvalidCredentials())
    assert bcrypt_checks == [ROUNDS]
    tenant_id = make.tenant("acme").id
    subject = ann if reason == "wrong_password" else None
    assert failures() == [(tenant_id if subject else None, subject, reason)]


def test_the_right_password_is_one_check_too(ann, bcrypt_checks):
    membership = login("  Ann@ACME.test ")

    assert membership.user_id == ann
    assert bcrypt_checks == [ROUNDS]
    assert failures() == []


def test_a_user_of_several_tenants_fails_without_naming_a_tenant(ann, make, bcrypt_checks):
    make.user("globex", "ann@acme.test", "member")

    with pytest.raises(InvalidCredentials):
        login(password="wrong password")

    assert failures() == [(None, ann, "wrong_password")]


# --- lockout -----------------------------------------------------------------------------------


def lock_events() -> list[str | None]:
    return [e.tenant_id for e in db.session.scalars(select(AuditEvent).where(AuditEvent.type == "account.locked"))]


@pytest.mark.parametrize("email", ["ann@acme.test", "nobody@acme.test"], ids=["known", "unknown"])
def test_a_locked_email_is_refused_before_any_check(ann, bcrypt_checks, email):
    clock.freeze(T0)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            login(email, "wrong password", LOCKOUT)
    bcrypt_checks.clear()

    with pytest.raises(AccountLocked) as locked:
        login(email, PASSWORD, LOCKOUT)

    assert locked.value.retry_after == 60
    assert bcrypt_checks == []  # the lock answers without looking at the password
    assert len(lock_events()) == 1


def test_the_lock_ends_with_its_time_and_the_right_password_then_clears_the_count(ann, make):
    clock.freeze(T0)
    for _ in range(3):
        with pytest.raises(InvalidCredentials):
            login(password="wrong password", policy=LOCKOUT)
    assert lock_events() == [make.tenant("acme").id]
    clock.advance(59)
    with pytest.raises(AccountLocked) as locked:
        login(policy=LOCKOUT)
    assert locked.value.retry_after == 1

    clock.advance(1)
    assert login(policy=LOCKOUT).user_id == ann
    # The count started again: two more failures do not lock.
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            login(password="wrong password", policy=LOCKOUT)
    assert login(policy=LOCKOUT).user_id == ann


def test_a_right_password_resets_the_count_before_the_threshold(ann):
    clock.freeze(T0)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            login(password="wrong password", policy=LOCKOUT)
    login(policy=LOCKOUT)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            login(password="wrong password", policy=LOCKOUT)

    assert login(policy=LOCKOUT).user_id == ann
    assert lock_events() == []


def test_without_a_lockout_failures_never_lock(ann):
    for _ in range(5):
        with pytest.raises(InvalidCredentials):
            login(password="wrong password")

    assert login().user_id == ann
    assert lock_events() == []


# --- the membership to act in ------------------------------------------------------------------


@pytest.fixture
def multi(ctx, make) -> User:
    """bob: a member of acme and of globex."""
    make.user("acme", "bob@acme.test", "member")
    make.user("globex", "bob@acme.test", "admin")
    return db.session.scalars(select(User).where(User.email == "bob@acme.test")).one()


def deactivate(user: User, tenant_slug: str) -> None:
    (membership,) = [m for m in user.memberships if m.tenant.slug == tenant_slug]
    membership.is_active = False
    db.session.commit()


def test_one_membership_needs_no_tenant(ann):
    user = db.session.get(User, ann)
    assert choose_membership(user, None).user_id == ann


def test_several_memberships_need_a_tenant_by_slug_or_id(multi, make):
    globex = make.tenant("globex")

    with pytest.raises(TenantRequired):
        choose_membership(multi, None)
    assert choose_membership(multi, "globex").tenant_id == globex.id
    assert choose_membership(multi, globex.id).role == "admin"


@pytest.mark.parametrize("tenant_ref", ["initech", "acme "], ids=["unknown", "near-miss"])
def test_a_tenant_the_user_is_not_a_member_of_is_refused(multi, tenant_ref):
    with pytest.raises(AccountDisabled, match="no active membership in that tenant"):
        choose_membership(multi, tenant_ref)


def test_an_inactive_membership_is_skipped_and_refused_by_name(multi):
    deactivate(multi, "globex")

    assert choose_membership(multi, None).tenant.slug == "acme"
    with pytest.raises(AccountDisabled):
        choose_membership(multi, "globex")


def test_no_active_membership_at_all(multi):
    deactivate(multi, "globex")
    deactivate(multi, "acme")

    with pytest.raises(AccountDisabled, match="no active membership"):
        choose_membership(multi, None)


def test_a_deactivated_user_is_refused_whatever_the_tenant(multi):
    multi.is_active = False
    db.session.commit()

    for tenant_ref in (None, "acme"):
        with pytest.raises(AccountDisabled, match="deactivated"):
            choose_membership(multi, tenant_ref)


def test_a_tenants_own_client_confines_the_user_to_that_tenant(multi, make):
    acme, globex = make.tenant("acme"), make.tenant("globex")

    assert choose_membership(multi, None, client_tenant_id=acme.id).tenant_id == acme.id
    with pytest.raises(AccountDisabled):
        choose_membership(multi, "globex", client_tenant_id=acme.id)
    deactivate(multi, "globex")
    with pytest.raises(AccountDisabled):
        choose_membership(multi, None, client_tenant_id=globex.id)


def test_authenticate_password_picks_the_membership_it_is_told(multi, make):
    membership = login("bob@acme.test", tenant_ref="globex")

    assert isinstance(membership, Membership)
    assert membership.tenant_id == make.tenant("globex").id
    with pytest.raises(TenantRequired):
        login("bob@acme.test")
