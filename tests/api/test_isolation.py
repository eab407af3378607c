"""Tenant isolation and role checks across every management endpoint.

Another tenant's objects must be indistinguishable from objects that do not exist
(404, never 403 or 200), and must be left exactly as they were. Members hold no
management scope, so every management endpoint refuses them with 403.
"""

from __future__ import annotations

import pytest

from tests.assertions import assert_error
from tests.factories import PASSWORD, Actor, Factory

PROJECTS = "/api/auth/projects"
USERS = "/api/auth/users"
TENANT = "/api/auth/tenant"


def snapshot(client, actor: Actor) -> dict[str, object]:
    """Everything ``actor`` (an owner) can see of their tenant."""
    state = {}
    for url in (PROJECTS, USERS, TENANT):
        response = client.get(url, query_string={"page_size": 100} if url != TENANT else None, headers=actor.headers)
        assert response.status_code == 200
        state[url] = response.get_json()
    return state


# --- another tenant's ids ---------------------------------------------------------------


@pytest.fixture
def globex_ids(client, other_owner, make: Factory) -> dict[str, str]:
    """A project and an admin of globex, the tenant acme must not reach."""
    project = client.post(PROJECTS, json={"name": "Secret", "slug": "secret"}, headers=other_owner.headers)
    assert project.status_code == 201
    admin_id = make.user("globex", "admin@globex.test", "admin")
    return {PROJECTS: project.get_json()["id"], USERS: admin_id}


@pytest.fixture(params=["owner", "admin"])
def acme_manager(request, make: Factory) -> Actor:
    role = request.param
    return make.actor("acme", f"{role}@acme.test", role)


BY_ID = [
    pytest.param(PROJECTS, "GET", None, id="projects-get"),
    pytest.param(PROJECTS, "PATCH", {"name": "Hijacked", "slug": "hijacked", "description": "x"}, id="projects-patch"),
    pytest.param(PROJECTS, "DELETE", None, id="projects-delete"),
    pytest.param(USERS, "GET", None, id="users-get"),
    pytest.param(USERS, "PATCH", {"role": "member"}, id="users-patch-role"),
    pytest.param(USERS, "PATCH", {"is_active": False}, id="users-patch-deactivate"),
    pytest.param(USERS, "DELETE", None, id="users-delete"),
]


@pytest.mark.parametrize(("collection", "method", "body"), BY_ID)
def test_another_tenants_id_is_404_and_left_unchanged(
    client, acme_manager, other_owner, globex_ids, collection, method, body
):
    before = snapshot(client, other_owner)

    response = client.open(
        f"{collection}/{globex_ids[collection]}", method=method, json=body, headers=acme_manager.headers
    )
    missing = client.open(f"{collection}/xyz_doesnotexist", method=method, json=body, headers=acme_manager.headers)

    assert_error(response, 404)
    assert response.get_json() == assert_error(missing, 404)  # indistinguishable from "no such id"
    assert snapshot(client, other_owner) == before
    login = client.post("/api/auth/login", json={"email": "admin@globex.test", "password": PASSWORD})
    assert login.status_code == 200


@pytest.mark.parametrize("collection", [PROJECTS, USERS])
def test_lists_show_only_the_callers_tenant(client, acme_manager, other_owner, globex_ids, collection):
    response = client.get(collection, headers=acme_manager.headers)

    assert response.status_code == 200
    ids = {item["id"] for item in response.get_json()}
    assert globex_ids[collection] not in ids
    assert other_owner.user_id not in ids


# --- members ----------------------------------------------------------------------------


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
    before = snapshot(client, owner)

    response = client.open(path.format(**acme_ids), method=method, json=body, headers=member.headers)

    assert "missing scope" in assert_error(response, 403)["message"]
    assert snapshot(client, owner) == before
