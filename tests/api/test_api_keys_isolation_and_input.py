"""/api/auth/api-keys: tenant isolation, roles, and unusual but valid input.

Another tenant's key must be indistinguishable from a key that does not exist (404) and
be left exactly as it was, still working: every by-id route is tried with another
tenant's ids by tests/attacks/test_cross_tenant.py, and the malformed-JSON, oversized-body
and odd-id tables for every endpoint are in tests/attacks/test_oversized_input.py.
Members hold no api_keys scope (403). Bad input (bodies and list parameters) is one table
with every other endpoint's, in tests/api/test_bad_input.py. Crashes are answered as a
client would see them (``PROPAGATE_EXCEPTIONS`` off), so a server error shows up as a 500
here rather than as a Python exception.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from outter_auth import clock
from tests.api_key_helpers import (
    GENERATE,
    KEY_PATTERN,
    KEYS,
    MANAGE,
    assert_key_refused,
    assert_key_works,
    create_key,
    create_project,
    freeze_now,
    get_key,
    key_headers,
    list_keys,
    me,
    parse_time,
)
from tests.assertions import assert_error
from tests.factories import Actor

KEY = KEYS + "/{key}"
ROTATE = KEYS + "/{key}/rotate"


@pytest.fixture(autouse=True)
def _answer_crashes_with_500(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


def snapshot(client, actor: Actor) -> list[dict[str, Any]]:
    """Every key of ``actor``'s tenant, revoked ones included."""
    return list_keys(client, actor.headers, include_revoked="true")


# --- another tenant's keys --------------------------------------------------------------


@pytest.fixture
def globex_key(client, other_owner) -> dict[str, Any]:
    return create_key(client, other_owner.headers, name="globex", scopes=[*MANAGE, "content:generate"])


def test_a_globex_key_cannot_reach_acme_keys(client, owner, other_owner, globex_key):
    acme = create_key(client, owner.headers)
    headers = key_headers(globex_key["key"])

    assert_error(client.get(f"{KEYS}/{acme['id']}", headers=headers), 404)
    assert_error(client.delete(f"{KEYS}/{acme['id']}", headers=headers), 404)
    assert_error(client.post(f"{KEYS}/{acme['id']}/rotate", json={}, headers=headers), 404)
    assert_key_works(client, acme["key"])
    assert {k["id"] for k in list_keys(client, headers)} == {globex_key["id"]}


def test_a_key_made_by_another_tenants_key_belongs_to_that_tenant(client, owner, other_owner, globex_key):
    made = create_key(client, key_headers(globex_key["key"]), scopes=["content:generate"])

    assert made["tenant_id"] == other_owner.tenant_id
    assert made["id"] not in {k["id"] for k in snapshot(client, owner)}


def test_another_tenants_project_is_refused_even_for_its_keys(client, owner, other_owner):
    theirs = create_project(client, other_owner.headers, "secret")

    response = client.post(KEYS, json={"name": "x", "scopes": [], "project_id": theirs}, headers=owner.headers)

    assert "project_id" in assert_error(response, 422)["errors"]["json"]
    assert snapshot(client, owner) == []


def test_another_tenants_project_filter_lists_nothing(client, owner, other_owner):
    theirs = create_project(client, other_owner.headers, "secret")
    create_key(client, other_owner.headers, project_id=theirs)

    assert list_keys(client, owner.headers, project_id=theirs, include_revoked="true") == []


# --- members ----------------------------------------------------------------------------

MEMBER_CASES = [
    pytest.param("GET", KEYS, None, id="list"),
    pytest.param("POST", KEYS, {"name": "mine", "scopes": []}, id="create"),
    pytest.param("POST", GENERATE, {"name": "mine", "scopes": []}, id="generate"),
    pytest.param("GET", KEY, None, id="get"),
    pytest.param("PATCH", KEY, {"name": "hijacked"}, id="patch"),
    pytest.param("DELETE", KEY, None, id="delete"),
    pytest.param("POST", ROTATE, {}, id="rotate"),
]


@pytest.mark.parametrize(("method", "path", "body"), MEMBER_CASES)
def test_member_gets_403_everywhere(client, owner, member, method, path, body):
    key = create_key(client, owner.headers)
    before = snapshot(client, owner)

    response = client.open(path.format(key=key["id"]), method=method, json=body, headers=member.headers)

    assert "missing scope" in assert_error(response, 403)["message"]
    assert snapshot(client, owner) == before
    assert_key_works(client, key["key"])


@pytest.fixture
def target(client, owner: Actor) -> dict[str, Any]:
    """The key the by-id endpoints act on."""
    return create_key(client, owner.headers, name="target", scopes=["content:generate"])


# --- valid but unusual input is accepted -------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"scopes": [f"s{i}" for i in range(100)]}, id="100-scopes"),
        pytest.param({"scopes": ["s" * 64]}, id="64-char-scope"),
        pytest.param({"scopes": ["a.b:c_d-e0"]}, id="every-scope-character"),
        pytest.param({"scopes": []}, id="no-scopes"),
        pytest.param({"expires_in": 60}, id="expires_in-a-minute"),
        pytest.param({"expires_in": 10 * 365 * 24 * 3600}, id="expires_in-ten-years"),
        pytest.param({"expires_at": "2099-12-31T23:59:59Z"}, id="expires_at-far"),
        pytest.param({"expires_at": None, "expires_in": None}, id="explicit-nulls"),
        pytest.param({"project_id": None}, id="project_id-null"),
    ],
)
def test_unusual_but_valid_bodies_are_201(client, owner, body):
    response = client.post(KEYS, json={"name": "k", "scopes": ["content:generate"], **body}, headers=owner.headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert_key_works(client, response.get_json()["key"])


@pytest.mark.parametrize("grace", [0, 1, 30 * 24 * 3600], ids=["0", "1", "30-days"])
def test_grace_bounds_are_accepted(client, owner, target, grace):
    now = freeze_now()

    response = client.post(f"{KEYS}/{target['id']}/rotate", json={"grace_period_seconds": grace}, headers=owner.headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    new = response.get_json()
    assert KEY_PATTERN.fullmatch(new["key"]) and new["id"] != target["id"]
    assert (new["name"], new["scopes"], new["environment"]) == ("target", ["content:generate"], "live")
    assert new["revoked_at"] is None
    assert parse_time(get_key(client, owner.headers, target["id"])["revoked_at"]) == now + timedelta(seconds=grace)
    assert_key_works(client, new["key"])
    if grace:
        assert_key_works(client, target["key"])  # the grace has begun, not ended
        clock.advance(grace)
    assert_key_refused(me(client, target["key"]), "revoked")
    assert_key_works(client, new["key"])


# --- query parameters -------------------------------------------------------------------


@pytest.mark.parametrize("value", ["true", "True", "1", "false", "0"])
def test_boolean_spellings_of_include_revoked(client, owner, target, value):
    response = client.get(KEYS, query_string={"include_revoked": value}, headers=owner.headers)

    assert response.status_code == 200
    assert [k["id"] for k in response.get_json()] == [target["id"]]


# --- ids in the path --------------------------------------------------------------------


def test_a_key_in_the_path_is_404_and_not_echoed(client, owner, target):
    response = client.get(f"{KEYS}/{target['key']}", headers=owner.headers)

    assert_error(response, 404)
    assert target["key"] not in response.get_data(as_text=True)
