"""/api/auth/api-keys: tenant isolation, roles, and bad input of every kind.

Another tenant's key must be indistinguishable from a key that does not exist (404) and
be left exactly as it was, still working: every by-id route is tried with another
tenant's ids by tests/attacks/test_cross_tenant.py, and the malformed-JSON, oversized-body
and odd-id tables for every endpoint are in tests/attacks/test_oversized_input.py.
Members hold no api_keys scope (403). Bad input is a clean 4xx in the SPEC §4 shape, never a 500 or a traceback, and
changes nothing. Crashes are answered as a client would see them (``PROPAGATE_EXCEPTIONS``
off), so a server error shows up as a 500 here rather than as a Python exception.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.http import HTTP_STATUS_CODES

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


# --- bad input --------------------------------------------------------------------------


def assert_clean_error(response, status: int, field: str | None = None, location: str = "json") -> dict:
    """``status`` in the SPEC error shape, no server error and no traceback; a 422 names ``field``."""
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    assert response.status_code < 500, text
    assert response.status_code == status, text
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == status
    assert body["status"] == HTTP_STATUS_CODES[status]
    assert isinstance(body["message"], str) and body["message"]
    if status == 422 and field is not None:
        assert isinstance(body.get("errors"), dict) and body["errors"], body
        assert field in body["errors"][location], body["errors"]
    return body


NOTHING = object()
KB10 = "n" * 10 * 1024
SURROGATE = "\ud800"
CONTROL_CHARACTERS = {"nul": "\x00", "newline": "\n", "tab": "\t", "escape": "\x1b[2J", "del": "\x7f", "c1": "\x85"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    valid: dict[str, Any]


CREATE = Endpoint("create", "POST", KEYS, {"name": "k", "scopes": ["content:generate"]})
ALIAS = Endpoint("generate", "POST", GENERATE, {"name": "k", "scopes": ["content:generate"]})
PATCH = Endpoint("patch", "PATCH", KEY, {"name": "renamed"})
ROTATE_EP = Endpoint("rotate", "POST", ROTATE, {"grace_period_seconds": 60})
BODY_ENDPOINTS = [CREATE, ALIAS, PATCH, ROTATE_EP]


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    json: Any = NOTHING
    data: Any = None
    content_type: str | None = None
    status: int = 422
    error_field: str | None = None


def case(endpoint: Endpoint, case_id: str, **kwargs: Any) -> Any:
    return pytest.param(Case(endpoint, **kwargs), id=f"{endpoint.name}-{case_id}")


def with_value(endpoint: Endpoint, name: str, value: Any) -> dict[str, Any]:
    return {**endpoint.valid, name: value}


def generic_cases() -> list[Any]:
    cases = []
    for ep in BODY_ENDPOINTS:
        for case_id, raw in [("list", "[]"), ("string", '"k"'), ("number", "42"), ("null", "null"), ("true", "true")]:
            cases.append(
                case(ep, f"body-is-{case_id}", data=raw, content_type="application/json", error_field="_schema")
            )
        for case_id, content_type, raw in [
            ("text-plain", "text/plain", '{"name": "k", "scopes": []}'),
            ("form-encoded", "application/x-www-form-urlencoded", "name=k&scopes=content:generate"),
            ("multipart", "multipart/form-data", {"name": "k"}),
            ("xml", "application/xml", "<name>k</name>"),
        ]:
            cases.append(case(ep, case_id, data=raw, content_type=content_type, status=415))
        for extra in ("unexpected", "id", "tenant_id", "key", "digest", "created_by", "revoked_at", "last_used_at"):
            cases.append(case(ep, f"unknown-field-{extra}", json=with_value(ep, extra, "x"), error_field=extra))
    return cases


def create_cases(ep: Endpoint) -> list[Any]:
    cases = [
        case(ep, "missing-name", json={"scopes": []}, error_field="name"),
        case(ep, "missing-scopes", json={"name": "k"}, error_field="scopes"),
        case(ep, "empty-object", json={}, error_field="name"),
        case(ep, "no-body", error_field="name"),
        # wrong types
        case(ep, "scopes-is-a-string", json=with_value(ep, "scopes", "content:generate"), error_field="scopes"),
        case(ep, "scopes-is-null", json=with_value(ep, "scopes", None), error_field="scopes"),
        case(ep, "scopes-is-an-object", json=with_value(ep, "scopes", {"a": 1}), error_field="scopes"),
        case(ep, "scope-is-a-number", json=with_value(ep, "scopes", [123]), error_field="scopes"),
        case(ep, "scope-is-a-list", json=with_value(ep, "scopes", [["a"]]), error_field="scopes"),
        case(ep, "scope-is-null", json=with_value(ep, "scopes", [None]), error_field="scopes"),
        case(ep, "name-is-a-number", json=with_value(ep, "name", 12345), error_field="name"),
        case(ep, "name-is-a-boolean", json=with_value(ep, "name", True), error_field="name"),
        case(ep, "name-is-a-list", json=with_value(ep, "name", ["k"]), error_field="name"),
        case(ep, "name-is-null", json=with_value(ep, "name", None), error_field="name"),
        case(ep, "environment-is-a-number", json=with_value(ep, "environment", 1), error_field="environment"),
        case(ep, "project_id-is-a-number", json=with_value(ep, "project_id", 1), error_field="project_id"),
        case(ep, "expires_at-is-a-number", json=with_value(ep, "expires_at", 1893456000), error_field="expires_at"),
        case(ep, "expires_at-not-a-date", json=with_value(ep, "expires_at", "tomorrow"), error_field="expires_at"),
        case(
            ep,
            "expires_at-bad-month",
            json=with_value(ep, "expires_at", "2031-13-01T00:00:00Z"),
            error_field="expires_at",
        ),
        case(ep, "expires_in-is-a-string", json=with_value(ep, "expires_in", "3600"), error_field="expires_in"),
        case(ep, "expires_in-is-a-float", json=with_value(ep, "expires_in", 3600.5), error_field="expires_in"),
        case(ep, "expires_in-is-a-whole-float", json=with_value(ep, "expires_in", 3600.0), error_field="expires_in"),
        case(ep, "expires_in-is-a-boolean", json=with_value(ep, "expires_in", True), error_field="expires_in"),
        # sizes
        case(ep, "200-scopes", json=with_value(ep, "scopes", [f"s{i}" for i in range(200)]), error_field="scopes"),
        case(ep, "name-10kb", json=with_value(ep, "name", KB10), error_field="name"),
        case(ep, "name-201-chars", json=with_value(ep, "name", "n" * 201), error_field="name"),
        case(ep, "name-empty", json=with_value(ep, "name", ""), error_field="name"),
        case(ep, "name-surrogate", json=with_value(ep, "name", "a" + SURROGATE), error_field="name"),
        case(ep, "project_id-10kb", json=with_value(ep, "project_id", KB10), error_field="project_id"),
        case(ep, "project_id-nul", json=with_value(ep, "project_id", "prj_\x00"), error_field="project_id"),
        case(ep, "project_id-unknown", json=with_value(ep, "project_id", "prj_doesnotexist"), error_field="project_id"),
        # scope grammar
        case(ep, "scope-uppercase", json=with_value(ep, "scopes", ["Content:Generate"]), error_field="scopes"),
        case(ep, "scope-space", json=with_value(ep, "scopes", ["content generate"]), error_field="scopes"),
        case(ep, "scope-65-chars", json=with_value(ep, "scopes", ["s" * 65]), error_field="scopes"),
        case(ep, "scope-empty", json=with_value(ep, "scopes", [""]), error_field="scopes"),
        case(ep, "scope-unicode", json=with_value(ep, "scopes", ["contént:read"]), error_field="scopes"),
        case(ep, "scope-slash", json=with_value(ep, "scopes", ["content/read"]), error_field="scopes"),
        case(ep, "scope-star", json=with_value(ep, "scopes", ["*"]), error_field="scopes"),
        case(ep, "scope-nul", json=with_value(ep, "scopes", ["content\x00"]), error_field="scopes"),
        case(ep, "scope-sql", json=with_value(ep, "scopes", ["' OR 1=1 --"]), error_field="scopes"),
        case(ep, "scope-surrogate", json=with_value(ep, "scopes", [SURROGATE]), error_field="scopes"),
        # expiry
        case(
            ep,
            "expires_at-in-the-past",
            json=with_value(ep, "expires_at", "2001-01-01T00:00:00Z"),
            error_field="expires_at",
        ),
        case(
            ep, "expires_at-year-0", json=with_value(ep, "expires_at", "0000-01-01T00:00:00Z"), error_field="expires_at"
        ),
        case(
            ep,
            "expires_at-year-10000",
            json=with_value(ep, "expires_at", "10000-01-01T00:00:00Z"),
            error_field="expires_at",
        ),
        case(ep, "expires_in-0", json=with_value(ep, "expires_in", 0), error_field="expires_in"),
        case(ep, "expires_in-negative", json=with_value(ep, "expires_in", -3600), error_field="expires_in"),
        case(ep, "expires_in-huge", json=with_value(ep, "expires_in", 10**12), error_field="expires_in"),
        case(ep, "expires_in-30-digits", json=with_value(ep, "expires_in", int("9" * 30)), error_field="expires_in"),
        case(
            ep,
            "expires_at-and-expires_in",
            json={**ep.valid, "expires_at": "2099-01-01T00:00:00Z", "expires_in": 3600},
            error_field="expires_in",
        ),
        # environment
        case(ep, "environment-prod", json=with_value(ep, "environment", "prod"), error_field="environment"),
        case(ep, "environment-upper", json=with_value(ep, "environment", "LIVE"), error_field="environment"),
        case(ep, "environment-empty", json=with_value(ep, "environment", ""), error_field="environment"),
        case(ep, "environment-null", json=with_value(ep, "environment", None), error_field="environment"),
    ]
    for case_id, char in CONTROL_CHARACTERS.items():
        cases.append(case(ep, f"name-{case_id}", json=with_value(ep, "name", f"ab{char}cd"), error_field="name"))
    return cases


def patch_cases() -> list[Any]:
    ep = PATCH
    cases = [
        case(ep, "scopes-is-a-string", json={"scopes": "content:generate"}, error_field="scopes"),
        case(ep, "scopes-is-null", json={"scopes": None}, error_field="scopes"),
        case(ep, "name-is-a-number", json={"name": 7}, error_field="name"),
        case(ep, "name-is-null", json={"name": None}, error_field="name"),
        case(ep, "name-10kb", json={"name": KB10}, error_field="name"),
        case(ep, "name-empty", json={"name": ""}, error_field="name"),
        case(ep, "200-scopes", json={"scopes": [f"s{i}" for i in range(200)]}, error_field="scopes"),
        case(ep, "scope-uppercase", json={"scopes": ["Content:Generate"]}, error_field="scopes"),
        case(ep, "scope-space", json={"scopes": ["a b"]}, error_field="scopes"),
        case(ep, "scope-65-chars", json={"scopes": ["s" * 65]}, error_field="scopes"),
        case(ep, "expires_at-in-the-past", json={"expires_at": "2001-01-01T00:00:00Z"}, error_field="expires_at"),
        case(ep, "expires_at-not-a-date", json={"expires_at": "soon"}, error_field="expires_at"),
        case(ep, "expires_at-is-a-number", json={"expires_at": 0}, error_field="expires_at"),
        case(ep, "expires_in-not-patchable", json={"expires_in": 3600}, error_field="expires_in"),
        case(ep, "environment-not-patchable", json={"environment": "test"}, error_field="environment"),
        case(ep, "project_id-not-patchable", json={"project_id": "prj_x"}, error_field="project_id"),
    ]
    for case_id, char in CONTROL_CHARACTERS.items():
        cases.append(case(ep, f"name-{case_id}", json={"name": f"ab{char}cd"}, error_field="name"))
    return cases


def rotate_cases() -> list[Any]:
    ep, field = ROTATE_EP, "grace_period_seconds"
    values = {
        "string": "60",
        "float": 1.5,
        "whole-float": 60.0,
        "true": True,
        "false": False,
        "null": None,
        "list": [60],
        "negative": -1,
        "30-days-and-a-second": 30 * 24 * 3600 + 1,
        "huge": 10**12,
        "30-digits": int("9" * 30),
    }
    return [case(ep, f"grace-{name}", json={field: value}, error_field=field) for name, value in values.items()]


@pytest.fixture
def target(client, owner: Actor) -> dict[str, Any]:
    """The key the by-id endpoints act on."""
    return create_key(client, owner.headers, name="target", scopes=["content:generate"])


def send(client, c: Case, key_id: str, owner: Actor):
    kwargs: dict[str, Any] = {"method": c.endpoint.method, "headers": owner.headers}
    if c.json is not NOTHING:
        kwargs["json"] = c.json
    if c.data is not None:
        kwargs["data"] = c.data
    if c.content_type is not None:
        kwargs["content_type"] = c.content_type
    return client.open(c.endpoint.path.format(key=key_id), **kwargs)


@pytest.mark.parametrize(
    "c", generic_cases() + create_cases(CREATE) + create_cases(ALIAS) + patch_cases() + rotate_cases()
)
def test_bad_input_is_a_clean_4xx_and_changes_nothing(client, owner, target, c: Case):
    before = snapshot(client, owner)

    response = send(client, c, target["id"], owner)

    assert_clean_error(response, c.status, c.error_field)
    assert snapshot(client, owner) == before
    assert_key_works(client, target["key"])


# --- valid but unusual input is accepted -------------------------------------------------

UNICODE_NAMES = {
    "emoji": "🚀 Deploy bot 🎉",
    "emoji-zwj": "👩‍💻 team key",
    "rtl-arabic": "مفتاح الإنتاج",
    "rtl-hebrew-mixed": "מפתח Alpha",
    "combining-marks": "Z\u0335a\u0337l\u0336g\u0334o",
    "nfd-accent": "Cafe\u0301",
    "cjk": "生产密钥 キー",
    "sql-ish": "Robert'); DROP TABLE api_keys;--",
    "html": "<script>alert(1)</script>",
    "200-chars": "é" * 200,
}


@pytest.mark.parametrize("name", UNICODE_NAMES.values(), ids=UNICODE_NAMES.keys())
def test_unusual_names_are_stored_exactly(client, owner, name):
    created = create_key(client, owner.headers, name=name)

    assert created["name"] == name
    assert get_key(client, owner.headers, created["id"])["name"] == name
    renamed = ("!" + name)[:200]
    patched = client.patch(f"{KEYS}/{created['id']}", json={"name": renamed}, headers=owner.headers)
    assert patched.status_code == 200 and patched.get_json()["name"] == renamed


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

# page and page_size: tests/api/test_bad_input.py, for every paginated list.
BAD_QUERIES = [
    pytest.param("include_revoked", "notabool", id="include_revoked-notabool"),
    pytest.param("include_revoked", "", id="include_revoked-empty"),
    pytest.param("include_revoked", "2", id="include_revoked-2"),
    pytest.param("environment", "prod", id="environment-prod"),
    pytest.param("environment", "LIVE", id="environment-upper"),
    pytest.param("project_id", "p" * 41, id="project_id-41-chars"),
    pytest.param("project_id", "prj\x00", id="project_id-nul"),
    pytest.param("project_id", "", id="project_id-empty"),
]


@pytest.mark.parametrize(("param", "value"), BAD_QUERIES)
def test_bad_list_parameters_are_422(client, owner, target, param, value):
    response = client.get(KEYS, query_string={param: value}, headers=owner.headers)

    assert_clean_error(response, 422, param, location="query")


@pytest.mark.parametrize("value", ["true", "True", "1", "false", "0"])
def test_boolean_spellings_of_include_revoked(client, owner, target, value):
    response = client.get(KEYS, query_string={"include_revoked": value}, headers=owner.headers)

    assert response.status_code == 200
    assert [k["id"] for k in response.get_json()] == [target["id"]]


# --- ids in the path --------------------------------------------------------------------


def test_a_key_in_the_path_is_404_and_not_echoed(client, owner, target):
    response = client.get(f"{KEYS}/{target['key']}", headers=owner.headers)

    assert_clean_error(response, 404)
    assert target["key"] not in response.get_data(as_text=True)
