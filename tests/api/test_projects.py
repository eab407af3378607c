"""/api/auth/projects: CRUD of the caller's tenant's projects (SPEC §2, §3, §4)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from outter_auth import clock
from tests.assertions import MISSING_CREDENTIALS_CHALLENGE, assert_error
from tests.factories import Actor

URL = "/api/auth/projects"
PROJECT_FIELDS = {"id", "tenant_id", "slug", "name", "description", "created_at", "updated_at"}

# Omitting `slug` makes the view call `tenancy.create_project(..., name=..., description=...)`
# without its `slug` argument: a TypeError, answered 500.


def create(client, actor: Actor, **body) -> dict:
    response = client.post(URL, json=body, headers=actor.headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- create -----------------------------------------------------------------------------


def test_create_returns_the_project(client, owner):
    response = client.post(
        URL, json={"name": "Mobile App", "slug": "mobile", "description": "iOS and Android"}, headers=owner.headers
    )

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == PROJECT_FIELDS
    assert body["id"]
    assert body["tenant_id"] == owner.tenant_id
    assert (body["name"], body["slug"], body["description"]) == ("Mobile App", "mobile", "iOS and Android")
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_description_defaults_to_empty(client, owner):
    assert create(client, owner, name="Web", slug="web")["description"] == ""


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Mobile App", "mobile-app"),
        ("  Café Déjà Vu!! ", "cafe-deja-vu"),
        ("API v2.0", "api-v2-0"),
        ("UPPER_case", "upper-case"),
    ],
    ids=["spaces", "accents-and-punctuation", "dots", "case-and-underscore"],
)
def test_slug_is_derived_from_the_name(client, owner, name, slug):
    response = client.post(URL, json={"name": name}, headers=owner.headers)

    assert response.status_code == 201
    assert response.get_json()["slug"] == slug
    assert response.get_json()["name"] == name


def test_duplicate_slug_in_the_tenant_is_409(client, owner):
    first = create(client, owner, name="Web", slug="web")

    response = client.post(URL, json={"name": "Another web", "slug": "web"}, headers=owner.headers)

    assert "web" in assert_error(response, 409)["message"]
    listed = client.get(URL, headers=owner.headers).get_json()
    assert listed == [first]


def test_the_same_slug_is_free_in_another_tenant(client, owner, other_owner):
    ours = create(client, owner, name="Web", slug="web")

    theirs = create(client, other_owner, name="Web", slug="web")

    assert theirs["tenant_id"] == other_owner.tenant_id
    assert theirs["id"] != ours["id"]


# --- list -------------------------------------------------------------------------------


@pytest.fixture
def five_projects(client, owner) -> list[dict]:
    """Five projects created one second apart, so the list order is known."""
    clock.freeze(datetime.now(UTC))
    projects = []
    for n in range(5):
        projects.append(create(client, owner, name=f"Project {n}", slug=f"project-{n}"))
        clock.advance(1)
    return projects


@pytest.mark.parametrize(
    ("page", "ids", "pagination"),
    [
        (1, [0, 1], {"page": 1, "next_page": 2}),
        (2, [2, 3], {"page": 2, "previous_page": 1, "next_page": 3}),
        (3, [4], {"page": 3, "previous_page": 2}),
    ],
    ids=["first", "middle", "last"],
)
def test_list_is_paginated(client, owner, five_projects, page, ids, pagination):
    response = client.get(URL, query_string={"page": page, "page_size": 2}, headers=owner.headers)

    assert response.status_code == 200
    assert [p["id"] for p in response.get_json()] == [five_projects[i]["id"] for i in ids]
    assert json.loads(response.headers["X-Pagination"]) == {
        "total": 5,
        "total_pages": 3,
        "first_page": 1,
        "last_page": 3,
        **pagination,
    }


def test_list_defaults_to_the_first_page_of_ten(client, owner, five_projects):
    response = client.get(URL, headers=owner.headers)

    assert response.get_json() == five_projects
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_page_after_the_last_is_empty(client, owner, five_projects):
    response = client.get(URL, query_string={"page": 4, "page_size": 2}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json() == []
    assert json.loads(response.headers["X-Pagination"])["total"] == 5


def test_page_size_100_is_allowed(client, owner, five_projects):
    response = client.get(URL, query_string={"page_size": 100}, headers=owner.headers)
    assert response.status_code == 200
    assert len(response.get_json()) == 5


# --- get, patch, delete -----------------------------------------------------------------


def test_get_returns_the_project(client, owner):
    project = create(client, owner, name="Web", slug="web")

    response = client.get(f"{URL}/{project['id']}", headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json() == project


def test_get_unknown_id_is_404(client, owner):
    assert assert_error(client.get(f"{URL}/prj_nope", headers=owner.headers), 404)["message"] == "project not found"


def test_patch_changes_only_the_given_fields(client, owner):
    clock.freeze(datetime.now(UTC))
    project = create(client, owner, name="Web", slug="web", description="old")
    clock.advance(60)

    response = client.patch(f"{URL}/{project['id']}", json={"name": "Website"}, headers=owner.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body == {**project, "name": "Website", "updated_at": body["updated_at"]}
    updated = datetime.fromisoformat(body["updated_at"])
    assert updated - datetime.fromisoformat(project["updated_at"]) == timedelta(seconds=60)
    assert client.get(f"{URL}/{project['id']}", headers=owner.headers).get_json() == body


def test_patch_slug_and_description(client, owner):
    project = create(client, owner, name="Web", slug="web")

    body = client.patch(
        f"{URL}/{project['id']}", json={"slug": "www", "description": "the site"}, headers=owner.headers
    ).get_json()

    assert (body["slug"], body["description"], body["name"]) == ("www", "the site", "Web")


def test_patch_with_an_empty_object_changes_nothing(client, owner):
    project = create(client, owner, name="Web", slug="web")

    response = client.patch(f"{URL}/{project['id']}", json={}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json() == project


def test_patch_to_a_taken_slug_is_409(client, owner):
    create(client, owner, name="Web", slug="web")
    api = create(client, owner, name="API", slug="api")

    response = client.patch(f"{URL}/{api['id']}", json={"slug": "web"}, headers=owner.headers)

    assert_error(response, 409)
    assert client.get(f"{URL}/{api['id']}", headers=owner.headers).get_json()["slug"] == "api"


def test_patch_keeping_its_own_slug_is_not_a_conflict(client, owner):
    project = create(client, owner, name="Web", slug="web")
    response = client.patch(f"{URL}/{project['id']}", json={"slug": "web", "name": "W"}, headers=owner.headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["id"], body["slug"], body["name"]) == (project["id"], "web", "W")
    assert client.get(f"{URL}/{project['id']}", headers=owner.headers).get_json() == body


def test_delete_answers_204_and_the_project_is_gone(client, owner):
    project = create(client, owner, name="Web", slug="web")
    keep = create(client, owner, name="API", slug="api")
    path = f"{URL}/{project['id']}"

    response = client.delete(path, headers=owner.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert_error(client.get(path, headers=owner.headers), 404)
    assert_error(client.patch(path, json={"name": "x"}, headers=owner.headers), 404)
    assert_error(client.delete(path, headers=owner.headers), 404)
    assert client.get(URL, headers=owner.headers).get_json() == [keep]


def test_a_deleted_slug_can_be_reused(client, owner):
    project = create(client, owner, name="Web", slug="web")
    client.delete(f"{URL}/{project['id']}", headers=owner.headers)
    assert create(client, owner, name="Web again", slug="web")["id"] != project["id"]


# --- who may --------------------------------------------------------------------------


def test_admin_can_do_everything(client, admin):
    project = create(client, admin, name="Web", slug="web")
    path = f"{URL}/{project['id']}"

    assert client.get(URL, headers=admin.headers).get_json() == [project]
    assert client.get(path, headers=admin.headers).get_json() == project
    assert client.patch(path, json={"name": "Website"}, headers=admin.headers).get_json()["name"] == "Website"
    assert client.delete(path, headers=admin.headers).status_code == 204
    assert client.get(URL, headers=admin.headers).get_json() == []


ALL_OPERATIONS = [
    ("GET", URL, None),
    ("POST", URL, {"name": "Sneaky", "slug": "sneaky"}),
    ("GET", URL + "/{id}", None),
    ("PATCH", URL + "/{id}", {"name": "Hijacked"}),
    ("DELETE", URL + "/{id}", None),
]
OPERATION_IDS = ["list", "create", "get", "patch", "delete"]


@pytest.mark.parametrize(("method", "path", "body"), ALL_OPERATIONS, ids=OPERATION_IDS)
def test_member_gets_403(client, owner, member, method, path, body):
    project = create(client, owner, name="Web", slug="web")

    response = client.open(path.format(id=project["id"]), method=method, json=body, headers=member.headers)

    assert "projects:" in assert_error(response, 403)["message"]
    assert client.get(URL, headers=owner.headers).get_json() == [project]


@pytest.mark.parametrize(("method", "path", "body"), ALL_OPERATIONS, ids=OPERATION_IDS)
def test_no_credentials_is_401_with_a_challenge(client, owner, method, path, body):
    project = create(client, owner, name="Web", slug="web")

    response = client.open(path.format(id=project["id"]), method=method, json=body)

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == MISSING_CREDENTIALS_CHALLENGE
    assert client.get(URL, headers=owner.headers).get_json() == [project]


def test_description_may_span_lines(client, owner):
    body = {"name": "Docs", "description": "line one\nline two\n\tindented"}
    response = client.post("/api/auth/projects", json=body, headers=owner.headers)
    assert response.status_code == 201
    assert response.get_json()["description"] == body["description"]
