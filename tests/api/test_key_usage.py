"""Usage per key and UTC day (issue 15, SPEC §14): GET /api/auth/api-keys/{id}/usage.

Counts are kept in memory by the gateway views and written by the background writer;
the test app writes nothing by itself (``background=False``), so each test flushes the
recorder where the writer would have run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import ApiKeyUsage
from tests.api_key_helpers import KEYS, MANAGE, create_key, create_project, key_headers, unknown_key
from tests.assertions import assert_error

VERIFY = KEYS + "/verify"
CHECK = "/api/auth/gateway/check"


def usage(client, headers: dict[str, str], key_id: str, **query: Any) -> list[dict[str, Any]]:
    response = client.get(f"{KEYS}/{key_id}/usage", query_string=query, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: list[dict[str, Any]] = response.get_json()
    return body


def flush(app) -> None:
    app.extensions["outter_auth"].key_usage.flush()


@pytest.fixture(autouse=True)
def _drained(app):
    flush(app)  # nothing earlier tests left in memory


def today() -> str:
    return clock.now().date().isoformat()


def test_usage_totals_after_a_known_number_of_calls(app, client, owner):
    created = create_key(client, owner.headers, scopes=["content:read"])
    raw = created["key"]
    for _ in range(5):
        assert client.post(VERIFY, headers=key_headers(raw)).status_code == 200
    for _ in range(2):
        assert client.get(CHECK, headers=key_headers(raw)).status_code == 200
    assert client.post(VERIFY, headers=key_headers(raw), json={"required_scopes": ["billing:write"]}).status_code == 403
    assert (
        client.get(CHECK, headers={**key_headers(raw), "X-Outter-Required-Scopes": "billing:write"}).status_code == 403
    )
    flush(app)

    series = usage(client, owner.headers, created["id"], days=3)

    first = (clock.now().date() - timedelta(days=2)).isoformat()
    assert series[0]["date"] == first
    assert series == [
        {"date": first, "verified": 0, "refused": 0},
        {"date": (clock.now().date() - timedelta(days=1)).isoformat(), "verified": 0, "refused": 0},
        {"date": today(), "verified": 7, "refused": 2},
    ]


def test_counts_add_up_across_flushes_and_workers(app, client, owner, make_app):
    created = create_key(client, owner.headers)
    worker = make_app()  # another process's recorder, on the same database
    for gateway, times in ((client, 3), (worker.test_client(), 4)):
        for _ in range(times):
            assert gateway.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    flush(app)
    assert usage(client, owner.headers, created["id"], days=1) == [{"date": today(), "verified": 3, "refused": 0}]
    flush(worker)
    assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    flush(app)
    assert usage(client, owner.headers, created["id"], days=1) == [{"date": today(), "verified": 8, "refused": 0}]


def test_refusals_of_a_known_key_count_and_unknown_keys_count_nowhere(app, client, owner):
    revoked = create_key(client, owner.headers)
    expiring = create_key(client, owner.headers, expires_in=60)
    limited = create_key(client, owner.headers, rate_limit={"limit": 1, "window_seconds": 3600})
    assert client.delete(f"{KEYS}/{revoked['id']}", headers=owner.headers).status_code == 204
    for _ in range(2):
        assert client.post(VERIFY, headers=key_headers(revoked["key"])).get_json()["code"] == "revoked"
    assert client.get(CHECK, headers=key_headers(revoked["key"])).status_code == 401
    assert client.post(VERIFY, headers=key_headers(limited["key"])).status_code == 200
    assert client.post(VERIFY, headers=key_headers(limited["key"])).status_code == 429
    assert client.get(CHECK, headers=key_headers(limited["key"])).status_code == 429
    assert client.post(VERIFY, headers=key_headers(unknown_key())).status_code == 401
    clock.freeze(datetime.now(UTC) + timedelta(seconds=61))
    assert client.post(VERIFY, headers=key_headers(expiring["key"])).get_json()["code"] == "expired"
    flush(app)
    clock.unfreeze()

    def counted(key: dict[str, Any]) -> dict[str, Any]:
        day = usage(client, owner.headers, key["id"], days=1)[0]
        return {"verified": day["verified"], "refused": day["refused"]}

    assert counted(revoked) == {"verified": 0, "refused": 3}
    assert counted(limited) == {"verified": 1, "refused": 2}
    with app.app_context():
        rows = db.session.scalars(select(ApiKeyUsage)).all()
        assert {row.key_id for row in rows} == {revoked["id"], limited["id"], expiring["id"]}
        db.session.rollback()


def test_management_calls_with_a_key_are_not_gateway_usage(app, client, owner):
    created = create_key(client, owner.headers, scopes=MANAGE)
    assert client.get("/api/auth/me", headers=key_headers(created["key"])).status_code == 200
    assert client.get(KEYS, headers=key_headers(created["key"])).status_code == 200
    flush(app)
    assert usage(client, owner.headers, created["id"], days=1)[0]["verified"] == 0


def test_each_utc_day_is_counted_apart_and_the_range_runs_oldest_first(app, client, owner):
    created = create_key(client, owner.headers)
    midnight = datetime.combine(clock.now().date(), datetime.min.time(), tzinfo=UTC)
    for at, times in (
        (midnight - timedelta(days=2, seconds=1), 2),
        (midnight - timedelta(seconds=1), 3),
        (midnight, 4),
    ):
        clock.freeze(at)
        for _ in range(times):
            assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    clock.unfreeze()
    flush(app)

    day = midnight.date()
    assert usage(client, owner.headers, created["id"], days=4) == [
        {"date": (day - timedelta(days=3)).isoformat(), "verified": 2, "refused": 0},
        {"date": (day - timedelta(days=2)).isoformat(), "verified": 0, "refused": 0},
        {"date": (day - timedelta(days=1)).isoformat(), "verified": 3, "refused": 0},
        {"date": day.isoformat(), "verified": 4, "refused": 0},
    ]
    assert usage(client, owner.headers, created["id"], days=1) == [
        {"date": day.isoformat(), "verified": 4, "refused": 0}
    ]


def test_thirty_days_by_default_ninety_at_most(client, owner):
    created = create_key(client, owner.headers)
    series = usage(client, owner.headers, created["id"])
    assert len(series) == 30 and series[-1]["date"] == today()
    assert [date.fromisoformat(d["date"]) for d in series] == sorted(date.fromisoformat(d["date"]) for d in series)
    assert len(usage(client, owner.headers, created["id"], days=90)) == 90
    for days in (0, 91, -1, "x", "1.5"):
        assert_error(client.get(f"{KEYS}/{created['id']}/usage?days={days}", headers=owner.headers), 422)


def test_usage_is_tenant_scoped(app, client, owner, other_owner, member):
    created = create_key(client, owner.headers)
    assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    flush(app)
    url = f"{KEYS}/{created['id']}/usage"
    assert_error(client.get(url, headers=other_owner.headers), 404)
    assert_error(client.get(f"{KEYS}/key_doesnotexist/usage", headers=owner.headers), 404)
    assert_error(client.get(url, headers=member.headers), 403)
    theirs = create_key(client, other_owner.headers, scopes=MANAGE)
    assert_error(client.get(url, headers=key_headers(theirs["key"])), 404)
    writer_only = create_key(client, owner.headers, scopes=["api_keys:write"])
    assert_error(client.get(url, headers=key_headers(writer_only["key"])), 403)
    assert (
        client.get(url, headers=key_headers(create_key(client, owner.headers, scopes=MANAGE)["key"])).status_code == 200
    )


def test_a_bound_key_sees_the_usage_of_keys_within_its_reach_only(client, owner):
    project = create_project(client, owner.headers, "shop")
    bound = create_key(client, owner.headers, scopes=["api_keys:read"], project_id=project)
    inside = create_key(client, owner.headers, project_id=project)
    outside = create_key(client, owner.headers)
    test_env = create_key(client, owner.headers, project_id=project, environment="test")
    assert client.get(f"{KEYS}/{inside['id']}/usage", headers=key_headers(bound["key"])).status_code == 200
    for key in (outside, test_env):
        assert_error(client.get(f"{KEYS}/{key['id']}/usage", headers=key_headers(bound["key"])), 404)


def test_counts_survive_a_failed_write(app, client, owner, monkeypatch):
    created = create_key(client, owner.headers)
    recorder = app.extensions["outter_auth"].key_usage
    real_write = recorder._write

    def database_down(batch: Any) -> None:
        raise OperationalError("UPSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(recorder, "_write", database_down)
    for _ in range(3):
        assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    recorder.flush()
    monkeypatch.setattr(recorder, "_write", real_write)
    assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
    recorder.flush()
    assert usage(client, owner.headers, created["id"], days=1)[0]["verified"] == 4


def test_counting_never_touches_the_database_on_the_request_path(app, client, owner):
    from sqlalchemy import event

    created = create_key(client, owner.headers)
    assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200  # cached from now on
    statements: list[str] = []

    def listen(conn, cursor, statement, *args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        for _ in range(10):
            assert client.post(VERIFY, headers=key_headers(created["key"])).status_code == 200
            assert client.get(CHECK, headers=key_headers(created["key"])).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listen)
    assert statements == []
    flush(app)  # the writer's turn: all 21 were counted, in memory
    assert usage(client, owner.headers, created["id"], days=1)[0]["verified"] == 21
