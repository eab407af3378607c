"""Bad input of every kind, at every endpoint that reads a body or parameters: one table.

Malformed JSON, bodies over the size limit, wrong types for every field and odd ids in
the path are tables of the attack suite, generated for every endpoint from the app's own
routes (tests/attacks/test_oversized_input.py); this file keeps the rules of the fields,
for sign-in, projects, users and API keys.

SPEC §4: "Bad input of any kind is a 4xx with a clear message — never a 500, never a
stack trace", in the shape ``{"code", "status", "message"}`` (422 adds ``errors`` per
field). Refused input changes nothing: no project, user or key is made or changed, and
the key the by-id endpoints act on still works. Valid but unusual text (emoji,
right-to-left scripts, combining marks, SQL-looking strings) is accepted and stored
exactly as sent.

Exceptions are not propagated to the test here (``PROPAGATE_EXCEPTIONS = False``), so
a crash shows up as the 500 a client would see rather than as a Python error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api_key_helpers import GENERATE, KEYS, assert_key_works, create_key, get_key, list_keys
from tests.assertions import assert_error
from tests.factories import PASSWORD, Actor, Factory

LOGIN = "/api/auth/login"
PROJECTS = "/api/auth/projects"
USERS = "/api/auth/users"
# Every paginated list of the API (the page/page_size checks are flask-smorest's, shared).
LISTS = {
    "projects": PROJECTS,
    "users": USERS,
    "api-keys": KEYS,
    "clients": "/api/auth/clients",
    "audit-events": "/api/auth/audit-events",
}
PROJECT = PROJECTS + "/{project}"
USER = USERS + "/{user}"
KEY = KEYS + "/{key}"
ROTATE = KEY + "/rotate"

KB10 = "x" * 10 * 1024
SQLISH = "' OR 1=1 --"
SURROGATE = "\ud800"  # a lone UTF-16 surrogate: valid in JSON ("\\ud800"), not encodable as UTF-8
CONTROL_CHARACTERS = {
    "nul": "\x00",
    "newline": "\n",
    "tab": "\t",
    "escape": "\x1b[2J",
    "del": "\x7f",
    "c1-nel": "\x85",
}
MULTILINE_WHITESPACE = ("newline", "tab")  # content in multi-line text, not an attack


@pytest.fixture(autouse=True)
def _answer_crashes_with_500(app, monkeypatch):
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)


@pytest.fixture
def ids(client, owner: Actor, make: Factory) -> dict[str, str]:
    """What the by-id endpoints act on: a project, a member (ann, who can log in) and an
    API key of acme (``key_raw``: the key itself)."""
    project = client.post(PROJECTS, json={"name": "Existing", "slug": "existing"}, headers=owner.headers)
    assert project.status_code == 201
    key = create_key(client, owner.headers, name="target", scopes=["content:generate"])
    return {
        "project": project.get_json()["id"],
        "user": make.user("acme", "ann@acme.test", "member"),
        "key": key["id"],
        "key_raw": key["key"],
    }


def snapshot(client, owner: Actor) -> dict[str, Any]:
    """Every project, user and key of acme (revoked keys included)."""
    return {
        "projects": client.get(PROJECTS, headers=owner.headers).get_json(),
        "users": client.get(USERS, headers=owner.headers).get_json(),
        "keys": list_keys(client, owner.headers, include_revoked="true"),
    }


# --- the table --------------------------------------------------------------------------

NOTHING = object()


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of TEXT_FIELDS
class Endpoint:
    name: str
    method: str
    path: str
    valid: dict[str, Any]
    required: tuple[str, ...] = ()
    auth: bool = True
    # Fields of the resource a caller might hope to set (read-only, or internal).
    smuggled: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    endpoint: Endpoint
    json: Any = NOTHING
    data: Any = None
    content_type: str | None = None
    status: int = 422
    error_field: str | None = None  # the field the 422 must name


KEY_INTERNALS = ("key", "digest", "created_by", "revoked_at", "last_used_at")
NEW_KEY = {"name": "k", "scopes": ["content:generate"]}
ENDPOINTS = [
    Endpoint("login", "POST", LOGIN, {"email": "ann@acme.test", "password": PASSWORD}, ("email", "password"), False),
    Endpoint("projects-create", "POST", PROJECTS, {"name": "Web", "slug": "web"}, ("name",)),
    Endpoint("projects-patch", "PATCH", PROJECT, {"name": "Renamed"}),
    Endpoint(
        "users-create", "POST", USERS, {"email": "new@acme.test", "password": "a long password"}, ("email", "password")
    ),
    Endpoint("users-patch", "PATCH", USER, {"role": "admin"}),
    Endpoint("api-keys-create", "POST", KEYS, NEW_KEY, ("name", "scopes"), smuggled=KEY_INTERNALS),
    Endpoint("api-keys-generate", "POST", GENERATE, NEW_KEY, ("name", "scopes"), smuggled=KEY_INTERNALS),
    Endpoint("api-keys-patch", "PATCH", KEY, {"name": "renamed"}, smuggled=KEY_INTERNALS),
    Endpoint("api-keys-rotate", "POST", ROTATE, {"grace_period_seconds": 60}, smuggled=KEY_INTERNALS),
]
LOGIN_EP, PROJECT_CREATE, PROJECT_PATCH, USER_CREATE, USER_PATCH, KEY_CREATE, KEY_GENERATE, KEY_PATCH, KEY_ROTATE = (
    ENDPOINTS
)

# String fields by endpoint; passwords are secrets (any text but NUL), the rest is plain
# text; a description is multi-line text (newlines and tabs are content there).
TEXT_FIELDS = {
    LOGIN_EP: ("email", "tenant"),
    PROJECT_CREATE: ("name", "slug", "description"),
    PROJECT_PATCH: ("name", "slug", "description"),
    USER_CREATE: ("email", "role"),
    USER_PATCH: ("role",),
    KEY_CREATE: ("name",),
    KEY_GENERATE: ("name",),
    KEY_PATCH: ("name",),
    KEY_ROTATE: (),
}
SECRET_FIELDS = {LOGIN_EP: ("password",), USER_CREATE: ("password",)}
MULTILINE_FIELDS = ("description",)


def case(endpoint: Endpoint, case_id: str, *, marks: Any = (), **kwargs: Any) -> Any:
    return pytest.param(Case(endpoint, **kwargs), id=f"{endpoint.name}-{case_id}", marks=marks)


def with_value(endpoint: Endpoint, name: str, value: Any) -> dict[str, Any]:
    return {**endpoint.valid, name: value}


def generic_cases() -> list[Any]:
    """Bad bodies that every body-taking endpoint must refuse the same way."""
    cases = []
    for ep in ENDPOINTS:
        # JSON that is not an object → 422 on the whole body
        for case_id, raw in [
            ("list", "[]"),
            ("list-of-object", f'[{{"name": "{ep.name}"}}]'),
            ("string", '"hello"'),
            ("number", "42"),
            ("null", "null"),
            ("boolean", "true"),
        ]:
            cases.append(
                case(ep, f"body-is-{case_id}", data=raw, content_type="application/json", error_field="_schema")
            )
        # not JSON at all → 415
        for case_id, content_type, raw in [
            ("text-plain", "text/plain", '{"name": "x"}'),
            ("form-encoded", "application/x-www-form-urlencoded", "name=x&slug=x"),
            ("multipart", "multipart/form-data", {"name": "x"}),
            ("xml", "application/xml", "<name>x</name>"),
        ]:
            cases.append(case(ep, case_id, data=raw, content_type=content_type, status=415))
        # unknown fields, including ones a caller might hope to smuggle in
        for extra in ("unexpected", "id", "tenant_id", "is_admin", *ep.smuggled):
            cases.append(case(ep, f"unknown-field-{extra}", json=with_value(ep, extra, "x"), error_field=extra))
        # missing required fields and empty bodies
        for name in ep.required:
            body = {k: v for k, v in ep.valid.items() if k != name}
            cases.append(case(ep, f"missing-{name}", json=body, error_field=name))
        if ep.required:
            cases.append(case(ep, "empty-object", json={}, error_field=ep.required[0]))
            cases.append(
                case(ep, "empty-json-body", data="", content_type="application/json", error_field=ep.required[0])
            )
            cases.append(case(ep, "no-body", error_field=ep.required[0]))
        for name in TEXT_FIELDS[ep] + SECRET_FIELDS.get(ep, ()):
            cases.append(case(ep, f"{name}-10kb", json=with_value(ep, name, KB10), error_field=name))
            cases.append(case(ep, f"{name}-nul", json=with_value(ep, name, "ab\x00cdefghij"), error_field=name))
        # control characters in plain-text fields
        for name in TEXT_FIELDS[ep]:
            for case_id, char in CONTROL_CHARACTERS.items():
                if case_id != "nul" and not (name in MULTILINE_FIELDS and case_id in MULTILINE_WHITESPACE):
                    cases.append(
                        case(ep, f"{name}-{case_id}", json=with_value(ep, name, f"ab{char}cd"), error_field=name)
                    )
    return cases


def field_cases() -> list[Any]:
    """Rules of particular fields."""
    return [
        # login
        case(LOGIN_EP, "email-empty", json=with_value(LOGIN_EP, "email", ""), error_field="email"),
        case(LOGIN_EP, "password-empty", json=with_value(LOGIN_EP, "password", ""), error_field="password"),
        case(LOGIN_EP, "tenant-empty", json=with_value(LOGIN_EP, "tenant", ""), error_field="tenant"),
        case(LOGIN_EP, "sql-email", json=with_value(LOGIN_EP, "email", SQLISH), status=401),
        case(LOGIN_EP, "sql-password", json=with_value(LOGIN_EP, "password", SQLISH), status=401),
        case(LOGIN_EP, "sql-tenant", json={**LOGIN_EP.valid, "password": "wrong", "tenant": SQLISH}, status=401),
        case(LOGIN_EP, "unicode-email-unknown", json=with_value(LOGIN_EP, "email", "ünï🚀@مثال.test"), status=401),
        case(LOGIN_EP, "unicode-password-wrong", json=with_value(LOGIN_EP, "password", "pässwörd 🔑 שלום"), status=401),
        case(LOGIN_EP, "surrogate-password", json=with_value(LOGIN_EP, "password", SURROGATE)),
        case(
            LOGIN_EP,
            "surrogate-email",
            json=with_value(LOGIN_EP, "email", SURROGATE + "@acme.test"),
        ),
        # projects
        case(PROJECT_CREATE, "name-empty", json=with_value(PROJECT_CREATE, "name", ""), error_field="name"),
        case(PROJECT_CREATE, "name-201-chars", json=with_value(PROJECT_CREATE, "name", "n" * 201), error_field="name"),
        case(
            PROJECT_CREATE,
            "description-1001-chars",
            json=with_value(PROJECT_CREATE, "description", "d" * 1001),
            error_field="description",
        ),
        case(PROJECT_CREATE, "slug-sql", json=with_value(PROJECT_CREATE, "slug", SQLISH), error_field="slug"),
        case(PROJECT_CREATE, "slug-uppercase", json=with_value(PROJECT_CREATE, "slug", "Web"), error_field="slug"),
        case(PROJECT_CREATE, "slug-unicode", json=with_value(PROJECT_CREATE, "slug", "café"), error_field="slug"),
        case(PROJECT_CREATE, "slug-emoji", json=with_value(PROJECT_CREATE, "slug", "🚀"), error_field="slug"),
        case(PROJECT_CREATE, "slug-leading-dash", json=with_value(PROJECT_CREATE, "slug", "-web"), error_field="slug"),
        case(PROJECT_CREATE, "slug-65-chars", json=with_value(PROJECT_CREATE, "slug", "s" * 65), error_field="slug"),
        case(PROJECT_CREATE, "slug-empty", json=with_value(PROJECT_CREATE, "slug", ""), error_field="slug"),
        case(PROJECT_CREATE, "slug-taken", json=with_value(PROJECT_CREATE, "slug", "existing"), status=409),
        case(PROJECT_CREATE, "surrogate-name", json=with_value(PROJECT_CREATE, "name", SURROGATE)),
        case(
            PROJECT_CREATE,
            "surrogate-description",
            json=with_value(PROJECT_CREATE, "description", "a" + SURROGATE),
        ),
        case(PROJECT_PATCH, "name-empty", json={"name": ""}, error_field="name"),
        case(PROJECT_PATCH, "slug-sql", json={"slug": SQLISH}, error_field="slug"),
        case(PROJECT_PATCH, "slug-empty", json={"slug": ""}, error_field="slug"),
        case(PROJECT_PATCH, "surrogate-name", json={"name": SURROGATE}),
        # users
        case(
            USER_CREATE,
            "email-not-an-email",
            json=with_value(USER_CREATE, "email", "not-an-email"),
            error_field="email",
        ),
        case(USER_CREATE, "email-sql", json=with_value(USER_CREATE, "email", SQLISH), error_field="email"),
        case(USER_CREATE, "email-two-ats", json=with_value(USER_CREATE, "email", "a@b@acme.test"), error_field="email"),
        case(USER_CREATE, "role-unknown", json=with_value(USER_CREATE, "role", "superuser"), error_field="role"),
        case(USER_CREATE, "role-wrong-case", json=with_value(USER_CREATE, "role", "Owner"), error_field="role"),
        case(
            USER_CREATE, "password-7-chars", json=with_value(USER_CREATE, "password", "seven77"), error_field="password"
        ),
        case(
            USER_CREATE, "password-73-bytes", json=with_value(USER_CREATE, "password", "p" * 73), error_field="password"
        ),
        case(
            USER_CREATE,
            "password-74-utf8-bytes",
            json=with_value(USER_CREATE, "password", "é" * 37),
            error_field="password",
        ),
        case(
            USER_CREATE,
            "surrogate-password",
            json=with_value(USER_CREATE, "password", SURROGATE * 8),
        ),
        case(USER_CREATE, "email-taken", json=with_value(USER_CREATE, "email", "ANN@acme.test"), status=409),
        case(USER_PATCH, "role-unknown", json={"role": "superuser"}, error_field="role"),
        case(USER_PATCH, "role-sql", json={"role": SQLISH}, error_field="role"),
        case(USER_PATCH, "is_active-string", json={"is_active": "false"}, error_field="is_active"),
        case(USER_PATCH, "is_active-list", json={"is_active": [False]}, error_field="is_active"),
        case(USER_PATCH, "is_active-null", json={"is_active": None}, error_field="is_active"),
        case(USER_PATCH, "is_active-0", json={"is_active": 0}, error_field="is_active"),
        case(USER_PATCH, "is_active-1", json={"is_active": 1}, error_field="is_active"),
        case(USER_PATCH, "email-is-not-patchable", json={"email": "new@acme.test"}, error_field="email"),
        case(USER_PATCH, "password-is-not-patchable", json={"password": "a new password"}, error_field="password"),
    ]


def key_create_cases(ep: Endpoint) -> list[Any]:
    """Rules of a new key's fields (the same at ``/api-keys`` and its alias ``/generate``)."""
    return [
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
        case(ep, "scope-sql", json=with_value(ep, "scopes", [SQLISH]), error_field="scopes"),
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


def key_patch_cases() -> list[Any]:
    ep = KEY_PATCH
    return [
        case(ep, "scopes-is-a-string", json={"scopes": "content:generate"}, error_field="scopes"),
        case(ep, "scopes-is-null", json={"scopes": None}, error_field="scopes"),
        case(ep, "name-is-a-number", json={"name": 7}, error_field="name"),
        case(ep, "name-is-null", json={"name": None}, error_field="name"),
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


def key_rotate_cases() -> list[Any]:
    field = "grace_period_seconds"
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
    return [case(KEY_ROTATE, f"grace-{name}", json={field: value}, error_field=field) for name, value in values.items()]


def send(client, c: Case, ids: dict[str, str], owner: Actor):
    kwargs: dict[str, Any] = {"method": c.endpoint.method}
    if c.json is not NOTHING:
        kwargs["json"] = c.json
    if c.data is not None:
        kwargs["data"] = c.data
    if c.content_type is not None:
        kwargs["content_type"] = c.content_type
    if c.endpoint.auth:
        kwargs["headers"] = owner.headers
    return client.open(c.endpoint.path.format(**ids), **kwargs)


@pytest.mark.parametrize(
    "c",
    generic_cases()
    + field_cases()
    + key_create_cases(KEY_CREATE)
    + key_create_cases(KEY_GENERATE)
    + key_patch_cases()
    + key_rotate_cases(),
)
def test_bad_body_is_a_clean_4xx_and_changes_nothing(client, owner, ids, c: Case):
    before = snapshot(client, owner)

    response = send(client, c, ids, owner)

    assert_error(response, c.status, c.error_field)
    assert snapshot(client, owner) == before
    assert_key_works(client, ids["key_raw"])


# --- valid but unusual text is accepted -------------------------------------------------

UNUSUAL_TEXT = {
    "emoji": "🚀 Launch 🎉",
    "emoji-zwj": "👩‍💻 team",
    "rtl-arabic": "مشروع جديد",
    "rtl-hebrew-mixed": "פרויקט Alpha",
    "combining-marks": "Z\u0335\u0321a\u0337l\u0336g\u0334o\u0338",
    "nfd-accent": "Cafe\u0301",
    "cjk": "项目 プロジェクト",
    "sql-ish": "Robert'); DROP TABLE projects;--",
    "sql-or": SQLISH,
    "html": "<script>alert(1)</script>",
    "200-chars": "é" * 200,
}


@pytest.mark.parametrize("name", UNUSUAL_TEXT.values(), ids=UNUSUAL_TEXT.keys())
def test_unusual_project_names_are_stored_exactly(client, owner, name):
    response = client.post(
        PROJECTS, json={"name": name, "slug": "p", "description": f"about {name}"}, headers=owner.headers
    )

    assert response.status_code == 201, response.get_data(as_text=True)
    project = client.get(f"{PROJECTS}/{response.get_json()['id']}", headers=owner.headers).get_json()
    assert (project["name"], project["description"]) == (name, f"about {name}")


@pytest.mark.parametrize("name", UNUSUAL_TEXT.values(), ids=UNUSUAL_TEXT.keys())
def test_unusual_key_names_are_stored_exactly(client, owner, name):
    created = create_key(client, owner.headers, name=name)

    assert created["name"] == name
    assert get_key(client, owner.headers, created["id"])["name"] == name
    renamed = ("!" + name)[:200]
    patched = client.patch(f"{KEYS}/{created['id']}", json={"name": renamed}, headers=owner.headers)
    assert patched.status_code == 200 and patched.get_json()["name"] == renamed


@pytest.mark.parametrize("name", ["🚀 Launch 🎉", "مشروع جديد", "项目"], ids=["emoji", "rtl", "cjk"])
def test_unusual_project_names_are_accepted_without_a_slug(client, owner, name):
    response = client.post(PROJECTS, json={"name": name}, headers=owner.headers)

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["name"] == name
    assert response.get_json()["slug"]


@pytest.mark.parametrize(
    "name", ["مشروع جديد", "Z\u0335a\u0337l\u0336g\u0334o", "🔥" * 50], ids=["rtl", "combining", "emoji"]
)
def test_unusual_names_are_accepted_on_patch(client, owner, ids, name):
    response = client.patch(f"{PROJECTS}/{ids['project']}", json={"name": name}, headers=owner.headers)

    assert response.status_code == 200
    assert client.get(f"{PROJECTS}/{ids['project']}", headers=owner.headers).get_json()["name"] == name


@pytest.mark.parametrize(
    "password",
    ["pässwörd 🔑 שלום", "tab\tand\nnewline", SQLISH + " 123", "  spaces around  "],
    ids=["unicode", "control-characters", "sql-ish", "spaces"],
)
def test_unusual_passwords_round_trip_through_login(client, owner, password):
    created = client.post(USERS, json={"email": "bob@acme.test", "password": password}, headers=owner.headers)
    assert created.status_code == 201, created.get_data(as_text=True)

    assert client.post(LOGIN, json={"email": "bob@acme.test", "password": password}).status_code == 200
    assert client.post(LOGIN, json={"email": "bob@acme.test", "password": password.strip() + "x"}).status_code == 401


@pytest.mark.parametrize(
    ("url", "body"),
    [(PROJECTS, '{"name": "Web", "slug": "web"}'), (KEYS, '{"name": "k", "scopes": []}')],
    ids=["projects", "api-keys"],
)
def test_json_with_a_charset_is_json(client, owner, url, body):
    response = client.post(url, data=body, content_type="application/json; charset=utf-8", headers=owner.headers)
    assert response.status_code == 201


# --- query parameters -------------------------------------------------------------------

PAGINATION = [  # every paginated list
    ("page", "0", "page-zero"),
    ("page", "-1", "page-negative"),
    ("page", "abc", "page-letters"),
    ("page", "1.5", "page-fraction"),
    ("page", "", "page-empty"),
    ("page", SQLISH, "page-sql"),
    ("page", "1\x00", "page-nul"),
    ("page", "9" * 10240, "page-10k-digits"),
    ("page_size", "0", "page_size-zero"),
    ("page_size", "101", "page_size-101"),
    ("page_size", "abc", "page_size-letters"),
    ("page_size", "1e3", "page_size-exponent"),
    ("page_size", "9" * 30, "page_size-30-digits"),
]
KEY_FILTERS = [
    ("include_revoked", "notabool", "include_revoked-notabool"),
    ("include_revoked", "", "include_revoked-empty"),
    ("include_revoked", "2", "include_revoked-2"),
    ("environment", "prod", "environment-prod"),
    ("environment", "LIVE", "environment-upper"),
    ("project_id", "p" * 41, "project_id-41-chars"),
    ("project_id", "prj\x00", "project_id-nul"),
    ("project_id", "", "project_id-empty"),
]
BAD_QUERIES = [
    *(
        pytest.param(url, param, value, id=f"{name}-{case_id}")
        for name, url in LISTS.items()
        for param, value, case_id in PAGINATION
    ),
    *(pytest.param(KEYS, param, value, id=f"api-keys-{case_id}") for param, value, case_id in KEY_FILTERS),
]


@pytest.mark.parametrize(("url", "param", "value"), BAD_QUERIES)
def test_bad_query_parameters_are_422(client, owner, url, param, value):
    response = client.get(url, query_string={param: value}, headers=owner.headers)

    assert_error(response, 422, param, location="query")


@pytest.mark.parametrize("page", [1000, int("9" * 30)], ids=["1000", "30-digits"])
@pytest.mark.parametrize("url", LISTS.values(), ids=LISTS.keys())
def test_a_page_past_the_end_is_empty_not_an_error(client, owner, url, page):
    response = client.get(url, query_string={"page": page, "page_size": 100}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json() == []
