"""The no-escalation rule (SPEC §3) as a value: a caller's GrantCeiling against the Shape of
what it makes or changes, one dimension at a time, and what a bound caller sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from outter_auth.extensions import db
from outter_auth.models import AuditEvent, Project
from outter_auth.services.audit import Origin
from outter_auth.services.ceilings import Caller, EscalationRefused, GrantCeiling, Shape, refuse_escalation
from outter_auth.services.exceptions import PermissionDenied

T0 = datetime(2031, 1, 1, tzinfo=UTC)
UNBOUNDED = GrantCeiling()


def key(*scopes: str, environment: str = "live", project_id: str | None = None, ends_at: datetime | None = None):
    return Shape("API key", frozenset(scopes), environment, project_id, ends_at)


def client(*scopes: str) -> Shape:
    """A client is made for every environment and project and never ends."""
    return Shape("OAuth client", frozenset(scopes))


# --- scopes ----------------------------------------------------------------------------------


def test_scopes_within_the_callers_pass_and_others_are_named_sorted():
    ceiling = GrantCeiling(scopes=frozenset({"content:read", "users:read"}))

    assert ceiling.refusal(key("content:read")) is None
    assert ceiling.refusal(key()) is None
    reason = ceiling.refusal(key("users:read", "z:last", "content:write"))
    assert reason == "cannot grant scopes the caller does not hold: content:write z:last"


def test_unbounded_scopes_grant_anything():
    assert UNBOUNDED.refusal(key("anything:at-all", "users:write")) is None


def test_platform_scopes_are_free_only_when_the_ceiling_says_so():
    """An owner's narrowed token: only the management scopes it carries bound what it grants."""
    narrowed = frozenset({"users:read"})
    owner = GrantCeiling(scopes=narrowed, platform_scopes_free=True)
    machine = GrantCeiling(scopes=narrowed)

    assert owner.refusal(key("users:read", "content:generate")) is None
    assert owner.refusal(key("users:read", "users:write", "content:generate")) == (
        "cannot grant scopes the caller does not hold: users:write"
    )
    assert machine.refusal(key("users:read", "content:generate")) == (
        "cannot grant scopes the caller does not hold: content:generate"
    )


# --- environment, project, lifetime ----------------------------------------------------------


def test_environment_bound_caller():
    ceiling = GrantCeiling(environment="test")

    assert ceiling.refusal(key(environment="test")) is None
    assert ceiling.refusal(key(environment="live")) == "the caller may only manage test credentials"
    assert ceiling.refusal(client()) == ("an OAuth client is not bound to an environment; the caller holds only test")
    assert UNBOUNDED.refusal(key(environment="live")) is None


def test_project_bound_caller():
    ceiling = GrantCeiling(project_id="prj_a")

    assert ceiling.bound_to_project and not UNBOUNDED.bound_to_project
    assert ceiling.refusal(key(project_id="prj_a")) is None
    assert ceiling.refusal(key(project_id="prj_b")) == "the caller may only manage credentials of its own project"
    assert ceiling.refusal(key(project_id=None)) == (
        "an API key is not bound to a project; the caller holds only its own project"
    )
    assert ceiling.refusal(client()) == (
        "an OAuth client is not bound to a project; the caller holds only its own project"
    )


@pytest.mark.parametrize(
    ("ends_at", "refused"),
    [
        pytest.param(T0 - timedelta(seconds=1), False, id="ends-before"),
        pytest.param(T0, False, id="ends-with-the-caller"),
        pytest.param(T0 + timedelta(seconds=1), True, id="ends-after"),
        pytest.param(None, True, id="never-ends"),
    ],
)
def test_nothing_outlives_a_caller_that_ends(ends_at, refused):
    reason = GrantCeiling(ends_at=T0).refusal(key(ends_at=ends_at))

    assert (reason == "an API key cannot outlive the credential that manages it") is refused
    assert refused or reason is None
    assert UNBOUNDED.refusal(key(ends_at=ends_at)) is None


def test_a_client_fits_only_an_unbound_ceiling():
    """A client has every environment and project and no end: any bound caller would be
    minting a credential that escapes its bound."""
    shape = client("users:read")

    assert GrantCeiling(scopes=frozenset({"users:read"})).refusal(shape) is None
    for bound in (GrantCeiling(environment="live"), GrantCeiling(project_id="prj_a"), GrantCeiling(ends_at=T0)):
        assert bound.refusal(shape) is not None, bound


def test_the_first_dimension_exceeded_is_the_reason_given():
    ceiling = GrantCeiling(scopes=frozenset(), environment="test", project_id="prj_a", ends_at=T0)

    assert ceiling.refusal(key("x:y", environment="live", project_id="prj_b")).startswith("cannot grant scopes")
    assert ceiling.refusal(key(environment="live", project_id="prj_b")).startswith("the caller may only manage test")
    assert "own project" in ceiling.refusal(key(environment="test", project_id="prj_b"))
    assert "outlive" in ceiling.refusal(key(environment="test", project_id="prj_a", ends_at=None))
    assert ceiling.refusal(key(environment="test", project_id="prj_a", ends_at=T0)) is None


# --- what a bound caller sees ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("ceiling", "visible"),
    [
        pytest.param(UNBOUNDED, {("live", None), ("test", None), ("live", "prj_a"), ("test", "prj_b")}, id="unbound"),
        pytest.param(GrantCeiling(environment="test"), {("test", None), ("test", "prj_b")}, id="test-only"),
        pytest.param(GrantCeiling(project_id="prj_a"), {("live", "prj_a")}, id="project-a"),
        pytest.param(GrantCeiling(environment="live", project_id="prj_a"), {("live", "prj_a")}, id="live-project-a"),
    ],
)
def test_sees(ceiling, visible):
    objects = {("live", None), ("test", None), ("live", "prj_a"), ("test", "prj_b")}

    assert {o for o in objects if ceiling.sees(*o)} == visible
    assert {p for p in ("prj_a", "prj_b") if ceiling.sees_project(p)} == (
        {"prj_a", "prj_b"} if ceiling.project_id is None else {ceiling.project_id}
    )


# --- refuse_escalation: refused, audited in a transaction of its own --------------------------


def events(type_: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.type == type_)))


def test_a_refusal_is_audited_and_rolls_back_what_the_caller_had_begun(ctx, make):
    tenant = make.tenant("acme")
    caller = Caller(tenant.id, "key_1", GrantCeiling(scopes=frozenset({"users:read"})), Origin("192.0.2.7", "ua"))
    db.session.add(Project(tenant_id=tenant.id, name="half made", slug="half-made"))  # not committed yet

    with pytest.raises(EscalationRefused) as refused:
        refuse_escalation(db.session, caller, key("users:write"), event="api_key.escalation_refused", subject="key_0")

    assert isinstance(refused.value, PermissionDenied)  # answered 403 like any refusal
    db.session.rollback()
    assert db.session.scalars(select(Project)).all() == []
    (event,) = events("api_key.escalation_refused")
    assert (event.tenant_id, event.actor, event.subject, event.ip) == (tenant.id, "key_1", "key_0", "192.0.2.7")
    assert event.details == {
        "reason": "cannot grant scopes the caller does not hold: users:write",
        "scopes": ["users:write"],
        "environment": "live",
        "project_id": None,
    }


def test_a_shape_within_the_ceiling_records_nothing_and_keeps_the_transaction(ctx, make):
    tenant = make.tenant("acme")
    db.session.add(Project(tenant_id=tenant.id, name="kept", slug="kept"))

    refuse_escalation(db.session, Caller(tenant.id, "cli"), key("users:write"), event="x.refused", subject=None)

    db.session.commit()
    assert [p.slug for p in db.session.scalars(select(Project))] == ["kept"]
    assert events("x.refused") == []
