"""What the console's Projects and Users pages read besides the REST lists: live keys per
project (``tenancy.live_key_counts``), who is locked out (``users.locked_user_ids``) and
when each user last signed in (``users.last_sign_ins``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.services import api_keys, browser_sessions, sessions, tenancy, users
from outter_auth.services.api_keys import KeyDraft, Peppers
from outter_auth.services.audit import Origin
from outter_auth.services.ceilings import Caller, GrantCeiling
from outter_auth.services.exceptions import InvalidCredentials
from outter_auth.services.lockout import LockoutPolicy
from outter_auth.services.login import LoginPolicy, authenticate_password

T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
ORIGIN = Origin(ip="10.0.0.1", user_agent=None)
LOCKOUT = LoginPolicy(4, LockoutPolicy(threshold=2, base_seconds=60, max_seconds=600))


@pytest.fixture
def acme(ctx, make) -> Caller:
    return Caller(make.tenant("acme").id, "cli")


def key_in(caller: Caller, project_id: str | None, environment: str = "live") -> str:
    key, _ = api_keys.create_key(
        db.session, caller, KeyDraft("k", ["content:read"], environment, project_id), peppers=Peppers("")
    )
    return key.id


def test_live_key_counts_count_live_keys_per_project_as_far_as_the_caller_sees(acme, make):
    web = tenancy.create_project(db.session, acme, "Web").id
    app = tenancy.create_project(db.session, acme, "App").id
    tenancy.create_project(db.session, acme, "Empty")
    key_in(acme, web)
    key_in(acme, web, "test")
    api_keys.revoke_key(db.session, acme, key_in(acme, web))
    key_in(acme, app)
    key_in(acme, None)
    globex = Caller(make.tenant("globex").id, "cli")
    key_in(globex, tenancy.create_project(db.session, globex, "Theirs").id)

    assert tenancy.live_key_counts(db.session, acme) == {web: 2, app: 1}
    assert tenancy.live_key_counts(db.session, Caller(acme.tenant_id, "k", GrantCeiling(environment="test"))) == {
        web: 1
    }


def test_locked_user_ids_name_the_members_locked_out_until_the_lock_ends_or_an_unlock(acme, make):
    ann = make.user("acme", "ann@acme.test")
    bob = make.user("acme", "bob@acme.test")
    clock.freeze(T0)
    for _ in range(2):
        with pytest.raises(InvalidCredentials):
            authenticate_password(db.session, "ANN@acme.test", "wrong password", LOCKOUT, origin=ORIGIN)
    members = db.session.scalars(users.members_query(acme.tenant_id)).all()

    assert users.locked_user_ids(db.session, list(members)) == {ann}
    clock.advance(60)
    assert users.locked_user_ids(db.session, list(members)) == set()
    clock.advance(-60)
    users.unlock_member(db.session, acme, ann)
    assert users.locked_user_ids(db.session, list(members)) == set()
    assert bob not in users.locked_user_ids(db.session, list(members))


def test_last_sign_ins_take_the_latest_login_of_the_tenant_through_the_api_or_the_sign_in_page(acme, make):
    ann = make.user("acme", "ann@acme.test")
    never = make.user("acme", "never@acme.test")
    make.user("globex", "ann@acme.test")
    membership = users.get_member(db.session, acme.tenant_id, ann)
    clock.freeze(T0)
    sessions.start_session(db.session, membership, "outter-app", 3600, client_scopes=[])
    clock.advance(60)
    browser_sessions.start(db.session, membership.user, acme.tenant_id, 3600)
    clock.advance(60)
    other = users.get_member(db.session, make.tenant("globex").id, ann)
    sessions.start_session(db.session, other, "outter-app", 3600, client_scopes=[])

    assert users.last_sign_ins(db.session, acme.tenant_id, [ann, never]) == {ann: T0 + timedelta(seconds=60)}
    assert users.last_sign_ins(db.session, acme.tenant_id, []) == {}
