"""API-key attacks (SPEC §3, §6, §7): refused keys at every place that reads a key, keys
where they do not belong, two credentials at once, and keys trying to mint more power
than they have.

Places (``tests/attacks/places.py``): verify (header and JSON body) answers
``401 {"valid": false, "code": ...}`` with the SPEC §7 reason, the gateway check an empty
401, ``/api/auth/me`` and the management API a 401 with an ``ApiKey ... error="invalid_key"``
challenge naming the reason, introspection ``{"active": false}``. Never the key echoed back.

Time is moved with ``outter_auth.clock`` (never slept), frozen near the real time so the
owner's access token stays valid.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from outter_auth import clock
from tests.api_key_helpers import (
    GENERATE,
    KEYS,
    MANAGE,
    ME,
    assert_key_refused,
    assert_key_works,
    audit_events,
    bad_checksum,
    create_key,
    create_project,
    freeze_now,
    iso,
    key_headers,
    list_keys,
    me,
    new_events,
    parse_time,
    unknown_key,
)
from tests.assertions import MISSING_CREDENTIALS_CHALLENGE, assert_error
from tests.attacks.places import (
    CHECK,
    IDENTITY_HEADERS,
    KEY_PLACES,
    LOGOUT,
    VERIFY,
    Caller,
    key_refusal_problems,
    make_caller,
    present_key,
)
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import bearer

DAY = 24 * 3600
JSON_PLACES = ("verify-body", "introspect")  # the key travels in a body, not a header


def on_the_wire(value: str) -> str:
    """A header value as a WSGI server hands it over: the UTF-8 bytes, read as latin-1."""
    return value.encode("utf-8").decode("latin-1")


@pytest.fixture
def caller(client, owner: Actor) -> Caller:
    return make_caller(client, owner.headers)


@pytest.fixture
def project(client, owner: Actor) -> str:
    return create_project(client, owner.headers, "web")


@pytest.fixture(params=["owner", "admin"])
def manager(request, make: Factory) -> Actor:
    return make.actor("acme", f"manager-{request.param}@acme.test", request.param)


# --- the control: a genuine key is accepted everywhere ----------------------------------


def test_a_genuine_key_is_accepted_everywhere(caller: Caller, owner: Actor):
    created = create_key(caller.client, owner.headers, scopes=MANAGE)
    raw = created["key"]

    for place in ("verify", "verify-body"):
        response = present_key(caller, place, raw)
        assert response.status_code == 200 and response.get_json()["key_id"] == created["id"], place
    check = present_key(caller, "check", raw)
    assert check.status_code == 200 and check.headers["X-Outter-Key-Id"] == created["id"]
    assert present_key(caller, "me", raw).get_json()["id"] == created["id"]
    assert present_key(caller, "management", raw).status_code == 200
    assert present_key(caller, "introspect", raw).get_json()["key_id"] == created["id"]


# --- refused keys: refused at every place -------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    value: Callable[[dict[str, Any]], str]
    code: str  # SPEC §7: malformed | unknown | revoked | expired
    setup: str | None = None  # "revoke" | "expire" | "rotate" | "rotate-after-grace"


def _swap(raw: str, index: int, char: str) -> str:
    return raw[:index] + char + raw[index + 1 :]


REFUSED_KEYS = [
    # shape: refused with no I/O
    pytest.param(Refusal(lambda k: "", "malformed"), id="empty"),
    pytest.param(Refusal(lambda k: bad_checksum(k["key"]), "malformed"), id="bad-checksum"),
    pytest.param(Refusal(lambda k: _swap(k["key"], 20, "A" if k["key"][20] != "A" else "B"), "malformed"), id="typo"),
    pytest.param(Refusal(lambda k: "outter_prod_" + k["key"][12:], "malformed"), id="wrong-prefix"),
    pytest.param(Refusal(lambda k: "outter_test_" + k["key"][12:], "malformed"), id="other-environment-prefix"),
    pytest.param(Refusal(lambda k: "sk_live_" + k["key"][8:], "malformed"), id="other-vendor-prefix"),
    pytest.param(Refusal(lambda k: k["key"][:-2], "malformed"), id="too-short"),
    pytest.param(Refusal(lambda k: k["key"] + "0", "malformed"), id="too-long"),
    pytest.param(Refusal(lambda k: k["key"] + k["key"], "malformed"), id="doubled"),
    pytest.param(Refusal(lambda k: f"{k['key']}, {k['key']}", "malformed"), id="two-keys-comma-joined"),
    pytest.param(Refusal(lambda k: "outter_live_", "malformed"), id="prefix-only"),
    pytest.param(Refusal(lambda k: "ApiKey " + k["key"], "malformed"), id="scheme-in-header"),
    pytest.param(Refusal(lambda k: "Bearer " + k["key"], "malformed"), id="bearer-scheme-in-header"),
    pytest.param(Refusal(lambda k: k["key"].upper(), "malformed"), id="upper-cased"),
    pytest.param(Refusal(lambda k: k["key"].lower(), "malformed"), id="lower-cased"),
    pytest.param(Refusal(lambda k: "%6F" + k["key"][1:], "malformed"), id="percent-encoded"),
    pytest.param(Refusal(lambda k: "x" * 8000, "malformed"), id="8000-chars"),
    # whitespace, NUL and unicode inside the key
    pytest.param(Refusal(lambda k: _swap(k["key"], 20, " "), "malformed"), id="space-inside"),
    pytest.param(Refusal(lambda k: k["key"][:20] + " " + k["key"][20:], "malformed"), id="space-inserted"),
    pytest.param(Refusal(lambda k: k["key"][:-1] + "\t", "malformed"), id="tab-for-last-char"),
    pytest.param(Refusal(lambda k: _swap(k["key"], 20, "\x00"), "malformed"), id="nul-inside"),
    pytest.param(Refusal(lambda k: k["key"] + "\x00", "malformed"), id="nul-appended"),
    pytest.param(Refusal(lambda k: k["key"][:20] + "\u200b" + k["key"][20:], "malformed"), id="zero-width-space"),
    pytest.param(Refusal(lambda k: "outter_live_" + "é" * 38, "malformed"), id="unicode-body"),
    pytest.param(Refusal(lambda k: "\u043eutter" + k["key"][6:], "malformed"), id="cyrillic-o-homoglyph"),
    pytest.param(Refusal(lambda k: _swap(k["key"], 20, "\uff10"), "malformed"), id="fullwidth-digit"),
    pytest.param(Refusal(lambda k: _swap(k["key"], 20, "\u0660"), "malformed"), id="arabic-indic-digit"),
    # well-formed but not a live key
    pytest.param(Refusal(lambda k: unknown_key(), "unknown"), id="unknown-valid-checksum"),
    pytest.param(Refusal(lambda k: unknown_key("test"), "unknown"), id="unknown-test"),
    pytest.param(Refusal(lambda k: k["key"], "revoked", "revoke"), id="revoked"),
    pytest.param(Refusal(lambda k: k["key"], "expired", "expire"), id="expired"),
    pytest.param(Refusal(lambda k: k["key"], "revoked", "rotate"), id="rotated-without-grace"),
    pytest.param(Refusal(lambda k: k["key"], "revoked", "rotate-after-grace"), id="rotated-out-after-grace"),
]


@pytest.mark.parametrize("refusal", REFUSED_KEYS)
def test_refused_key_is_refused_everywhere(caller: Caller, owner: Actor, refusal: Refusal):
    client = caller.client
    freeze_now()
    created = create_key(client, owner.headers, scopes=MANAGE, expires_in=3600)
    assert_key_works(client, created["key"])
    if refusal.setup == "revoke":
        assert client.delete(f"{KEYS}/{created['id']}", headers=owner.headers).status_code == 204
    elif refusal.setup == "expire":
        clock.advance(3600)
    elif refusal.setup in ("rotate", "rotate-after-grace"):
        grace = 60 if refusal.setup == "rotate-after-grace" else 0
        rotated = client.post(
            f"{KEYS}/{created['id']}/rotate", json={"grace_period_seconds": grace}, headers=owner.headers
        )
        assert rotated.status_code == 201
        if grace:
            assert_key_works(client, created["key"])  # inside the grace
            clock.advance(grace)
    presented = refusal.value(created)

    problems = {}
    for place in KEY_PLACES:
        raw = presented if place in JSON_PLACES else on_the_wire(presented)
        if problem := key_refusal_problems(place, present_key(caller, place, raw), presented, refusal.code):
            problems[place] = problem
    assert not problems, problems
    if refusal.setup is None:
        assert_key_works(client, created["key"])  # refusing a garbled copy left the real key alone


# --- keys where they do not belong --------------------------------------------------------

QUERY_PARAMETERS = ["api_key", "apikey", "key", "X-API-Key", "x-api-key", "access_token", "token"]


@pytest.mark.parametrize("parameter", QUERY_PARAMETERS)
def test_a_key_in_the_query_string_is_ignored(client, owner: Actor, parameter: str):
    raw = create_key(client, owner.headers, scopes=MANAGE)["key"]
    query = {parameter: raw}

    for url in (ME, KEYS):
        response = client.get(url, query_string=query)
        assert response.status_code == 401, url
        assert response.headers["WWW-Authenticate"] == MISSING_CREDENTIALS_CHALLENGE
    check = client.get(CHECK, query_string=query)
    assert check.status_code == 401 and check.get_data() == b""
    assert not any(h in check.headers for h in IDENTITY_HEADERS)
    verify = client.post(VERIFY, query_string=query)
    assert verify.status_code == 401 and verify.get_json() == {"valid": False, "code": "missing"}


def test_a_key_in_a_cookie_or_another_header_is_ignored(client, owner: Actor):
    raw = create_key(client, owner.headers, scopes=MANAGE)["key"]

    for headers in ({"Cookie": f"api_key={raw}"}, {"X-Api-Token": raw}, {"Api-Key": raw}, {"X-API-KEY-": raw}):
        assert client.get(ME, headers=headers).status_code == 401, headers
        assert client.get(CHECK, headers=headers).status_code == 401, headers


# --- two credentials at once --------------------------------------------------------------
#
# /api/auth/me, the management API and logout refuse a request that carries both an
# X-API-Key and an Authorization header ("send one credential"). Verify is not listed: it
# is asked about a key by a gateway and has no caller credential of its own. The gateway
# check once passed the key on and ignored the Bearer token beside it.


def _genuine(owner: Actor) -> str:
    return owner.token


def _forged(owner: Actor) -> str:
    head, payload, _ = owner.token.split(".")
    return f"{head}.{payload}."  # signature stripped


@pytest.mark.parametrize("token", [_genuine, _forged], ids=["genuine-bearer", "forged-bearer"])
@pytest.mark.parametrize(
    "place",
    ["me", "management", "logout", "check"],
)
def test_an_api_key_and_a_bearer_token_together_are_refused(client, owner: Actor, place: str, token):
    raw = create_key(client, owner.headers, scopes=MANAGE)["key"]
    headers = {**bearer(token(owner)), **key_headers(raw)}

    response = {
        "me": lambda: client.get(ME, headers=headers),
        "management": lambda: client.get(KEYS, headers=headers),
        "logout": lambda: client.post(LOGOUT, headers=headers),
        "check": lambda: client.get(CHECK, headers=headers),
    }[place]()

    assert response.status_code == 401, response.get_data(as_text=True)
    if place == "check":
        assert response.get_data() == b"" and not any(h in response.headers for h in IDENTITY_HEADERS)
    else:
        assert "one credential" in assert_key_refused(response)["message"]
    assert client.get(ME, headers=owner.headers).status_code == 200, "the session was not logged out"


# --- escalation (SPEC §3: no credential can mint a credential with more power than it has) --

CALLER_SCOPES = [*MANAGE, "content:generate", "content:read"]


@dataclass
class Bounded:
    """A key with api_keys:write, bound to project p1, live, expiring in a day; and targets."""

    now: datetime
    caller: dict[str, Any]
    p1: str
    p2: str
    targets: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def expiry(self) -> datetime:
        return self.now + timedelta(days=1)


@pytest.fixture
def bounded(client, owner) -> Bounded:
    now = freeze_now()
    p1, p2 = create_project(client, owner.headers, "web"), create_project(client, owner.headers, "mobile")
    caller = create_key(
        client, owner.headers, name="caller", scopes=CALLER_SCOPES, project_id=p1, expires_at=iso(now + timedelta(1))
    )
    ctx = Bounded(now, caller, p1, p2)
    hour = iso(now + timedelta(hours=1))
    shapes = {
        "within": {"scopes": ["content:generate"], "project_id": p1, "expires_at": hour},
        "broader-scopes": {"scopes": ["content:generate", "billing:write"], "project_id": p1, "expires_at": hour},
        "other-environment": {
            "scopes": ["content:generate"],
            "environment": "test",
            "project_id": p1,
            "expires_at": hour,
        },
        "other-project": {"scopes": ["content:generate"], "project_id": p2, "expires_at": hour},
        "tenant-wide": {"scopes": ["content:generate"], "expires_at": hour},
    }
    for name, shape in shapes.items():
        ctx.targets[name] = create_key(client, owner.headers, name=name, **shape)
    ctx.targets["self"] = caller
    return ctx


def later(ctx: Bounded, seconds: int) -> str:
    return iso(ctx.expiry + timedelta(seconds=seconds))


@dataclass(frozen=True)
class Escalation:
    action: str  # create | generate | patch | revoke | rotate
    status: int
    target: str | None = None
    body: Callable[[Bounded], dict[str, Any]] = lambda ctx: {}
    message: str | None = None  # a fragment of the 403 message


def create_body(**overrides: Any) -> Callable[[Bounded], dict[str, Any]]:
    def body(ctx: Bounded) -> dict[str, Any]:
        base: dict[str, Any] = {
            "name": "child",
            "scopes": ["content:generate"],
            "project_id": ctx.p1,
            "expires_at": iso(ctx.now + timedelta(hours=2)),
        }
        for name, value in overrides.items():
            value = value(ctx) if callable(value) else value
            if value is DROP:
                base.pop(name, None)
            else:
                base[name] = value
        return base

    return body


DROP = object()

ESCALATIONS = [
    # creating
    pytest.param(Escalation("create", 201, body=create_body()), id="create-within"),
    pytest.param(
        Escalation("create", 201, body=create_body(scopes=CALLER_SCOPES, expires_at=lambda ctx: iso(ctx.expiry))),
        id="create-same-power",
    ),
    pytest.param(
        Escalation("create", 201, body=create_body(expires_at=DROP, expires_in=600)), id="create-within-expires-in"
    ),
    pytest.param(
        Escalation(
            "create", 403, body=create_body(scopes=["content:generate", "billing:write"]), message="billing:write"
        ),
        id="create-scope-it-lacks",
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(scopes=["users:write"]), message="users:write"),
        id="create-management-scope-it-lacks",
    ),
    pytest.param(
        Escalation("generate", 403, body=create_body(scopes=["audit:read"]), message="audit:read"),
        id="generate-scope-it-lacks",
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(environment="test"), message="live"), id="create-other-environment"
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(project_id=lambda ctx: ctx.p2), message="project"),
        id="create-other-project",
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(project_id=DROP), message="project"), id="create-tenant-wide"
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(project_id=None), message="project"), id="create-project-null"
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(expires_at=DROP), message="outlive"), id="create-no-expiry"
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(expires_at=lambda ctx: later(ctx, 1)), message="outlive"),
        id="create-later-expiry",
    ),
    pytest.param(
        Escalation("create", 403, body=create_body(expires_at=DROP, expires_in=2 * DAY), message="outlive"),
        id="create-later-expires-in",
    ),
    # updating
    pytest.param(Escalation("patch", 200, "within", lambda ctx: {"name": "renamed"}), id="patch-within-rename"),
    pytest.param(
        Escalation("patch", 200, "within", lambda ctx: {"scopes": ["content:read"]}), id="patch-within-scopes"
    ),
    pytest.param(
        Escalation("patch", 200, "within", lambda ctx: {"expires_at": iso(ctx.expiry)}), id="patch-within-expiry"
    ),
    pytest.param(
        Escalation("patch", 403, "within", lambda ctx: {"scopes": ["content:generate", "billing:write"]}, "billing"),
        id="patch-widen-scopes",
    ),
    pytest.param(
        Escalation("patch", 403, "within", lambda ctx: {"expires_at": None}, "outlive"), id="patch-remove-expiry"
    ),
    pytest.param(
        Escalation("patch", 403, "within", lambda ctx: {"expires_at": later(ctx, 3600)}, "outlive"),
        id="patch-later-expiry",
    ),
    pytest.param(
        Escalation("patch", 403, "self", lambda ctx: {"scopes": [*CALLER_SCOPES, "users:write"]}, "users:write"),
        id="patch-self-widen",
    ),
    pytest.param(
        Escalation("patch", 403, "self", lambda ctx: {"expires_at": None}, "outlive"), id="patch-self-remove-expiry"
    ),
    pytest.param(
        Escalation("patch", 403, "broader-scopes", lambda ctx: {"name": "mine now"}, "billing"),
        id="patch-broader-key",
    ),
    pytest.param(
        Escalation("patch", 403, "broader-scopes", lambda ctx: {"scopes": ["content:generate"]}, "billing"),
        id="patch-narrowing-a-broader-key",
    ),
    # Keys outside the caller's environment or project are out of its sight: 404, as for no such key.
    pytest.param(
        Escalation("patch", 404, "other-environment", lambda ctx: {"name": "x"}, "not found"),
        id="patch-other-environment",
    ),
    pytest.param(
        Escalation("patch", 404, "other-project", lambda ctx: {"name": "x"}, "not found"), id="patch-other-project"
    ),
    pytest.param(
        Escalation("patch", 404, "tenant-wide", lambda ctx: {"name": "x"}, "not found"), id="patch-tenant-wide"
    ),
    # revoking
    pytest.param(Escalation("revoke", 204, "within"), id="revoke-within"),
    pytest.param(Escalation("revoke", 403, "broader-scopes", message="billing"), id="revoke-broader-scopes"),
    pytest.param(Escalation("revoke", 404, "other-environment", message="not found"), id="revoke-other-environment"),
    pytest.param(Escalation("revoke", 404, "other-project", message="not found"), id="revoke-other-project"),
    pytest.param(Escalation("revoke", 404, "tenant-wide", message="not found"), id="revoke-tenant-wide"),
    # rotating
    pytest.param(Escalation("rotate", 201, "within"), id="rotate-within"),
    pytest.param(Escalation("rotate", 403, "broader-scopes", message="billing"), id="rotate-broader-scopes"),
    pytest.param(Escalation("rotate", 404, "other-environment", message="not found"), id="rotate-other-environment"),
    pytest.param(Escalation("rotate", 404, "other-project", message="not found"), id="rotate-other-project"),
    pytest.param(Escalation("rotate", 404, "tenant-wide", message="not found"), id="rotate-tenant-wide"),
]

KEY_EVENTS = ("api_key.created", "api_key.updated", "api_key.revoked", "api_key.rotated")


@pytest.mark.parametrize("case", ESCALATIONS)
def test_a_key_cannot_mint_more_power_than_it_has(app, client, owner, bounded: Bounded, case: Escalation):
    headers = key_headers(bounded.caller["key"])
    target = bounded.targets[case.target] if case.target else None
    before = list_keys(client, owner.headers, include_revoked="true")
    events_before = audit_events(app)

    if case.action in ("create", "generate"):
        response = client.post(KEYS if case.action == "create" else GENERATE, json=case.body(bounded), headers=headers)
    elif case.action == "patch":
        response = client.patch(f"{KEYS}/{target['id']}", json=case.body(bounded), headers=headers)
    elif case.action == "revoke":
        response = client.delete(f"{KEYS}/{target['id']}", headers=headers)
    else:
        response = client.post(f"{KEYS}/{target['id']}/rotate", json={}, headers=headers)

    recorded = new_events(app, events_before)
    assert response.status_code == case.status, response.get_data(as_text=True)
    if case.status == 404:
        assert case.message in assert_error(response, 404)["message"]
        assert list_keys(client, owner.headers, include_revoked="true") == before  # nothing changed
        assert_key_works(client, target["key"])
        assert recorded == []  # nothing to audit: to this caller the key does not exist
        return
    if case.status == 403:
        body = assert_error(response, 403)
        assert case.message in body["message"], body
        assert list_keys(client, owner.headers, include_revoked="true") == before  # nothing changed
        if target is not None:
            assert_key_works(client, target["key"])
        [refused] = recorded
        assert refused["type"] == "api_key.escalation_refused"
        assert refused["tenant_id"] == owner.tenant_id
        assert refused["actor"] == bounded.caller["id"]
        assert refused["details"]["reason"] == body["message"]
        return
    assert not [e for e in recorded if e["type"] == "api_key.escalation_refused"]
    assert [e["actor"] for e in recorded if e["type"] in KEY_EVENTS] == [bounded.caller["id"]]
    if case.action in ("create", "generate") or case.action == "rotate":
        made = response.get_json()
        assert set(made["scopes"]) <= set(CALLER_SCOPES)
        assert made["environment"] == "live" and made["project_id"] == bounded.p1
        assert made["expires_at"] is not None and parse_time(made["expires_at"]) <= bounded.expiry
        assert made["created_by"] == bounded.caller["id"]
        assert_key_works(client, made["key"])
    if case.action == "revoke":
        assert_key_refused(me(client, target["key"]), "revoked")


@pytest.mark.parametrize(
    ("action", "target", "body"),
    [
        pytest.param("patch", "within", {"scopes": ["billing:write"]}, id="patch-widen-scopes"),
        pytest.param("patch", "within", {"expires_at": None}, id="patch-remove-expiry"),
        pytest.param("patch", "self", {"scopes": ["users:write"]}, id="patch-self-widen"),
        pytest.param("patch", "broader-scopes", {"name": "x"}, id="patch-broader-key"),
        pytest.param("revoke", "broader-scopes", None, id="revoke-broader-key"),
        pytest.param("rotate", "broader-scopes", {}, id="rotate-broader-key"),
    ],
)
def test_a_refused_change_names_the_key_in_the_audit_trail(app, client, bounded: Bounded, action, target, body):
    key_id = bounded.targets[target]["id"]
    url = f"{KEYS}/{key_id}" + ("/rotate" if action == "rotate" else "")
    method = {"patch": "PATCH", "revoke": "DELETE", "rotate": "POST"}[action]

    response = client.open(url, method=method, json=body, headers=key_headers(bounded.caller["key"]))

    assert_error(response, 403)
    [refused] = audit_events(app, "api_key.escalation_refused")
    assert refused["subject"] == key_id


def test_an_unbounded_key_may_make_project_keys_and_keys_with_an_expiry(client, owner, project):
    caller = create_key(client, owner.headers, scopes=[*MANAGE, "content:generate"])

    made = create_key(
        client, key_headers(caller["key"]), scopes=["content:generate"], project_id=project, expires_in=3600
    )

    assert made["project_id"] == project and made["expires_at"] is not None


def test_a_test_key_cannot_make_live_keys(app, client, owner):
    caller = create_key(client, owner.headers, scopes=MANAGE, environment="test")

    refused = client.post(KEYS, json={"name": "x", "scopes": []}, headers=key_headers(caller["key"]))
    allowed = client.post(
        KEYS, json={"name": "x", "scopes": [], "environment": "test"}, headers=key_headers(caller["key"])
    )

    assert "test" in assert_error(refused, 403)["message"]
    assert allowed.status_code == 201 and allowed.get_json()["key"].startswith("outter_test_")
    assert len(audit_events(app, "api_key.escalation_refused")) == 1


def test_a_user_token_narrowed_to_api_keys_cannot_mint_other_management_scopes(app, client, owner):
    form = {
        "grant_type": "password",
        "client_id": "outter-app",
        "username": owner.email,
        "password": PASSWORD,
        "scope": "api_keys:read api_keys:write",
    }
    token = client.post("/oauth/token", data=form).get_json()["access_token"]
    narrowed = {"Authorization": f"Bearer {token}"}
    assert sorted(client.get(ME, headers=narrowed).get_json()["scopes"]) == MANAGE

    response = client.post(KEYS, json={"name": "x", "scopes": ["users:write", "users:read"]}, headers=narrowed)

    assert "users" in assert_error(response, 403)["message"]
    assert len(audit_events(app, "api_key.escalation_refused")) == 1


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param(
            "POST",
            "/api/auth/users",
            {"email": "new-owner@acme.test", "password": "a long password 123", "role": "owner"},
            id="create-owner",
        ),
        pytest.param(
            "POST",
            "/api/auth/users",
            {"email": "new-admin@acme.test", "password": "a long password 123", "role": "admin"},
            id="create-admin",
        ),
        pytest.param("PATCH", "/api/auth/users/{member}", {"role": "admin"}, id="promote"),
        pytest.param("PATCH", "/api/auth/users/{member}", {"role": "owner"}, id="promote-to-owner"),
    ],
)
def test_a_key_with_users_write_cannot_make_a_user_more_powerful_than_itself(client, owner, member, method, path, body):
    caller = create_key(client, owner.headers, scopes=["users:read", "users:write"])

    response = client.open(
        path.format(member=member.user_id), method=method, json=body, headers=key_headers(caller["key"])
    )

    assert_error(response, 403)
    roles = {u["email"]: u["role"] for u in client.get("/api/auth/users", headers=owner.headers).get_json()}
    assert roles.get(member.email) == "member"
    assert not {"new-owner@acme.test", "new-admin@acme.test"} & set(roles)


def test_a_key_with_users_write_may_add_members(app, client, owner):
    caller = create_key(client, owner.headers, scopes=["users:write"])
    body = {"email": "plain@acme.test", "password": "a long password 123", "role": "member"}

    response = client.post("/api/auth/users", json=body, headers=key_headers(caller["key"]))

    assert response.status_code == 201, response.get_data(as_text=True)
    made = response.get_json()
    assert (made["email"], made["role"], made["is_active"]) == ("plain@acme.test", "member", True)
    listed = client.get("/api/auth/users", headers=owner.headers).get_json()
    assert made in listed
    (event,) = [e for e in audit_events(app, "membership.changed") if e["subject"] == made["id"]]
    assert (event["actor"], event["tenant_id"], event["details"]) == (
        caller["id"],
        owner.tenant_id,
        {"added": True, "role": "member"},
    )
    login = client.post("/api/auth/login", json={"email": "plain@acme.test", "password": body["password"]})
    assert login.status_code == 200 and login.get_json()["scope"] == ""  # a member: no management scope


def test_owners_and_admins_are_not_bounded(client, manager, project):
    made = create_key(
        client, manager.headers, scopes=["users:write", "audit:read", "billing:write", *MANAGE], project_id=project
    )

    assert made["expires_at"] is None
    assert_key_works(client, made["key"])
