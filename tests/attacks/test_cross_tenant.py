"""Tenant isolation across every management endpoint, and role checks inside a tenant.

Every by-id route is read from the url_map (``routes.id_routes()``) and called, by each
kind of manager of tenant acme (owner, admin, an API key with every management scope),
with the id of an object of tenant globex. Another tenant's object must be
indistinguishable from one that does not exist (the same 404 as a made-up id of the same
shape), no byte of it may be in the answer, and it must be left exactly as it was and
still work. A by-id route without an object factory or bodies in ``objects.py`` fails
here, so a new endpoint cannot slip past. Every list is read the same way: it shows only
the caller's tenant. Members hold no management scope, so every management endpoint
refuses them with 403.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from outter_auth.extensions import db
from outter_auth.models import AuditEvent
from tests.assertions import assert_error
from tests.attacks import routes
from tests.attacks.objects import (
    BODIES,
    KINDS,
    NO_BODY,
    Made,
    manager_with_all_scopes,
    tail_of,
    unknown_id_like,
)
from tests.factories import PASSWORD, Actor, Factory

PROJECTS = "/api/auth/projects"
USERS = "/api/auth/users"
TENANT = "/api/auth/tenant"
AUDIT = "/api/auth/audit-events"
CALLERS = ["owner", "admin", "api-key"]
MISSING = object()
LIST_QUERIES = {"/api/auth/api-keys": {"include_revoked": "true"}}  # lists that hide rows by default


@pytest.fixture(params=CALLERS)
def acme_manager(request, client, make: Factory) -> tuple[str, dict[str, str]]:
    """(kind, headers) of someone who may manage tenant acme."""
    if request.param == "api-key":
        owner = make.actor("acme", "keymaker@acme.test", "owner")
        return request.param, manager_with_all_scopes(client, owner)
    return request.param, make.actor("acme", f"{request.param}@acme.test", request.param).headers


def audit_count(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(AuditEvent))
        db.session.rollback()
        return int(count or 0)


def snapshot(client, actor: Actor, collection: str, object_id: str) -> dict[str, Any]:
    """What ``actor`` (an owner) sees of an object and its collection."""
    state = {}
    for url, query in ((f"{collection}/{object_id}", None), (collection, {"page_size": 100})):
        response = client.get(url, query_string=query, headers=actor.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        state[url] = response.get_json()
    return state


# --- another tenant's ids, at every by-id route --------------------------------------------


def by_id_cases() -> list[Any]:
    cases = []
    for route in routes.id_routes():
        bodies = BODIES.get((route.id_arg or "", route.method, tail_of(route.rule)), [MISSING])
        for index, body in enumerate(bodies):
            suffix = f"-{index}" if len(bodies) > 1 else ""
            cases.append(pytest.param(route, body, id=f"{route.method}-{route.openapi_path}{suffix}"))
    return cases


@pytest.mark.parametrize(("route", "body"), by_id_cases())
def test_another_tenants_object_is_404_and_left_unchanged(
    app, client, make: Factory, acme_manager, other_owner: Actor, route: routes.Route, body: Any
):
    kind = KINDS.get(route.id_arg or "")
    if kind is None or body is MISSING:
        pytest.fail(f"{route}: no object factory or bodies in tests/attacks/objects.py for this by-id endpoint")
    _, headers = acme_manager
    target: Made = kind.make(client, make, other_owner, "globex-secret")
    assert kind.works(client, target)
    before = snapshot(client, other_owner, kind.collection, target.id)
    events_before = audit_count(app)
    payload = {} if body is NO_BODY else {"json": body}

    response = client.open(route.path(target.id), method=route.method, headers=headers, **payload)
    missing = client.open(route.path(unknown_id_like(target.id)), method=route.method, headers=headers, **payload)

    # Every caller, API keys too: an id of another tenant looks exactly like no such id.
    assert response.get_json() == assert_error(missing, 404)  # indistinguishable from "no such id"
    assert_error(response, 404)
    text = response.get_data(as_text=True)
    for secret in (target.id, other_owner.tenant_id, other_owner.email, *target.names):
        assert secret not in text, f"{secret!r} leaked into {text}"
    assert snapshot(client, other_owner, kind.collection, target.id) == before
    assert audit_count(app) == events_before
    assert kind.works(client, target), "the other tenant's object stopped working"


def test_every_by_id_route_has_an_object_factory():
    """The url_map and ``objects.py`` agree (the table above fails case by case as well)."""
    routes_seen = {(r.id_arg, r.method, tail_of(r.rule)) for r in routes.id_routes()}
    assert routes_seen, "the url_map has no by-id routes: routes.py reads it wrong"
    assert {arg for arg, _, _ in routes_seen} <= set(KINDS)
    assert routes_seen <= set(BODIES), {"untested": routes_seen - set(BODIES)}


# --- every list shows only the caller's tenant ------------------------------------------------


@pytest.mark.parametrize("route", routes.list_routes(), ids=str)
def test_lists_show_only_the_callers_tenant(client, make: Factory, acme_manager, other_owner: Actor, route):
    _, headers = acme_manager
    theirs = [kind.make(client, make, other_owner, f"globex-{arg[:-3]}") for arg, kind in KINDS.items()]
    revoked = KINDS["key_id"].make(client, make, other_owner, "globex-revoked")
    assert client.delete(f"/api/auth/api-keys/{revoked.id}", headers=other_owner.headers).status_code == 204
    theirs.append(revoked)

    query = {"page_size": 100, **LIST_QUERIES.get(route.rule, {})}
    response = client.get(route.path(), query_string=query, headers=headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert isinstance(response.get_json(), list)
    text = response.get_data(as_text=True)
    for secret in (other_owner.tenant_id, other_owner.user_id, other_owner.email):
        assert secret not in text
    for made in theirs:
        assert made.id not in text and not any(name in text for name in made.names)


@pytest.mark.parametrize("field", ["actor", "type"])
def test_audit_filters_naming_another_tenants_values_find_nothing(client, owner: Actor, other_owner: Actor, field):
    """(The api-keys ``project_id`` filter: tests/api/test_api_keys_isolation_and_input.py.)"""
    value = {"actor": other_owner.user_id, "type": "login.succeeded"}[field]

    response = client.get(AUDIT, query_string={field: value, "page_size": 100}, headers=owner.headers)

    assert response.status_code == 200
    assert all(event["tenant_id"] == owner.tenant_id for event in response.get_json())
    assert other_owner.user_id not in response.get_data(as_text=True)


def test_a_user_of_another_tenant_cannot_log_in_to_this_one(client, owner: Actor, other_owner: Actor):
    response = client.post(
        "/api/auth/login", json={"email": other_owner.email, "password": PASSWORD, "tenant": owner.tenant_slug}
    )

    assert response.status_code in (401, 403), response.get_data(as_text=True)
    assert "access_token" not in (response.get_json() or {})


# --- members ----------------------------------------------------------------------------


def acme_snapshot(client, actor: Actor) -> dict[str, object]:
    """Everything ``actor`` (an owner) can see of their tenant."""
    state = {}
    for url in (PROJECTS, USERS, TENANT):
        response = client.get(url, query_string={"page_size": 100} if url != TENANT else None, headers=actor.headers)
        assert response.status_code == 200
        state[url] = response.get_json()
    return state


@pytest.fixture
def acme_ids(client, owner, member, make: Factory) -> dict[str, str]:
    project = client.post(PROJECTS, json={"name": "Web", "slug": "web"}, headers=owner.headers)
    assert project.status_code == 201
    return {
        "project": project.get_json()["id"],
        "user": make.user("acme", "other@acme.test", "member"),
        "self": member.user_id,
    }


MEMBER_CASES = [
    pytest.param("GET", PROJECTS, None, id="projects-list"),
    pytest.param("POST", PROJECTS, {"name": "Mine", "slug": "mine"}, id="projects-create"),
    pytest.param("GET", PROJECTS + "/{project}", None, id="projects-get"),
    pytest.param("PATCH", PROJECTS + "/{project}", {"name": "Hijacked"}, id="projects-patch"),
    pytest.param("DELETE", PROJECTS + "/{project}", None, id="projects-delete"),
    pytest.param("GET", USERS, None, id="users-list"),
    pytest.param("POST", USERS, {"email": "new@acme.test", "password": PASSWORD}, id="users-create"),
    pytest.param("GET", USERS + "/{user}", None, id="users-get"),
    pytest.param("PATCH", USERS + "/{user}", {"role": "admin"}, id="users-patch"),
    pytest.param("DELETE", USERS + "/{user}", None, id="users-delete"),
    pytest.param("GET", USERS + "/{self}", None, id="users-get-self"),
    pytest.param("PATCH", USERS + "/{self}", {"role": "owner"}, id="users-promote-self"),
    pytest.param("GET", TENANT, None, id="tenant-get"),
]


@pytest.mark.parametrize(("method", "path", "body"), MEMBER_CASES)
def test_member_gets_403_everywhere(client, owner, member, acme_ids, method, path, body):
    before = acme_snapshot(client, owner)

    response = client.open(path.format(**acme_ids), method=method, json=body, headers=member.headers)

    assert "missing scope" in assert_error(response, 403)["message"]
    assert acme_snapshot(client, owner) == before
