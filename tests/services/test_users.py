"""Members (``services.users``): an email of another tenant, who may grant and change which
role, and the last active owner."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from outter_auth.extensions import db
from outter_auth.models import AuditEvent, Membership, User
from outter_auth.services import passwords, users
from outter_auth.services.ceilings import MACHINE, Caller
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied
from tests.factories import PASSWORD

ROUNDS = 4


@pytest.fixture
def acme(ctx, make) -> Caller:
    """The operator of acme (unbounded, above every role)."""
    return Caller(make.tenant("acme").id, "cli")


def as_role(acme: Caller, role: str | None, actor: str = "usr_actor") -> Caller:
    return Caller(acme.tenant_id, actor, role=role)


def user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalars(select(User).where(User.email == email)).one()


def add(caller: Caller, email: str, role: str = "member", password: str | None = "a new password") -> Membership:
    return users.create_member(db.session, caller, email, password, role, ROUNDS)


# --- an email another tenant knows ---------------------------------------------------------------


def test_an_email_of_another_tenant_is_answered_as_a_new_one_and_keeps_its_password(acme, make):
    globex = Caller(make.tenant("globex").id, "cli")
    add(globex, "ann@globex.test", password=PASSWORD)
    before = user("ann@globex.test").password_hash

    fresh = add(acme, "new@acme.test", password="a password of acme")
    known = add(acme, "ANN@globex.test", password="a password of acme")

    assert (type(known), known.tenant_id, known.role) == (type(fresh), fresh.tenant_id, fresh.role)
    ann = user("ann@globex.test")
    assert ann.password_hash == before
    assert passwords.verify_password(PASSWORD, ann.password_hash)
    assert not passwords.verify_password("a password of acme", ann.password_hash)
    assert {m.tenant_id for m in ann.memberships} == {acme.tenant_id, globex.tenant_id}


def test_an_email_known_elsewhere_needs_no_password_and_is_not_checked_for_one(acme, make):
    """The password is never used for an existing user, so it is not required or judged."""
    add(Caller(make.tenant("globex").id, "cli"), "ann@globex.test", password=PASSWORD)

    assert add(acme, "ann@globex.test", password=None).tenant_id == acme.tenant_id


def test_a_member_of_this_tenant_already_is_a_conflict(acme):
    add(acme, "ann@acme.test")

    with pytest.raises(Conflict):
        add(acme, " Ann@Acme.test")


@pytest.mark.parametrize(("password", "message"), [(None, "required"), ("short", "at least 8"), ("é" * 37, "bytes")])
def test_a_new_user_needs_an_acceptable_password(acme, password, message):
    with pytest.raises(InvalidInput, match=message) as refused:
        add(acme, "new@acme.test", password=password)

    assert refused.value.field == "password"
    assert db.session.scalars(select(User)).all() == []


def test_adding_a_member_is_audited_and_announced(acme, heard):
    membership = add(acme, "new@acme.test", role="admin")

    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "membership.changed"))
    assert (event.tenant_id, event.actor, event.subject) == (acme.tenant_id, "cli", membership.user_id)
    assert event.details == {"added": True, "role": "admin"}
    assert heard == [f"user:{membership.user_id}"]


# --- who grants and changes which role -----------------------------------------------------------


@pytest.mark.parametrize(
    ("actor_role", "role", "allowed"),
    [
        ("owner", "owner", True),
        ("owner", "admin", True),
        ("admin", "admin", True),
        ("admin", "owner", False),
        (MACHINE, "member", True),
        (MACHINE, "admin", False),
        (None, "owner", True),  # the operator's CLI
    ],
)
def test_who_may_grant_which_role(acme, actor_role, role, allowed):
    caller = as_role(acme, actor_role)
    if allowed:
        assert add(caller, "new@acme.test", role=role).role == role
    else:
        with pytest.raises(PermissionDenied):
            add(caller, "new@acme.test", role=role)
        assert db.session.scalars(select(Membership)).all() == []


def test_an_unknown_role_is_invalid_input(acme):
    with pytest.raises(InvalidInput) as refused:
        add(acme, "new@acme.test", role="superuser")
    assert refused.value.field == "role"


def test_only_owners_change_owners_and_machines_only_members(acme):
    owner = add(acme, "owner@acme.test", role="owner").user_id
    add(acme, "second@acme.test", role="owner")
    admin = add(acme, "admin@acme.test", role="admin").user_id
    member = add(acme, "member@acme.test").user_id

    with pytest.raises(PermissionDenied):
        users.update_member(db.session, as_role(acme, "admin"), owner, is_active=False)
    with pytest.raises(PermissionDenied):
        users.update_member(db.session, as_role(acme, MACHINE), admin, role="member")
    assert users.update_member(db.session, as_role(acme, MACHINE), member, is_active=False).is_active is False
    assert users.update_member(db.session, as_role(acme, "owner"), owner, role="admin").role == "admin"


def test_nobody_deactivates_themselves(acme):
    admin = add(acme, "admin@acme.test", role="admin").user_id

    with pytest.raises(PermissionDenied, match="yourself"):
        users.update_member(db.session, as_role(acme, "admin", actor=admin), admin, is_active=False)


def test_a_member_of_another_tenant_is_not_found(acme, make):
    theirs = add(Caller(make.tenant("globex").id, "cli"), "ann@globex.test").user_id

    with pytest.raises(NotFound):
        users.update_member(db.session, acme, theirs, role="admin")


# --- the last active owner ------------------------------------------------------------------------


@pytest.mark.parametrize("change", [{"role": "admin"}, {"role": "member"}, {"is_active": False}])
def test_the_last_active_owner_stays(acme, change):
    owner = add(acme, "owner@acme.test", role="owner").user_id

    with pytest.raises(Conflict, match="at least one active owner"):
        users.update_member(db.session, acme, owner, **change)

    db.session.expire_all()
    membership = users.get_member(db.session, acme.tenant_id, owner)
    assert (membership.role, membership.is_active) == ("owner", True)


def test_with_two_owners_one_may_go_but_not_both(acme):
    first = add(acme, "first@acme.test", role="owner").user_id
    second = add(acme, "second@acme.test", role="owner").user_id

    assert users.update_member(db.session, acme, first, role="admin").role == "admin"
    with pytest.raises(Conflict):
        users.update_member(db.session, acme, second, is_active=False)


def test_an_inactive_owner_does_not_count(acme):
    first = add(acme, "first@acme.test", role="owner").user_id
    second = add(acme, "second@acme.test", role="owner").user_id
    users.update_member(db.session, acme, second, is_active=False)

    with pytest.raises(Conflict):
        users.update_member(db.session, acme, first, role="member")
    # Keeping the role, or reactivating the other owner, is always allowed.
    assert users.update_member(db.session, acme, first, role="owner").role == "owner"
    assert users.update_member(db.session, acme, second, is_active=True).is_active is True
    assert users.update_member(db.session, acme, first, role="member").role == "member"


def test_owners_of_another_tenant_do_not_count(acme, make):
    owner = add(acme, "owner@acme.test", role="owner").user_id
    add(Caller(make.tenant("globex").id, "cli"), "boss@globex.test", role="owner")

    with pytest.raises(Conflict):
        users.update_member(db.session, acme, owner, role="admin")
