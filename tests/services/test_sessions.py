"""Sessions (``services.sessions``): refresh rotation with reuse detection (SPEC §5) and the
member behind a user token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import AuditEvent, RefreshToken, Session
from outter_auth.scopes import MANAGEMENT_SCOPES
from outter_auth.services import sessions, users
from outter_auth.services.ceilings import Caller
from outter_auth.services.sessions import RefreshFailed, ScopeNotGranted, rotate_refresh_token, session_member

CLIENT = "outter-app"
IDLE = 3600
T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def started(ctx, make) -> sessions.ActiveSession:
    """ann (admin of acme) signed in at T0 for a day, with two scopes."""
    clock.freeze(T0)
    user_id = make.user("acme", "ann@acme.test", "admin")
    membership = users.get_member(db.session, make.tenant("acme").id, user_id)
    return sessions.start_session(
        db.session,
        membership,
        CLIENT,
        24 * 3600,
        client_scopes=MANAGEMENT_SCOPES,
        requested_scopes=["users:read", "projects:read"],
    )


def rotate(token: str, **kwargs) -> sessions.ActiveSession:
    return rotate_refresh_token(
        db.session,
        token,
        client_id=kwargs.pop("client_id", CLIENT),
        client_scopes=kwargs.pop("client_scopes", MANAGEMENT_SCOPES),
        idle_timeout_seconds=IDLE,
        **kwargs,
    )


def session_of(active: sessions.ActiveSession) -> Session:
    db.session.expire_all()
    return db.session.get(Session, active.session.id)


def audit(type_: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def test_a_session_starts_with_the_roles_scopes_narrowed_by_the_request(started):
    assert started.scopes == ("projects:read", "users:read")
    assert session_of(started).scope == "projects:read users:read"
    (event,) = audit("login.succeeded")
    assert (event.actor, event.subject, event.details) == (
        started.membership.user_id,
        started.session.id,
        {"client_id": CLIENT},
    )


# --- rotation ------------------------------------------------------------------------------------


def test_a_refresh_spends_the_token_and_hands_out_its_successor_in_the_same_session(started):
    clock.advance(60)

    refreshed = rotate(started.refresh_token)

    assert refreshed.session.id == started.session.id
    assert refreshed.refresh_token != started.refresh_token and len(refreshed.refresh_token) >= 43
    assert refreshed.scopes == ("projects:read", "users:read")
    spent = sessions.find_refresh_token(db.session, started.refresh_token)
    assert spent is not None and spent[0].used_at == T0 + timedelta(seconds=60)
    assert session_of(started).last_used_at == T0 + timedelta(seconds=60)
    # Only digests are stored.
    stored = {row.token_digest for row in db.session.scalars(select(RefreshToken))}
    assert stored == {sessions.refresh_token_digest(t) for t in (started.refresh_token, refreshed.refresh_token)}


def test_a_spent_token_presented_again_ends_the_session_and_is_audited(started, heard):
    successor = rotate(started.refresh_token).refresh_token
    heard.clear()

    with pytest.raises(RefreshFailed):
        rotate(started.refresh_token)

    assert session_of(started).revoked_at == T0
    assert heard == [f"session:{started.session.id}"]
    (event,) = audit("refresh_token.reused")
    assert event.subject == started.session.id and event.tenant_id == started.membership.tenant_id
    assert event.details["user_id"] == started.membership.user_id and event.details["client_id"] == CLIENT
    with pytest.raises(RefreshFailed):
        rotate(successor)  # the thief's or the owner's: the whole family is gone
    assert len(audit("refresh_token.reused")) == 1  # an ended session's tokens are refused, not "reused"


def test_another_clients_refresh_leaves_the_token_unspent(started):
    with pytest.raises(RefreshFailed):
        rotate(started.refresh_token, client_id="cli_thief")

    assert rotate(started.refresh_token).session.id == started.session.id
    assert audit("refresh_token.reused") == []


@pytest.mark.parametrize("token", ["", "x" * 513, "not-a-token"], ids=["empty", "too-long", "unknown"])
def test_unknown_tokens_fail_without_touching_any_session(started, token):
    with pytest.raises(RefreshFailed):
        rotate(token)

    assert session_of(started).revoked_at is None


def test_the_scope_may_narrow_but_never_widen(started):
    narrowed = rotate(started.refresh_token, requested_scopes=["users:read"])
    assert narrowed.scopes == ("users:read",)

    with pytest.raises(ScopeNotGranted):
        rotate(narrowed.refresh_token, requested_scopes=["users:read", "users:write"])
    # The refused request spent nothing: the session keeps its granted scope.
    assert rotate(narrowed.refresh_token).scopes == ("projects:read", "users:read")


def test_an_idle_session_ends_at_its_next_refresh(started):
    clock.advance(IDLE)

    with pytest.raises(RefreshFailed, match="session expired"):
        rotate(started.refresh_token)

    assert session_of(started).revoked_at == T0 + timedelta(seconds=IDLE)


def test_a_demoted_member_refreshes_into_the_new_roles_scopes(started, make):
    users.update_member(
        db.session, Caller(started.membership.tenant_id, "cli"), started.membership.user_id, role="member"
    )

    assert rotate(started.refresh_token).scopes == ()  # a member holds no management scope


def test_a_deactivated_member_cannot_refresh_and_the_session_ends(started):
    users.update_member(
        db.session, Caller(started.membership.tenant_id, "cli"), started.membership.user_id, is_active=False
    )

    with pytest.raises(RefreshFailed, match="deactivated"):
        rotate(started.refresh_token)

    assert session_of(started).revoked_at is not None


# --- the member behind a user token --------------------------------------------------------------


def member_of(active: sessions.ActiveSession, tenant_id: str | None = None) -> tuple[str, str] | None:
    return session_member(
        db.session, active.session.id, active.membership.user_id, tenant_id or active.membership.tenant_id
    )


def test_session_member_while_everything_is_live(started):
    assert member_of(started) == ("admin", "ann@acme.test")


def test_session_member_follows_a_role_change(started):
    users.update_member(
        db.session, Caller(started.membership.tenant_id, "cli"), started.membership.user_id, role="member"
    )

    assert member_of(started) == ("member", "ann@acme.test")


def test_session_member_is_none_once_the_session_ends(started):
    assert sessions.end_session(db.session, started.session.id) is True
    assert sessions.end_session(db.session, started.session.id) is False  # ended once

    assert member_of(started) is None


def test_session_member_is_none_once_the_membership_or_the_user_ends(started, make):
    caller = Caller(started.membership.tenant_id, "cli")
    users.update_member(db.session, caller, started.membership.user_id, is_active=False)
    assert member_of(started) is None

    users.update_member(db.session, caller, started.membership.user_id, is_active=True)
    assert member_of(started) == ("admin", "ann@acme.test")
    make.deactivate_account(started.membership.user_id)
    assert member_of(started) is None


def test_session_member_is_none_in_another_tenant(started, make):
    """ann also belongs to globex; a token of her acme session never acts there."""
    make.user("globex", "ann@acme.test", "owner")

    assert member_of(started, make.tenant("globex").id) is None
