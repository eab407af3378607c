"""API keys (SPEC §3, §4, §6, §8): the management API, keys as callers, rotation, expiry,
"shown once", audit, last_used_at, pepper rotation and introspection. Refused keys at every
place and escalation attempts are tables of the attack suite (tests/attacks/test_api_key_attacks.py).

Time is moved with ``outter_auth.clock`` (never slept). The clock is frozen near the real
time so the owner's access token (900 s) stays valid until the clock is moved past it;
after that, tests act with API keys that hold the management scopes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select, update

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.services import api_key_format
from tests.api_key_helpers import (
    GENERATE,
    KEY_FIELDS,
    KEY_PATTERN,
    KEYS,
    MANAGE,
    ME,
    assert_key_refused,
    assert_key_works,
    audit_events,
    bad_checksum,
    create_key,
    create_project,
    dump_database,
    freeze_now,
    get_key,
    iso,
    key_headers,
    list_keys,
    me,
    parse_time,
    plain_pepper_hashes,
    secret_parts,
)
from tests.assertions import assert_error
from tests.factories import Actor, Factory
from tests.oauth_helpers import assert_introspection, introspect

DAY = 24 * 3600
THIRTY_DAYS = 30 * DAY


@pytest.fixture(params=["owner", "admin"])
def manager(request, make: Factory) -> Actor:
    role = request.param
    return make.actor("acme", f"manager-{role}@acme.test", role)


@pytest.fixture
def project(client, owner) -> str:
    return create_project(client, owner.headers, "web")


# --- create -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [KEYS, GENERATE], ids=["api-keys", "generate-alias"])
def test_create_returns_the_spec_fields_and_the_key_once(client, manager, url):
    now = freeze_now()
    response = client.post(
        url, json={"name": "CI deploys", "scopes": ["content:generate", "content:read"]}, headers=manager.headers
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    raw = body["key"]
    assert set(body) == KEY_FIELDS | {"key"}
    assert KEY_PATTERN.fullmatch(raw) and raw.startswith("outter_live_") and len(raw) == 50
    api_key_format.parse(raw)  # checksum valid
    assert response.get_data(as_text=True).count(raw) == 1  # once
    assert body["prefix"] == raw[:16]
    assert body["last4"] == raw[-4:]
    assert body["name"] == "CI deploys"
    assert body["tenant_id"] == manager.tenant_id
    assert body["project_id"] is None
    assert body["environment"] == "live"
    assert body["scopes"] == ["content:generate", "content:read"]
    assert body["created_by"] == manager.user_id
    assert parse_time(body["created_at"]) == now
    assert body["expires_at"] is None and body["last_used_at"] is None and body["revoked_at"] is None
    assert body["id"] and body["id"] not in raw
    # the record, read back, is the same minus the key
    assert get_key(client, manager.headers, body["id"]) == {k: v for k, v in body.items() if k != "key"}
    assert assert_key_works(client, raw)["id"] == body["id"]


def test_every_create_makes_a_different_key(client, owner):
    created = [create_key(client, owner.headers, name=f"k{i}") for i in range(5)]

    assert len({c["key"] for c in created}) == 5
    assert len({c["id"] for c in created}) == 5


def test_test_environment_makes_an_outter_test_key(client, owner):
    body = create_key(client, owner.headers, environment="test")

    assert body["key"].startswith("outter_test_")
    assert body["prefix"].startswith("outter_test_")
    assert body["environment"] == "test"
    assert assert_key_works(client, body["key"])["environment"] == "test"


def test_explicit_live_environment(client, owner):
    body = create_key(client, owner.headers, environment="live")

    assert body["key"].startswith("outter_live_") and body["environment"] == "live"


def test_duplicate_scopes_are_stored_once(client, owner):
    body = create_key(client, owner.headers, scopes=["content:read", "content:read", "a.b"])

    assert body["scopes"] == ["content:read", "a.b"]


def test_a_key_of_a_project_of_the_own_tenant(client, owner, project):
    body = create_key(client, owner.headers, project_id=project)

    assert body["project_id"] == project
    assert assert_key_works(client, body["key"])["project_id"] == project


@pytest.mark.parametrize("which", ["other-tenant", "unknown"])
def test_a_project_of_another_tenant_or_none_is_422(client, owner, other_owner, which):
    project_id = create_project(client, other_owner.headers, "secret") if which == "other-tenant" else "prj_nope"

    response = client.post(KEYS, json={"name": "x", "scopes": [], "project_id": project_id}, headers=owner.headers)

    body = assert_error(response, 422)
    assert "project_id" in body["errors"]["json"]
    assert list_keys(client, owner.headers, include_revoked="true") == []


def test_expires_at(client, owner):
    now = freeze_now()
    at = now + timedelta(days=7)

    body = create_key(client, owner.headers, expires_at=iso(at))

    assert parse_time(body["expires_at"]) == at
    assert parse_time(get_key(client, owner.headers, body["id"])["expires_at"]) == at


def test_expires_at_without_a_timezone_is_utc(client, owner):
    now = freeze_now()
    at = now + timedelta(hours=2)

    body = create_key(client, owner.headers, expires_at=at.replace(tzinfo=None).isoformat())

    assert parse_time(body["expires_at"]) == at


def test_expires_in(client, owner):
    now = freeze_now()

    body = create_key(client, owner.headers, expires_in=3600)

    assert parse_time(body["expires_at"]) == now + timedelta(seconds=3600)


def test_expires_at_and_expires_in_together_are_422(client, owner):
    now = freeze_now()
    response = client.post(
        KEYS,
        json={"name": "x", "scopes": [], "expires_at": iso(now + timedelta(days=1)), "expires_in": 3600},
        headers=owner.headers,
    )

    body = assert_error(response, 422)
    assert "expires_in" in body["errors"]["json"]


@pytest.mark.parametrize("offset", [-DAY, -1, 0], ids=["a-day-ago", "a-second-ago", "now"])
def test_expires_at_not_in_the_future_is_422(client, owner, offset):
    now = freeze_now()
    response = client.post(
        KEYS,
        json={"name": "x", "scopes": [], "expires_at": iso(now + timedelta(seconds=offset))},
        headers=owner.headers,
    )

    body = assert_error(response, 422)
    assert "expires_at" in body["errors"]["json"]
    assert list_keys(client, owner.headers, include_revoked="true") == []


# --- list and get -----------------------------------------------------------------------


@pytest.fixture
def assorted(client, owner, project) -> dict[str, dict[str, Any]]:
    """live, test, project-bound and revoked keys of acme."""
    keys = {
        "live": create_key(client, owner.headers, name="live"),
        "test": create_key(client, owner.headers, name="test", environment="test"),
        "project": create_key(client, owner.headers, name="project", project_id=project),
        "revoked": create_key(client, owner.headers, name="revoked"),
    }
    assert client.delete(f"{KEYS}/{keys['revoked']['id']}", headers=owner.headers).status_code == 204
    return keys


def ids(items: list[dict[str, Any]]) -> set[str]:
    return {item["id"] for item in items}


def test_list_hides_revoked_keys_by_default(client, owner, assorted):
    listed = list_keys(client, owner.headers)

    assert ids(listed) == {assorted[n]["id"] for n in ("live", "test", "project")}
    assert all(set(item) == KEY_FIELDS for item in listed)
    assert list_keys(client, owner.headers, include_revoked="false") == listed


def test_list_include_revoked(client, owner, assorted):
    listed = list_keys(client, owner.headers, include_revoked="true")

    assert ids(listed) == {k["id"] for k in assorted.values()}
    revoked = next(item for item in listed if item["id"] == assorted["revoked"]["id"])
    assert revoked["revoked_at"] is not None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param({"environment": "live"}, {"live", "project"}, id="environment-live"),
        pytest.param({"environment": "test"}, {"test"}, id="environment-test"),
        pytest.param({"environment": "live", "include_revoked": "true"}, {"live", "project", "revoked"}, id="live-all"),
        pytest.param({"project_id": "{project}"}, {"project"}, id="project"),
        pytest.param({"project_id": "prj_unknown"}, set(), id="unknown-project"),
        pytest.param({"environment": "test", "project_id": "{project}"}, set(), id="test-and-project"),
    ],
)
def test_list_filters(client, owner, project, assorted, query, expected):
    query = {k: v.format(project=project) for k, v in query.items()}

    listed = list_keys(client, owner.headers, **query)

    assert ids(listed) == {assorted[name]["id"] for name in expected}


def test_list_is_paginated(client, owner):
    freeze_now()
    created = []
    for i in range(5):
        created.append(create_key(client, owner.headers, name=f"k{i}")["id"])
        clock.advance(1)  # distinct creation times: the list is oldest first

    pages = []
    for page in (1, 2, 3):
        response = client.get(KEYS, query_string={"page": page, "page_size": 2}, headers=owner.headers)
        assert response.status_code == 200
        assert '"total": 5' in response.headers["X-Pagination"]
        pages.append([item["id"] for item in response.get_json()])

    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == created  # oldest first, no overlap


def test_get_returns_the_fields_without_the_key(client, owner, project):
    created = create_key(client, owner.headers, project_id=project, environment="test")

    body = get_key(client, owner.headers, created["id"])

    assert set(body) == KEY_FIELDS
    assert body == {k: v for k, v in created.items() if k != "key"}


def test_get_unknown_id_is_404(client, owner):
    assert_error(client.get(f"{KEYS}/key_doesnotexist", headers=owner.headers), 404)


# --- update -----------------------------------------------------------------------------


def test_patch_name(client, owner):
    created = create_key(client, owner.headers, name="old")

    response = client.patch(f"{KEYS}/{created['id']}", json={"name": "new name"}, headers=owner.headers)

    assert response.status_code == 200
    expected = {k: v for k, v in created.items() if k != "key"} | {"name": "new name"}
    assert response.get_json() == expected
    assert get_key(client, owner.headers, created["id"]) == expected


def test_patch_scopes_applies_at_once_to_a_key_in_use(client, owner):
    created = create_key(client, owner.headers, scopes=[*MANAGE, "content:generate"])
    assert client.get(KEYS, headers=key_headers(created["key"])).status_code == 200  # in use (and cached)

    response = client.patch(f"{KEYS}/{created['id']}", json={"scopes": ["content:generate"]}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json()["scopes"] == ["content:generate"]
    assert assert_key_works(client, created["key"])["scopes"] == ["content:generate"]
    assert_error(client.get(KEYS, headers=key_headers(created["key"])), 403)


def test_patch_expires_at_and_null_removes_it(client, owner):
    now = freeze_now()
    created = create_key(client, owner.headers)
    url = f"{KEYS}/{created['id']}"

    set_ = client.patch(url, json={"expires_at": iso(now + timedelta(days=1))}, headers=owner.headers)
    assert set_.status_code == 200
    assert parse_time(set_.get_json()["expires_at"]) == now + timedelta(days=1)

    removed = client.patch(url, json={"expires_at": None}, headers=owner.headers)
    assert removed.status_code == 200
    assert removed.get_json()["expires_at"] is None
    assert get_key(client, owner.headers, created["id"])["expires_at"] is None


def test_patch_expiry_applies_at_once_to_a_key_in_use(client, owner):
    now = freeze_now()
    created = create_key(client, owner.headers)
    assert_key_works(client, created["key"])

    response = client.patch(
        f"{KEYS}/{created['id']}", json={"expires_at": iso(now + timedelta(seconds=60))}, headers=owner.headers
    )
    assert response.status_code == 200

    clock.advance(59)
    assert_key_works(client, created["key"])
    clock.advance(1)
    assert_key_refused(me(client, created["key"]), "expired")


def test_patch_expiry_in_the_past_is_422(client, owner):
    now = freeze_now()
    created = create_key(client, owner.headers)

    response = client.patch(
        f"{KEYS}/{created['id']}", json={"expires_at": iso(now - timedelta(minutes=1))}, headers=owner.headers
    )

    assert "expires_at" in assert_error(response, 422)["errors"]["json"]
    assert get_key(client, owner.headers, created["id"])["expires_at"] is None


# --- revoke -----------------------------------------------------------------------------


def test_delete_revokes_at_once_and_keeps_the_record(client, owner):
    now = freeze_now()
    created = create_key(client, owner.headers)
    assert_key_works(client, created["key"])  # in use, so any cache holds it

    response = client.delete(f"{KEYS}/{created['id']}", headers=owner.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_key_refused(me(client, created["key"]), "revoked")
    record = get_key(client, owner.headers, created["id"])
    assert parse_time(record["revoked_at"]) == now
    assert record == {k: v for k, v in created.items() if k != "key"} | {"revoked_at": record["revoked_at"]}
    assert created["id"] not in ids(list_keys(client, owner.headers))
    assert created["id"] in ids(list_keys(client, owner.headers, include_revoked="true"))


def test_delete_twice_keeps_the_first_revocation_time(client, owner):
    freeze_now()
    created = create_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{created['id']}", headers=owner.headers).status_code == 204
    first = get_key(client, owner.headers, created["id"])["revoked_at"]

    clock.advance(30)
    assert client.delete(f"{KEYS}/{created['id']}", headers=owner.headers).status_code == 204

    assert get_key(client, owner.headers, created["id"])["revoked_at"] == first
    assert len([e for e in audit_events(client.application, "api_key.revoked") if e["subject"] == created["id"]]) == 1


def test_delete_during_a_rotation_grace_ends_it_at_once(client, owner):
    freeze_now()
    old = create_key(client, owner.headers)
    assert rotate(client, owner.headers, old["id"], grace_period_seconds=3600).status_code == 201
    assert_key_works(client, old["key"])

    assert client.delete(f"{KEYS}/{old['id']}", headers=owner.headers).status_code == 204

    assert_key_refused(me(client, old["key"]), "revoked")


def test_delete_unknown_id_is_404(client, owner):
    assert_error(client.delete(f"{KEYS}/key_doesnotexist", headers=owner.headers), 404)


# --- rotate -----------------------------------------------------------------------------


def rotate(client, headers, key_id: str, **body: Any):
    return client.post(f"{KEYS}/{key_id}/rotate", json=body, headers=headers)


def test_rotate_with_grace_keeps_the_old_key_until_the_grace_ends(client, owner, project):
    now = freeze_now()
    old = create_key(
        client, owner.headers, name="svc", scopes=[*MANAGE, "content:generate"], project_id=project, expires_in=7 * DAY
    )
    assert_key_works(client, old["key"])

    response = rotate(client, owner.headers, old["id"], grace_period_seconds=3600)

    assert response.status_code == 201, response.get_data(as_text=True)
    new = response.get_json()
    assert set(new) == KEY_FIELDS | {"key"}
    assert response.get_data(as_text=True).count(new["key"]) == 1
    assert old["key"] not in response.get_data(as_text=True)
    assert KEY_PATTERN.fullmatch(new["key"]) and new["key"] != old["key"] and new["id"] != old["id"]
    assert (new["prefix"], new["last4"]) == (new["key"][:16], new["key"][-4:])
    same = ("name", "scopes", "environment", "project_id", "tenant_id", "expires_at")
    assert {k: new[k] for k in same} == {k: old[k] for k in same}
    assert new["created_by"] == owner.user_id and new["revoked_at"] is None
    assert parse_time(get_key(client, owner.headers, old["id"])["revoked_at"]) == now + timedelta(seconds=3600)

    clock.advance(3599)
    assert_key_works(client, old["key"])
    assert_key_works(client, new["key"])
    listed = ids(list_keys(client, key_headers(new["key"])))
    assert {old["id"], new["id"]} <= listed  # still working, so still listed

    clock.advance(1)
    assert_key_refused(me(client, old["key"]), "revoked")
    assert_key_works(client, new["key"])
    assert old["id"] not in ids(list_keys(client, key_headers(new["key"])))
    assert old["id"] in ids(list_keys(client, key_headers(new["key"]), include_revoked="true"))


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"grace_period_seconds": 0}, id="grace-0"),
        pytest.param({}, id="default-empty-object"),
        pytest.param(None, id="no-body"),
    ],
)
def test_rotate_without_grace_refuses_the_old_key_at_once(client, owner, body):
    old = create_key(client, owner.headers)
    assert_key_works(client, old["key"])  # in use, so any cache holds it

    response = client.post(f"{KEYS}/{old['id']}/rotate", json=body, headers=owner.headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert_key_refused(me(client, old["key"]), "revoked")
    assert_key_works(client, response.get_json()["key"])


def test_rotate_with_the_longest_grace(client, owner):
    freeze_now()
    old = create_key(client, owner.headers)

    response = rotate(client, owner.headers, old["id"], grace_period_seconds=THIRTY_DAYS)

    assert response.status_code == 201
    clock.advance(THIRTY_DAYS - 1)
    assert_key_works(client, old["key"])
    clock.advance(1)
    assert_key_refused(me(client, old["key"]), "revoked")


@pytest.mark.parametrize("grace", [-1, -3600, THIRTY_DAYS + 1, 10**12], ids=["-1", "-1h", "30d+1s", "huge"])
def test_rotate_with_a_grace_out_of_range_is_422(client, owner, grace):
    old = create_key(client, owner.headers)

    response = rotate(client, owner.headers, old["id"], grace_period_seconds=grace)

    assert "grace_period_seconds" in assert_error(response, 422)["errors"]["json"]
    assert get_key(client, owner.headers, old["id"])["revoked_at"] is None
    assert_key_works(client, old["key"])
    assert ids(list_keys(client, owner.headers, include_revoked="true")) == {old["id"]}


def test_rotating_a_revoked_key_is_422(client, owner):
    old = create_key(client, owner.headers)
    assert client.delete(f"{KEYS}/{old['id']}", headers=owner.headers).status_code == 204

    response = rotate(client, owner.headers, old["id"])

    assert "revoked" in assert_error(response, 422, "_schema")["message"]
    assert ids(list_keys(client, owner.headers, include_revoked="true")) == {old["id"]}


def test_rotating_an_expired_key_is_422(client, owner):
    freeze_now()
    old = create_key(client, owner.headers, expires_in=60)
    clock.advance(60)

    response = rotate(client, owner.headers, old["id"])

    assert "expired" in assert_error(response, 422, "_schema")["message"]


def test_rotating_again_cannot_extend_the_old_keys_grace(client, owner):
    now = freeze_now()
    old = create_key(client, owner.headers)
    assert rotate(client, owner.headers, old["id"], grace_period_seconds=3600).status_code == 201

    again = rotate(client, owner.headers, old["id"], grace_period_seconds=7200)

    assert again.status_code == 201
    assert parse_time(get_key(client, owner.headers, old["id"])["revoked_at"]) == now + timedelta(seconds=3600)


def test_rotate_unknown_id_is_404(client, owner):
    assert_error(rotate(client, owner.headers, "key_doesnotexist"), 404)


# --- expiry -----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["expires_in", "expires_at"])
def test_a_key_works_until_it_expires(client, owner, how):
    now = freeze_now()
    expiry = {"expires_in": 3600} if how == "expires_in" else {"expires_at": iso(now + timedelta(seconds=3600))}
    created = create_key(client, owner.headers, **expiry)
    assert_key_works(client, created["key"])

    clock.advance(3599)
    assert_key_works(client, created["key"])

    clock.advance(1)
    assert_key_refused(me(client, created["key"]), "expired")
    clock.advance(DAY)
    assert_key_refused(me(client, created["key"]), "expired")


# --- "shown once" -----------------------------------------------------------------------


def enable_all_logging(caplog, monkeypatch) -> None:
    """Capture every logger at DEBUG, including ones a logging config set higher or disabled."""
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)
            caplog.set_level(logging.DEBUG, logger=name)
    caplog.set_level(logging.DEBUG)


def test_a_key_is_shown_once_and_found_nowhere_else(app, client, owner, project, machine, caplog, monkeypatch):
    enable_all_logging(caplog, monkeypatch)
    freeze_now()

    # Make keys through every path that returns one.
    k1 = create_key(client, owner.headers, name="one", scopes=[*MANAGE, "content:generate"])
    k2 = create_key(client, owner.headers, name="two", environment="test", project_id=project, url=GENERATE)
    k3 = create_key(client, key_headers(k1["key"]), name="three", scopes=["content:generate"])
    rotated = rotate(client, owner.headers, k1["id"], grace_period_seconds=3600)
    assert rotated.status_code == 201
    k1b = rotated.get_json()
    assert client.delete(f"{KEYS}/{k2['id']}", headers=owner.headers).status_code == 204
    raws = [k["key"] for k in (k1, k2, k3, k1b)]

    # Use them, and call every read endpoint.
    reads = [
        client.patch(f"{KEYS}/{k3['id']}", json={"name": "three renamed"}, headers=owner.headers),
        client.patch(f"{KEYS}/{k1b['id']}", json={"scopes": [*MANAGE, "content:generate"]}, headers=owner.headers),
        client.get(KEYS, headers=owner.headers),
        client.get(KEYS, query_string={"include_revoked": "true"}, headers=owner.headers),
        client.get(KEYS, query_string={"environment": "test", "include_revoked": "true"}, headers=owner.headers),
        client.get(KEYS, query_string={"project_id": project, "include_revoked": "true"}, headers=owner.headers),
        client.get(KEYS, query_string={"include_revoked": "true"}, headers=key_headers(k1b["key"])),
        client.get(KEYS, query_string={"include_revoked": "true"}, headers=key_headers(k1["key"])),
        *[client.get(f"{KEYS}/{k['id']}", headers=owner.headers) for k in (k1, k2, k3, k1b)],
        *[client.get(f"{KEYS}/{k['id']}", headers=key_headers(k1b["key"])) for k in (k1, k2, k3, k1b)],
        *[client.get(ME, headers=key_headers(k["key"])) for k in (k1, k2, k3, k1b)],
        client.get(ME, headers=owner.headers),
        client.post("/api/auth/api-keys/verify", headers=key_headers(k1b["key"])),
        client.get("/api/auth/gateway/check", headers=key_headers(k1b["key"])),
        *[introspect(client, machine, k["key"]) for k in (k1, k2, k3, k1b)],
    ]
    app.extensions["outter_auth"].key_usage.flush()
    reads.append(client.get(KEYS, query_string={"include_revoked": "true"}, headers=owner.headers))

    assert [r.status_code for r in reads[:2]] == [200, 200]
    assert [r.get_json()["active"] for r in reads[-5:-1]] == [True, False, True, True]
    for response in reads:
        text = response.get_data(as_text=True) + str(dict(response.headers))
        for raw in raws:
            for secret in secret_parts(raw):
                assert secret not in text, (response.request.path, response.status_code)
        assert '"key"' not in text

    database = dump_database(app)
    for raw in raws:
        assert hashlib.sha256(raw.encode()).hexdigest() in database  # the dump does show the digests
        for secret in secret_parts(raw):
            assert secret not in database

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert "api_keys" in logged  # SQL was captured at DEBUG, so a leak would show
    for raw in raws:
        for secret in secret_parts(raw):
            assert secret not in logged
            assert secret not in caplog.text


# --- API keys as callers ----------------------------------------------------------------


def test_me_describes_the_key(client, owner, project):
    created = create_key(
        client, owner.headers, scopes=["content:read", "content:generate"], environment="test", project_id=project
    )

    response = me(client, created["key"])

    assert response.status_code == 200
    body = response.get_json()
    assert body["type"] == "api_key"
    assert body["id"] == created["id"]
    assert body["tenant_id"] == owner.tenant_id
    assert sorted(body["scopes"]) == ["content:generate", "content:read"]
    assert body["environment"] == "test"
    assert body["project_id"] == project
    assert body["roles"] == []
    assert body.get("email") is None


def test_me_of_a_tenant_wide_live_key(client, owner):
    created = create_key(client, owner.headers, scopes=[])

    body = assert_key_works(client, created["key"])

    assert (body["environment"], body["project_id"], body["scopes"]) == ("live", None, [])


def test_the_header_name_is_case_insensitive(client, owner):
    created = create_key(client, owner.headers)

    assert client.get(ME, headers={"x-api-key": created["key"]}).status_code == 200


def test_no_credential_offers_the_apikey_scheme(client):
    response = client.get(ME)

    assert response.status_code == 401
    assert 'ApiKey realm="outter"' in response.headers["WWW-Authenticate"]


# --- API keys on the management API -----------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        pytest.param(["api_keys:read"], {"list", "get"}, id="read-only"),
        pytest.param(
            ["api_keys:write", "content:generate"], {"create", "generate", "patch", "delete", "rotate"}, id="write-only"
        ),
        pytest.param(
            [*MANAGE, "content:generate"],
            {"list", "get", "create", "generate", "patch", "delete", "rotate"},
            id="read-and-write",
        ),
        pytest.param(["content:generate", "users:write", "projects:write"], set(), id="no-key-scope"),
    ],
)
@pytest.mark.parametrize("operation", ["list", "get", "create", "generate", "patch", "delete", "rotate"])
def test_api_keys_use_the_management_api_by_scope(client, owner, scopes, allowed, operation):
    caller = create_key(client, owner.headers, name="caller", scopes=scopes)
    target = create_key(client, owner.headers, name="target", scopes=["content:generate"])
    headers = key_headers(caller["key"])
    body = {"name": "made by a key", "scopes": ["content:generate"]}
    requests = {
        "list": lambda: client.get(KEYS, headers=headers),
        "get": lambda: client.get(f"{KEYS}/{target['id']}", headers=headers),
        "create": lambda: client.post(KEYS, json=body, headers=headers),
        "generate": lambda: client.post(GENERATE, json=body, headers=headers),
        "patch": lambda: client.patch(f"{KEYS}/{target['id']}", json={"name": "renamed"}, headers=headers),
        "delete": lambda: client.delete(f"{KEYS}/{target['id']}", headers=headers),
        "rotate": lambda: client.post(f"{KEYS}/{target['id']}/rotate", json={}, headers=headers),
    }
    before = list_keys(client, owner.headers, include_revoked="true")

    response = requests[operation]()

    if operation in allowed:
        assert response.status_code in (200, 201, 204), response.get_data(as_text=True)
        if operation in ("create", "generate"):
            assert response.get_json()["created_by"] == caller["id"]
            assert response.get_json()["tenant_id"] == owner.tenant_id
    else:
        assert "missing scope" in assert_error(response, 403)["message"]
        assert list_keys(client, owner.headers, include_revoked="true") == before
        assert_key_works(client, target["key"])


# --- audit ------------------------------------------------------------------------------


def test_key_changes_are_audited_with_tenant_and_actor_and_never_the_key(app, client, owner, project):
    created = create_key(client, owner.headers, scopes=[*MANAGE, "content:generate"], project_id=project)
    assert client.patch(f"{KEYS}/{created['id']}", json={"name": "renamed"}, headers=owner.headers).status_code == 200
    rotated = rotate(client, owner.headers, created["id"], grace_period_seconds=60).get_json()
    by_key = create_key(client, key_headers(rotated["key"]), scopes=["content:generate"], project_id=project)
    assert client.delete(f"{KEYS}/{by_key['id']}", headers=key_headers(rotated["key"])).status_code == 204

    events = [e for e in audit_events(app) if e["type"].startswith("api_key.")]

    summary = [(e["type"], e["actor"], e["subject"]) for e in events]
    assert summary == [
        ("api_key.created", owner.user_id, created["id"]),
        ("api_key.updated", owner.user_id, created["id"]),
        ("api_key.rotated", owner.user_id, rotated["id"]),
        ("api_key.created", rotated["id"], by_key["id"]),
        ("api_key.revoked", rotated["id"], by_key["id"]),
    ]
    assert all(e["tenant_id"] == owner.tenant_id for e in events)
    assert all(e["ip"] == "127.0.0.1" for e in events)
    assert events[0]["details"]["scopes"] == [*MANAGE, "content:generate"]
    assert events[0]["details"]["project_id"] == project
    assert "name" in events[1]["details"]["changed"]
    assert events[2]["details"]["rotated_from"] == created["id"]
    text = repr(events)
    for raw in (created["key"], rotated["key"], by_key["key"]):
        for secret in secret_parts(raw):
            assert secret not in text


def test_refused_escalations_are_audited_without_the_key(app, client, owner):
    caller = create_key(client, owner.headers, scopes=MANAGE)
    response = client.post(KEYS, json={"name": "x", "scopes": ["audit:read"]}, headers=key_headers(caller["key"]))
    assert_error(response, 403)

    [refused] = audit_events(app, "api_key.escalation_refused")

    assert (refused["tenant_id"], refused["actor"]) == (owner.tenant_id, caller["id"])
    assert "audit:read" in refused["details"]["reason"]
    assert caller["key"] not in repr(refused) and caller["key"][16:-4] not in repr(refused)
    assert audit_events(app, "api_key.created")[-1]["subject"] == caller["id"]  # no key was made


# --- last_used_at -----------------------------------------------------------------------


@pytest.fixture
def update_counter(app) -> Iterator[list[str]]:
    """UPDATE statements on api_keys, as executed."""
    statements: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("UPDATE") and "api_keys" in statement:
            statements.append(statement)

    with app.app_context():
        engine = db.engine
        event.listen(engine, "before_cursor_execute", listen)
    yield statements
    event.remove(engine, "before_cursor_execute", listen)


def last_used(app, key_id: str) -> datetime | None:
    with app.app_context():
        value = db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))
        db.session.rollback()
        return value


def test_last_used_at_is_written_at_most_once_a_minute(app, client, owner, update_counter):
    recorder = app.extensions["outter_auth"].key_usage
    recorder.flush()  # drain what earlier tests queued
    update_counter.clear()
    now = freeze_now()
    created = create_key(client, owner.headers)
    assert last_used(app, created["id"]) is None

    assert_key_works(client, created["key"])
    recorder.flush()
    assert last_used(app, created["id"]) == now
    assert parse_time(get_key(client, owner.headers, created["id"])["last_used_at"]) == now
    assert len(update_counter) == 1

    update_counter.clear()
    clock.advance(30)
    assert_key_works(client, created["key"])
    assert_key_works(client, created["key"])
    recorder.flush()
    assert update_counter == []  # within a minute: no write at all
    assert last_used(app, created["id"]) == now

    clock.advance(31)  # 61 s after the first use
    assert_key_works(client, created["key"])
    recorder.flush()
    assert len(update_counter) == 1
    assert last_used(app, created["id"]) == now + timedelta(seconds=61)


def test_a_flush_over_many_keys_is_one_statement_and_moves_each_key(app, client, owner, update_counter):
    """Traffic over many keys queues a row per key; the flush writes them in one executemany
    (a statement each was a round trip each: the verify of 100,000 keys lost 40 % to it)."""
    recorder = app.extensions["outter_auth"].key_usage
    recorder.flush()
    now = freeze_now()
    created = [create_key(client, owner.headers) for _ in range(5)]
    for key in created:
        assert_key_works(client, key["key"])
    with app.app_context():  # one key was used later by another worker: its time stays
        later = now + timedelta(minutes=5)
        db.session.execute(update(ApiKey).where(ApiKey.id == created[0]["id"]).values(last_used_at=later))
        db.session.commit()
    update_counter.clear()

    recorder.flush()

    assert len(update_counter) == 1  # one executemany for the batch
    assert last_used(app, created[0]["id"]) == later
    assert [last_used(app, key["id"]) for key in created[1:]] == [now] * 4


def test_last_used_at_is_not_set_by_refused_or_management_reads(app, client, owner):
    recorder = app.extensions["outter_auth"].key_usage
    recorder.flush()
    created = create_key(client, owner.headers)
    get_key(client, owner.headers, created["id"])
    assert client.get(ME, headers=key_headers(bad_checksum(created["key"]))).status_code == 401

    recorder.flush()

    assert last_used(app, created["id"]) is None


# --- pepper rotation --------------------------------------------------------------------

OLD_PEPPER = "old-pepper-0123456789abcdefghijklmnop"
NEW_PEPPER = "new-pepper-qrstuvwxyz9876543210ABCDEF"


def stored(app, key_id: str) -> tuple[bytes, str]:
    with app.app_context():
        digest, pepper_id = db.session.execute(select(ApiKey.digest, ApiKey.pepper_id).where(ApiKey.id == key_id)).one()
        db.session.rollback()
        return bytes(digest), pepper_id


def hmac_sha256(pepper: str, raw: str) -> bytes:
    return hmac.new(pepper.encode(), raw.encode(), hashlib.sha256).digest()


def test_pepper_rotation_moves_keys_to_the_new_pepper_on_use(app, owner, make_app):
    old_app = make_app(api_key_pepper=OLD_PEPPER)
    created = create_key(old_app.test_client(), owner.headers)
    raw = created["key"]
    digest, pepper_id = stored(app, created["id"])
    assert digest == hmac_sha256(OLD_PEPPER, raw)
    assert_key_works(old_app.test_client(), raw)

    # With neither pepper the key is unknown.
    assert_key_refused(me(app.test_client(), raw), "unknown")  # no pepper at all
    assert_key_refused(me(make_app(api_key_pepper=NEW_PEPPER).test_client(), raw), "unknown")  # only the new one
    assert stored(app, created["id"]) == (digest, pepper_id)

    rotated = make_app(api_key_pepper=NEW_PEPPER, api_key_old_peppers=OLD_PEPPER)
    assert_key_works(rotated.test_client(), raw)
    assert stored(app, created["id"]) == (digest, pepper_id)  # the request itself wrote nothing
    rotated.extensions["outter_auth"].key_usage.flush()  # the background writer's turn

    new_digest, new_pepper_id = stored(app, created["id"])
    assert new_digest == hmac_sha256(NEW_PEPPER, raw)
    assert new_pepper_id != pepper_id
    assert OLD_PEPPER not in new_pepper_id and NEW_PEPPER not in new_pepper_id
    # Nor a plain hash of either pepper, which would let a guess of it be confirmed offline (issue 17, F11).
    assert pepper_id not in plain_pepper_hashes(OLD_PEPPER)
    assert new_pepper_id not in plain_pepper_hashes(NEW_PEPPER)
    assert_key_works(rotated.test_client(), raw)  # again, now under the current pepper
    assert_key_works(make_app(api_key_pepper=NEW_PEPPER).test_client(), raw)  # the old pepper can go
    assert_key_refused(me(make_app(api_key_pepper=OLD_PEPPER).test_client(), raw), "unknown")


def test_keys_made_after_a_pepper_rotation_use_the_new_pepper(app, owner, make_app):
    rotated = make_app(api_key_pepper=NEW_PEPPER, api_key_old_peppers=OLD_PEPPER)

    created = create_key(rotated.test_client(), owner.headers)

    assert stored(app, created["id"])[0] == hmac_sha256(NEW_PEPPER, created["key"])
    assert_key_refused(me(make_app(api_key_pepper=OLD_PEPPER).test_client(), created["key"]), "unknown")


# --- introspection ----------------------------------------------------------------------


def test_introspection_of_an_active_key(client, owner, project, machine):
    now = freeze_now()
    created = create_key(
        client,
        owner.headers,
        scopes=["content:generate", "content:read"],
        environment="test",
        project_id=project,
        expires_in=3600,
    )

    body = assert_introspection(introspect(client, machine, created["key"]))

    assert body["active"] is True
    assert body["token_type"] == "api_key"
    assert body["tenant_id"] == owner.tenant_id
    assert body["scope"].split() == ["content:generate", "content:read"]
    assert body["environment"] == "test"
    assert body.get("project_id") == project
    assert body.get("exp") == int((now + timedelta(seconds=3600)).timestamp())
    assert created["key"] not in repr(body)


def test_introspection_of_a_tenant_wide_key(client, owner, machine):
    created = create_key(client, owner.headers, scopes=["content:generate"])

    body = assert_introspection(introspect(client, machine, created["key"]))

    assert (body["active"], body["token_type"], body["environment"], body["scope"]) == (
        True,
        "api_key",
        "live",
        "content:generate",
    )


def test_introspection_of_another_tenants_key_is_inactive(client, owner, other_owner, machine):
    theirs = create_key(client, other_owner.headers, scopes=["content:generate"])

    assert assert_introspection(introspect(client, machine, theirs["key"])) == {"active": False}
    assert_key_works(client, theirs["key"])  # it is a live key: only its tenant may learn about it


@pytest.mark.parametrize("method", ["post", "patch"])
def test_expires_at_that_utc_cannot_hold_is_the_latest_second_not_a_500(client, owner, method):
    """Found by tests/fuzz: 9999-12-31T23:59:59-14:00 is a valid date-time, but it is in
    the year 10000 in UTC, which the database layer (storing UTC) could not convert (once a
    500, then a 422 for a date-time the OpenAPI document allows): it is the latest second."""
    url = KEYS if method == "post" else f"{KEYS}/{create_key(client, owner.headers)['id']}"
    body = {"name": "x", "scopes": [], "expires_at": "9999-12-31T23:59:59-14:00"}

    response = getattr(client, method)(url, json=body, headers=owner.headers)

    assert response.status_code in (200, 201), response.get_data(as_text=True)
    assert response.get_json()["expires_at"] == "9999-12-31T23:59:59+00:00"
