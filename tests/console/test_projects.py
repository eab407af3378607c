"""The console's Projects page (SPEC §12) in Chromium: list, create, rename, delete (its
keys revoked), the API's messages, tenant isolation, members kept out, CSRF, axe, 360 px."""

from __future__ import annotations

from typing import Any

import pytest

from outter_auth.extensions import db
from outter_auth.services import tenancy
from outter_auth.services.ceilings import Caller
from tests.console.people import (
    api,
    bearer,
    check_page,
    error_summary,
    flash,
    post_without_csrf,
    tab_to,
)
from tests.factories import Factory
from tests.oidc.live import Live

OWNER = "owner@acme.test"
PROJECTS = "/api/auth/projects"


@pytest.fixture
def owner(make: Factory) -> dict[str, str]:
    """An owner of acme; the headers of a REST token of theirs."""
    make.user("acme", OWNER, "owner")
    return bearer(make, OWNER)


def project(make: Factory, name: str, slug: str, tenant: str = "acme") -> str:
    with make.app.app_context():
        return tenancy.create_project(db.session, Caller(make.tenant(tenant).id, "cli"), name, slug).id


def row(page: Any, project_id: str) -> Any:
    return page.locator(f'[data-testid=project-row][data-project-id="{project_id}"]')


def key_in(live: Live, headers: dict[str, str], project_id: str) -> str:
    made = api(
        live, "POST", "/api/auth/api-keys", headers, json={"name": "deploys", "scopes": [], "project_id": project_id}
    )
    assert made.status_code == 201, made.text
    return str(made.json()["key"])


def verify(live: Live, key: str) -> Any:
    return api(live, "POST", "/api/auth/api-keys/verify", {"X-API-Key": key})


def test_no_projects_yet_says_what_to_do(page: Any, open_console: Any, owner: dict[str, str]) -> None:
    open_console(page, OWNER, "/console/projects")
    assert page.get_by_role("heading", name="No projects yet").is_visible()
    assert page.get_by_role("link", name="Create the first project").is_visible()
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Projects"
    check_page(page)


def test_a_project_is_created_with_the_keyboard_alone(
    page: Any, live: Live, open_console: Any, owner: dict[str, str]
) -> None:
    open_console(page, OWNER, "/console/projects")
    tab_to(page, "New project")
    page.keyboard.press("Enter")
    page.wait_for_url(live.base + "/console/projects/new")
    check_page(page)
    tab_to(page, "Name")
    page.keyboard.type("Mobile app")
    tab_to(page, "Create project")
    page.keyboard.press("Enter")

    page.wait_for_url(live.base + "/console/projects")
    assert "Project Mobile app was created (slug mobile-app)" in flash(page)
    listed = api(live, "GET", PROJECTS, owner).json()
    assert [(p["name"], p["slug"]) for p in listed] == [("Mobile app", "mobile-app")]
    assert row(page, listed[0]["id"]).locator("code").inner_text() == "mobile-app"
    check_page(page)


def test_the_form_shows_the_apis_messages(page: Any, live: Live, open_console: Any, owner: dict[str, str]) -> None:
    project(Factory(live.app), "Web", "web")
    open_console(page, OWNER, "/console/projects/new")

    page.get_by_role("button", name="Create project").click()
    assert "Enter a name for the project." in error_summary(page)
    page.get_by_label("Name").fill("Web two")
    page.get_by_label("Slug").fill("-Web-")
    page.get_by_role("button", name="Create project").click()
    assert "1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'" in error_summary(page)
    assert page.get_by_label("Slug").get_attribute("aria-invalid") == "true"
    check_page(page)

    page.get_by_label("Slug").fill("web")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Create project").click()
    assert answered.value.status == 409
    assert "A project with slug 'web' exists already" in error_summary(page)
    assert page.get_by_label("Name").input_value() == "Web two"  # what was typed stays
    check_page(page)
    assert [p["slug"] for p in api(live, "GET", PROJECTS, owner).json()] == ["web"]


def test_a_project_is_renamed(page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory) -> None:
    project_id = project(make, "Web", "web")
    open_console(page, OWNER, "/console/projects")
    page.get_by_role("link", name="Rename Web").click()
    assert page.get_by_label("Name").input_value() == "Web"
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Projects"
    check_page(page)
    page.get_by_label("Name").fill("Website")
    page.get_by_label("Slug").fill("website")
    page.get_by_role("button", name="Save project").click()

    page.wait_for_url(live.base + "/console/projects")
    assert "Project Web is now Website (slug website)" in flash(page)
    got = api(live, "GET", f"{PROJECTS}/{project_id}", owner).json()
    assert (got["name"], got["slug"]) == ("Website", "website")


def test_deleting_a_project_says_its_keys_will_be_revoked_and_revokes_them(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    project_id = project(make, "Web", "web")
    keys = [key_in(live, owner, project_id) for _ in range(2)]
    open_console(page, OWNER, "/console/projects")
    assert row(page, project_id).locator('[data-label="Live API keys"]').inner_text().endswith("2")

    row(page, project_id).get_by_role("link", name="Delete Web").click()
    page.get_by_role("heading", name="Delete project Web?").wait_for()  # the confirmation page, once loaded
    assert "Its 2 live API keys will be revoked at once" in page.locator("main").inner_text()
    check_page(page)
    assert [verify(live, key).status_code for key in keys] == [200, 200]  # nothing happened on GET
    page.get_by_role("button", name="Delete project and revoke keys").click()

    page.wait_for_url(live.base + "/console/projects")
    assert "Project Web was deleted. Its 2 live API keys were revoked." in flash(page)
    assert row(page, project_id).count() == 0
    assert api(live, "GET", f"{PROJECTS}/{project_id}", owner).status_code == 404
    for key in keys:
        refused = verify(live, key)
        assert (refused.status_code, refused.json()["code"]) == (401, "revoked")


def test_a_key_made_after_the_confirmation_was_shown_meets_the_apis_409(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    project_id = project(make, "Web", "web")
    open_console(page, OWNER, f"/console/projects/{project_id}/delete")
    assert "holds no live API keys" in page.locator("main").inner_text()
    key = key_in(live, owner, project_id)

    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Delete project").click()
    assert answered.value.status == 409
    assert "The project has 1 live API key(s): revoke them first" in error_summary(page)
    assert "Its 1 live API key will be revoked" in page.locator("main").inner_text()  # the page now says so
    check_page(page)
    assert verify(live, key).status_code == 200
    assert api(live, "GET", f"{PROJECTS}/{project_id}", owner).status_code == 200


def test_another_tenants_project_is_the_404_page(
    page: Any, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    theirs = project(make, "Theirs", "theirs", tenant="globex")
    open_console(page, OWNER, "/console/projects")
    for path in (
        f"/console/projects/{theirs}/edit",
        f"/console/projects/{theirs}/delete",
        "/console/projects/nope/edit",
    ):
        answered = page.goto(page.url.split("/console")[0] + path)
        assert answered.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
    check_page(page)
    answered = page.request.post(page.url.split("/console")[0] + f"/console/projects/{theirs}/delete")
    assert answered.status == 404
    with make.app.app_context():
        assert tenancy.get_project(db.session, Caller(make.tenant("globex").id, "cli"), theirs).deleted_at is None


def test_a_member_gets_the_403_page(page: Any, live: Live, open_console: Any, make: Factory) -> None:
    make.user("acme", "member@acme.test", "member")
    project_id = project(make, "Web", "web")
    open_console(page, "member@acme.test", "/console/account")
    assert page.get_by_role("link", name="Projects").count() == 0
    for path in ("/console/projects", "/console/projects/new", f"/console/projects/{project_id}/delete"):
        answered = page.goto(live.base + path)
        assert answered.status == 403
        assert page.get_by_role("heading", name="Only owners and admins can open this page").is_visible()
    check_page(page)


def test_posts_without_the_csrf_token_change_nothing(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    project_id = project(make, "Web", "web")
    key = key_in(live, owner, project_id)
    open_console(page, OWNER, "/console/projects")

    created = post_without_csrf(page, live, "/console/projects/new", {"name": "Forged"})
    renamed = post_without_csrf(
        page, live, f"/console/projects/{project_id}/edit", {"name": "Forged", "slug": "forged"}
    )
    deleted = post_without_csrf(page, live, f"/console/projects/{project_id}/delete", {"revoke_keys": "yes"})

    assert [created.status_code, renamed.status_code, deleted.status_code] == [400, 400, 400]
    assert "This form has expired" in deleted.text
    assert [(p["name"], p["slug"]) for p in api(live, "GET", PROJECTS, owner).json()] == [("Web", "web")]
    assert verify(live, key).status_code == 200
