"""The console's Users page (SPEC §12) in Chromium: list, add with an initial password,
change role (the API's rules on owners), deactivate and reactivate, unlock after a lockout,
the API's messages, tenant isolation, members kept out, CSRF, axe, 360 px."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.console.people import api, bearer, check_page, error_summary, flash, post_without_csrf, rest_login, tab_to
from tests.console.steps import open_console as opened
from tests.factories import Factory
from tests.oidc.live import Live, serve

OWNER = "owner@acme.test"
ADMIN = "admin@acme.test"
USERS = "/api/auth/users"
NEW_PASSWORD = "a fresh initial password"


@pytest.fixture
def owner(make: Factory) -> dict[str, str]:
    """An owner of acme; the headers of a REST token of theirs."""
    make.user("acme", OWNER, "owner")
    return bearer(make, OWNER)


def row(page: Any, user_id: str) -> Any:
    return page.locator(f'[data-testid=user-row][data-user-id="{user_id}"]')


def roles(live: Live, headers: dict[str, str]) -> dict[str, tuple[str, bool]]:
    return {u["email"]: (u["role"], u["is_active"]) for u in api(live, "GET", USERS, headers).json()}


def test_the_list_shows_role_status_and_last_sign_in(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    ann = make.user("acme", "ann@acme.test", "member")
    open_console(page, OWNER, "/console/users")
    me = page.locator('[data-testid=user-row]:has-text("(you)")')
    assert me.locator('[data-label="Role"]').inner_text().endswith("Owner")
    assert me.locator('[data-label="Status"]').inner_text().lower().endswith("active")
    assert me.locator('[data-label="Last sign-in"] time').count() == 1  # the owner signed in just now
    assert me.get_by_role("link", name="Deactivate").count() == 0  # nobody deactivates themselves
    assert row(page, ann).locator('[data-label="Last sign-in"]').inner_text().endswith("not known")
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Users"
    check_page(page)


def test_a_user_added_with_the_keyboard_can_sign_in(
    page: Any, live: Live, open_console: Any, owner: dict[str, str]
) -> None:
    open_console(page, OWNER, "/console/users")
    tab_to(page, "Add user")
    page.keyboard.press("Enter")
    page.wait_for_url(live.base + "/console/users/new")
    check_page(page)
    tab_to(page, "Email address")
    page.keyboard.type("New.Person@Acme.test")
    tab_to(page, "Role")
    page.keyboard.press("ArrowDown")  # member → admin
    tab_to(page, "Initial password")
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Enter")

    page.wait_for_url(live.base + "/console/users")
    assert "new.person@acme.test was added as an admin" in flash(page)
    assert roles(live, owner)["new.person@acme.test"] == ("admin", True)
    assert rest_login(live, "new.person@acme.test", NEW_PASSWORD).status_code == 200


def test_the_new_user_form_shows_the_apis_messages(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    make.user("acme", "taken@acme.test", "member")
    open_console(page, OWNER, "/console/users/new")
    page.get_by_label("Email address").fill("not an email")
    page.get_by_label("Initial password").fill("short")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Add user").click()
    assert answered.value.status == 422
    summary = error_summary(page)
    assert "Not a valid email address." in summary
    assert "Length must be between 8 and 72." in summary
    assert page.get_by_label("Initial password").input_value() == ""  # a password is never sent back
    check_page(page)

    page.get_by_label("Email address").fill("TAKEN@acme.test")
    page.get_by_label("Initial password").fill(NEW_PASSWORD)
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Add user").click()
    assert answered.value.status == 409
    assert "This user is a member of the tenant already" in error_summary(page)
    assert page.get_by_label("Email address").get_attribute("aria-invalid") == "true"
    check_page(page)
    assert len(roles(live, owner)) == 2


def test_adding_another_organisations_user_leaves_their_password_alone(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    make.user("globex", "gus@globex.test", "member")
    open_console(page, OWNER, "/console/users/new")
    page.get_by_label("Email address").fill("gus@globex.test")
    page.get_by_label("Initial password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Add user").click()

    page.wait_for_url(live.base + "/console/users")
    assert "gus@globex.test was added as a member" in flash(page)
    assert rest_login(live, "gus@globex.test").status_code == 200  # their own password, now in acme too
    assert rest_login(live, "gus@globex.test", NEW_PASSWORD).status_code == 401


def test_an_owner_changes_a_role_and_it_counts(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    ann = make.user("acme", "ann@acme.test", "member")
    open_console(page, OWNER, "/console/users")
    row(page, ann).get_by_role("link", name="Change the role of ann@acme.test").click()
    assert page.get_by_label("Role").input_value() == "member"
    check_page(page)
    page.get_by_label("Role").select_option("owner")
    page.get_by_role("button", name="Save role").click()

    page.wait_for_url(live.base + "/console/users")
    assert "ann@acme.test is now an owner (was a member)" in flash(page)
    assert roles(live, owner)["ann@acme.test"] == ("owner", True)
    me = api(live, "GET", "/api/auth/me", bearer(make, "ann@acme.test")).json()
    assert "owner" in me["roles"]


def test_an_admin_cannot_make_an_owner_nor_change_one(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    make.user("acme", ADMIN, "admin")
    ann = make.user("acme", "ann@acme.test", "member")
    boss = make.user("acme", "boss@acme.test", "owner")
    open_console(page, ADMIN, f"/console/users/{ann}/role")
    page.get_by_label("Role").select_option("owner")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Save role").click()
    assert answered.value.status == 403
    assert "Only an owner can grant the owner role" in error_summary(page)
    check_page(page)

    page.goto(live.base + f"/console/users/{boss}/role")
    page.get_by_label("Role").select_option("member")
    page.get_by_role("button", name="Save role").click()
    assert "Only an owner can change an owner or grant the owner role" in error_summary(page)
    assert roles(live, owner)["ann@acme.test"] == ("member", True)
    assert roles(live, owner)["boss@acme.test"] == ("owner", True)


def test_the_last_owner_stays_an_owner(page: Any, live: Live, open_console: Any, owner: dict[str, str]) -> None:
    open_console(page, OWNER, "/console/users")
    page.get_by_role("link", name=f"Change the role of {OWNER}").click()
    page.get_by_label("Role").select_option("admin")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Save role").click()
    assert answered.value.status == 409
    assert "The tenant must keep at least one active owner" in error_summary(page)
    assert roles(live, owner)[OWNER] == ("owner", True)


def test_a_deactivated_user_cannot_log_in_until_reactivated(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    ann = make.user("acme", "ann@acme.test", "member")
    anns = bearer(make, "ann@acme.test")
    open_console(page, OWNER, "/console/users")
    row(page, ann).get_by_role("link", name="Deactivate ann@acme.test").click()
    page.get_by_role("heading", name="Deactivate ann@acme.test?").wait_for()  # the confirmation page, once loaded
    check_page(page)
    assert rest_login(live, "ann@acme.test").status_code == 200  # nothing happened on GET
    page.get_by_role("button", name="Deactivate user").click()

    page.wait_for_url(live.base + "/console/users")
    assert "ann@acme.test was deactivated" in flash(page)
    assert row(page, ann).get_attribute("data-status") == "deactivated"
    assert rest_login(live, "ann@acme.test").status_code == 403
    assert api(live, "GET", "/api/auth/me", anns).status_code == 401  # what she signed in with stops too
    assert roles(live, owner)["ann@acme.test"] == ("member", False)
    check_page(page)

    row(page, ann).get_by_role("button", name="Reactivate ann@acme.test").click()
    page.wait_for_url(live.base + "/console/users")
    assert "ann@acme.test was reactivated" in flash(page)
    assert rest_login(live, "ann@acme.test").status_code == 200


@pytest.fixture
def strict(make_app: Callable[..., Flask], site: Any) -> Iterator[Live]:
    """The service with a lockout after 3 failed logins from one address."""
    with serve(make_app, site.base, lockout_threshold=3) as server:
        yield server


def test_a_locked_out_user_is_unlocked(page: Any, strict: Live) -> None:
    make = Factory(strict.app)
    make.user("acme", OWNER, "owner")
    ann = make.user("acme", "ann@acme.test", "member")
    for _ in range(3):
        assert rest_login(strict, "ann@acme.test", "wrong password").status_code == 401
    assert rest_login(strict, "ann@acme.test").status_code == 429  # locked: even the right password
    opened(page, strict, OWNER, "/console/users")
    assert row(page, ann).get_attribute("data-status") == "locked"
    check_page(page)

    row(page, ann).get_by_role("button", name="Unlock ann@acme.test").click()
    page.wait_for_url(strict.base + "/console/users")
    assert "ann@acme.test was unlocked" in flash(page)
    assert row(page, ann).get_attribute("data-status") == "active"
    assert row(page, ann).get_by_role("button", name="Unlock ann@acme.test").count() == 0
    assert rest_login(strict, "ann@acme.test").status_code == 200


def test_another_tenants_user_is_the_404_page(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    gus = make.user("globex", "gus@globex.test", "member")
    open_console(page, OWNER, "/console/users")
    for path in (f"/console/users/{gus}/role", f"/console/users/{gus}/deactivate"):
        answered = page.goto(live.base + path)
        assert answered.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
    check_page(page)
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for action in ("deactivate", "reactivate", "unlock", "role"):
        answered = page.request.post(
            live.base + f"/console/users/{gus}/{action}", form={"csrf_token": token, "role": "owner"}
        )
        assert answered.status == 404, action
    globex = bearer(make, "gus@globex.test", "globex")
    assert api(live, "GET", "/api/auth/me", globex).json()["roles"] == ["member"]


def test_a_member_gets_the_403_page(page: Any, live: Live, open_console: Any, make: Factory) -> None:
    ann = make.user("acme", "ann@acme.test", "member")
    open_console(page, "ann@acme.test", "/console/account")
    assert page.get_by_role("link", name="Users").count() == 0
    for path in ("/console/users", "/console/users/new", f"/console/users/{ann}/role"):
        answered = page.goto(live.base + path)
        assert answered.status == 403
        assert page.get_by_role("heading", name="Only owners and admins can open this page").is_visible()


def test_posts_without_the_csrf_token_change_nothing(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    ann = make.user("acme", "ann@acme.test", "member")
    bob = make.user("acme", "bob@acme.test", "member")
    open_console(page, OWNER, f"/console/users/{bob}/deactivate")
    page.get_by_role("button", name="Deactivate user").click()
    before = roles(live, owner)

    answers = [
        post_without_csrf(page, live, "/console/users/new", {"email": "x@acme.test", "password": NEW_PASSWORD}),
        post_without_csrf(page, live, f"/console/users/{ann}/role", {"role": "owner"}),
        post_without_csrf(page, live, f"/console/users/{ann}/deactivate"),
        post_without_csrf(page, live, f"/console/users/{bob}/reactivate"),
        post_without_csrf(page, live, f"/console/users/{ann}/unlock"),
    ]

    assert [a.status_code for a in answers] == [400] * 5
    assert all("This form has expired" in a.text for a in answers)
    assert roles(live, owner) == before
    assert before["bob@acme.test"] == ("member", False)


def test_a_deactivation_the_api_refuses_is_said_on_the_confirmation(
    page: Any, live: Live, open_console: Any, owner: dict[str, str], make: Factory
) -> None:
    make.user("acme", ADMIN, "admin")
    boss = make.user("acme", "boss@acme.test", "owner")
    open_console(page, ADMIN, f"/console/users/{boss}/deactivate")
    with page.expect_response(lambda r: r.request.method == "POST") as answered:
        page.get_by_role("button", name="Deactivate user").click()
    assert answered.value.status == 403
    assert "Only an owner can change an owner" in error_summary(page)
    check_page(page)
    assert roles(live, owner)["boss@acme.test"] == ("owner", True)
