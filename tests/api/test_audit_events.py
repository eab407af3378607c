"""GET /api/auth/audit-events (audit:read) and `outter-auth audit prune`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import AuditEvent
from outter_auth.services import audit
from tests.api_key_helpers import create_key
from tests.assertions import assert_error
from tests.factories import PASSWORD

URL = "/api/auth/audit-events"


def events(client, headers, **query):
    response = client.get(URL, headers=headers, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_lists_the_tenants_events_newest_first(client, owner):
    client.post("/api/auth/login", json={"email": owner.email, "password": "wrong password"})
    create_key(client, owner.headers, name="audited")
    listed = events(client, owner.headers)
    types = [e["type"] for e in listed]
    assert types[0] == "api_key.created"
    assert {"login.succeeded", "login.failed"} <= set(types)
    assert all(e["tenant_id"] == owner.tenant_id for e in listed)
    stamps = [e["created_at"] for e in listed]
    assert stamps == sorted(stamps, reverse=True)
    assert set(listed[0]) == {
        "id",
        "type",
        "tenant_id",
        "actor",
        "subject",
        "ip",
        "user_agent",
        "created_at",
        "details",
    }


def test_filters_by_type_actor_and_time(client, owner):
    t0 = datetime.now(UTC)
    clock.freeze(t0)
    create_key(client, owner.headers, name="first")
    clock.advance(600)  # within the owner's token lifetime
    create_key(client, owner.headers, name="second")
    middle = (t0 + timedelta(seconds=300)).isoformat()
    created = events(client, owner.headers, type="api_key.created")
    assert [e["type"] for e in created] == ["api_key.created", "api_key.created"]
    by_owner = events(client, owner.headers, actor=owner.user_id)
    assert {e["id"] for e in created} <= {e["id"] for e in by_owner}
    assert all(e["actor"] == owner.user_id for e in by_owner)
    assert events(client, owner.headers, actor="usr_nobody") == []
    window = events(client, owner.headers, type="api_key.created", since=middle)
    assert len(window) == 1
    before = events(client, owner.headers, type="api_key.created", until=middle)
    assert len(before) == 1 and before[0]["id"] != window[0]["id"]


def test_other_tenants_events_are_invisible(client, owner, other_owner):
    create_key(client, other_owner.headers, name="theirs")
    ours = events(client, owner.headers)
    assert all(e["tenant_id"] == owner.tenant_id for e in ours)
    assert not any(e["actor"] == other_owner.user_id for e in ours)


def test_paginated(client, owner):
    for i in range(5):
        create_key(client, owner.headers, name=f"k{i}")
    response = client.get(URL, headers=owner.headers, query_string={"type": "api_key.created", "page_size": 2})
    assert len(response.get_json()) == 2
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_member_is_refused(client, member):
    assert_error(client.get(URL, headers=member.headers), 403)


def test_an_api_key_with_audit_read_may_read_and_without_may_not(client, owner):
    reader = create_key(client, owner.headers, name="reader", scopes=["audit:read"])["key"]
    other = create_key(client, owner.headers, name="other", scopes=["content:read"])["key"]
    assert client.get(URL, headers={"X-API-Key": reader}).status_code == 200
    assert_error(client.get(URL, headers={"X-API-Key": other}), 403)


def test_no_secret_in_any_event(client, owner):
    key = create_key(client, owner.headers, name="secret-check")["key"]
    client.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})
    text = json.dumps(events(client, owner.headers, page_size=100))
    for secret in (key, PASSWORD, owner.token, owner.refresh_token):
        assert secret not in text


@pytest.mark.parametrize(
    "query",
    [
        {"since": "yesterday"},
        {"until": "2030-13-01"},
        {"type": "x" * 65},
        {"actor": "a\x00b"},
        {"page": 0},
        {"page_size": 101},
    ],
    ids=[
        "since-garbage",
        "until-bad-month",
        "type-too-long",
        "actor-nul",
        "page-0",
        "page-size-101",
    ],
)
def test_bad_queries_are_422(client, owner, query):
    assert_error(client.get(URL, headers=owner.headers, query_string=query), 422)


@pytest.mark.parametrize(
    "query",
    [{"since": "0001-01-01T00:00:00+01:00"}, {"until": "9999-12-31T23:59:59-14:00"}],
    ids=["since-before-year-1-in-utc", "until-after-year-9999-in-utc"],
)
def test_date_times_utc_cannot_hold_are_its_first_or_last_second(client, owner, query):
    """Valid date-times in the year 0 or 10000 in UTC: once a 500, then a 422 for what the
    OpenAPI document allows; now the earliest or latest second, which every event lies within."""
    response = client.get(URL, headers=owner.headers, query_string=query)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert len(response.get_json()) >= 1  # the owner's login, between the two


def test_prune_deletes_events_past_retention(app, client, owner):
    with app.app_context():
        clock.freeze(datetime.now(UTC) - timedelta(days=40))
        audit.record(db.session, "api_key.created", tenant_id=owner.tenant_id, actor=owner.user_id)
        clock.unfreeze()
    create_key(client, owner.headers, name="new")
    result = app.test_cli_runner().invoke(args=["audit", "prune", "--older-than-days", "30", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["audit_events"] >= 1
    with app.app_context():
        remaining = db.session.query(AuditEvent).filter_by(tenant_id=owner.tenant_id).all()
        assert remaining and all(e.created_at >= clock.now() - timedelta(days=30) for e in remaining)
    assert [e["type"] for e in events(client, owner.headers, type="api_key.created")] == ["api_key.created"]
