"""The console's API keys (SPEC §12, issue 12), in Chromium: create and see the key once, use
it at the gateway, rotate, revoke, filters, the no-escalation rule, tenant isolation, CSRF,
and the page rules (axe, 360 px, keyboard only)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from outter_auth import clock
from outter_auth.scopes import MANAGEMENT_SCOPES, ROLE_SCOPES
from tests.console.helpers import browser_session, fits_360, serious_violations
from tests.console.keys_steps import (
    add_usage,
    create_key,
    csrf_token,
    key_rows,
    make_key,
    stored_keys,
    verify,
)
from tests.console.steps import open_console as sign_in_to_console
from tests.factories import Factory
from tests.oidc.live import Live, serve

KEYS = "/console/api-keys"
CATALOGUE = ("content:read", "content:generate")


@pytest.fixture
def owner(make: Factory) -> str:
    make.user("acme", "owner@acme.test", "owner")
    return "owner@acme.test"


@pytest.fixture
def catalogued(make_app: Any, site: Any) -> Iterator[Live]:
    """The service with a scope catalogue (OUTTER_SCOPES): platform scopes are checkboxes."""
    with serve(make_app, site.base, scopes=CATALOGUE) as server:
        yield server


def test_a_new_key_is_shown_once_and_never_again(page: Any, live: Live, owner: str, open_console: Any) -> None:
    open_console(page, owner, KEYS + "/new")
    raw = create_key(page, "Billing service", ("api_keys:read", "users:read"))

    assert raw.startswith("outter_live_")
    assert page.get_by_text("This is the only time Outter shows this key").is_visible()
    page.get_by_role("link", name="I have stored it: back to API keys").click()
    page.wait_for_url(live.base + KEYS)
    assert len(key_rows(page)) == 1
    assert raw not in page.content()
    page.reload()
    assert raw not in page.content()
    [key_id] = key_rows(page)
    page.goto(live.base + f"{KEYS}/{key_id}")
    assert raw not in page.content()
    assert page.get_by_text(raw[:16] + "…" + raw[-4:]).is_visible()


def test_reloading_the_answer_that_showed_a_key_makes_no_second_key(
    page: Any, live: Live, owner: str, open_console: Any
) -> None:
    open_console(page, owner, KEYS + "/new")
    raw = create_key(page, "Billing service", ("api_keys:read",))
    page.reload()  # the browser sends the POST again
    assert raw not in page.content()
    assert page.locator(".alert--success").inner_text().startswith("That form was already sent")
    assert len(key_rows(page)) == 1


def test_the_new_key_works_at_the_gateway_with_its_scopes(page: Any, live: Live, owner: str, open_console: Any) -> None:
    open_console(page, owner, KEYS + "/new")
    raw = create_key(page, "Search", ("users:read",), other_scopes="content:read", environment="Test")

    answer = verify(live, raw)
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True
    assert answer.json()["environment"] == "test"
    assert sorted(answer.json()["scopes"]) == ["content:read", "users:read"]


def test_rotation_with_a_grace_keeps_the_old_key_working(page: Any, live: Live, owner: str, open_console: Any) -> None:
    key_id, old = make_key(live.app, "acme", "Worker")
    open_console(page, owner, KEYS)
    page.get_by_role("link", name="Rotate Worker").click()
    page.get_by_label("24 hours").check()
    page.get_by_role("button", name="Rotate key").click()
    new = page.get_by_test_id("new-secret").inner_text().strip()

    assert verify(live, new).status_code == 200
    assert verify(live, old).status_code == 200
    assert page.get_by_text("keeps working until").is_visible()


def test_rotation_without_grace_stops_the_old_key(page: Any, live: Live, owner: str, open_console: Any) -> None:
    key_id, old = make_key(live.app, "acme", "Worker")
    open_console(page, owner, f"{KEYS}/{key_id}/rotate")
    page.get_by_role("button", name="Rotate key").click()  # no grace is the default
    new = page.get_by_test_id("new-secret").inner_text().strip()

    assert verify(live, new).status_code == 200
    refused = verify(live, old)
    assert refused.status_code == 401
    assert refused.json()["code"] == "revoked"


def test_revoke_asks_first_then_the_gateway_refuses_the_key(
    page: Any, live: Live, owner: str, open_console: Any
) -> None:
    key_id, raw = make_key(live.app, "acme", "Legacy")
    open_console(page, owner, KEYS)
    page.get_by_role("link", name="Revoke Legacy").click()
    page.get_by_role("heading", name="Revoke key 'Legacy'?").wait_for()  # the confirmation page, once loaded
    assert verify(live, raw).status_code == 200  # the confirmation page changed nothing
    page.get_by_role("button", name="Revoke key").click()

    page.wait_for_url(live.base + KEYS)
    assert page.get_by_text("Key 'Legacy' revoked. Requests with it are refused from now on.").is_visible()
    assert key_rows(page) == {}
    refused = verify(live, raw)
    assert refused.status_code == 401
    assert refused.json() == {"valid": False, "code": "revoked"}


def test_filters_by_environment_project_and_status(page: Any, live: Live, owner: str, open_console: Any) -> None:
    from outter_auth.extensions import db
    from outter_auth.services import tenancy
    from outter_auth.services.ceilings import Caller

    with live.app.app_context():
        tenant = tenancy.find_tenant(db.session, "acme")
        project = tenancy.create_project(db.session, Caller(tenant.id, "cli"), "Mobile app").id
    live_key, _ = make_key(live.app, "acme", "Live one")
    test_key, _ = make_key(live.app, "acme", "Test one", environment="test", project_id=project)
    revoked, _ = make_key(live.app, "acme", "Gone")
    expiring, _ = make_key(live.app, "acme", "Short", expires_at=clock.now() + timedelta(seconds=1))
    open_console(page, owner, KEYS)
    assert set(key_rows(page)) == {live_key, test_key, revoked, expiring}
    page.goto(f"{live.base}{KEYS}/{revoked}/revoke")
    page.get_by_role("button", name="Revoke key").click()
    page.wait_for_url(live.base + KEYS)
    assert set(key_rows(page)) == {live_key, test_key, expiring}

    page.get_by_label("Environment").select_option("test")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "environment=test" in url)
    assert key_rows(page) == {test_key: "active"}
    page.goto(live.base + KEYS)
    page.get_by_label("Project").select_option(label="Mobile app")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: f"project={project}" in url)
    assert key_rows(page) == {test_key: "active"}
    page.goto(live.base + KEYS + "?status=revoked")
    assert key_rows(page) == {revoked: "revoked"}
    assert page.get_by_label("Status").input_value() == "revoked"
    page.goto(live.base + KEYS + "?status=all")
    assert len(key_rows(page)) == 4
    page.goto(live.base + KEYS + "?environment=test&status=revoked")
    assert page.get_by_role("heading", name="No keys match these filters").is_visible()


def test_the_list_is_paged(page: Any, live: Live, owner: str, open_console: Any) -> None:
    for i in range(52):
        make_key(live.app, "acme", f"Key {i:02d}")
    open_console(page, owner, KEYS)
    first = key_rows(page)
    assert len(first) == 50
    page.get_by_role("link", name="Next").click()
    page.wait_for_url(lambda url: "page=2" in url)
    second = key_rows(page)
    assert len(second) == 2 and not set(first) & set(second)


def test_another_tenants_key_is_not_found(page: Any, live: Live, owner: str, open_console: Any) -> None:
    theirs, raw = make_key(live.app, "globex", "Theirs")
    open_console(page, owner, KEYS)
    token = csrf_token(page.goto(live.base + KEYS + "/new") and page)
    for path in (f"{KEYS}/{theirs}", f"{KEYS}/{theirs}/rotate", f"{KEYS}/{theirs}/revoke"):
        answer = page.goto(live.base + path)
        assert answer.status == 404, path
        assert page.get_by_role("heading", name="Not found").is_visible()
    session = browser_session(page)
    for path in (f"{KEYS}/{theirs}/revoke", f"{KEYS}/{theirs}/rotate", f"{KEYS}/{theirs}"):
        answer = session.post(live.base + path, data={"csrf_token": token, "name": "mine now"}, timeout=10)
        assert answer.status_code == 404, path
    assert verify(live, raw).status_code == 200
    assert stored_keys(live.app, "globex")[0].name == "Theirs"


def test_a_member_cannot_open_the_api_keys(page: Any, live: Live, make: Factory, open_console: Any) -> None:
    make.user("acme", "member@acme.test", "member")
    open_console(page, "member@acme.test", "/console/account")
    for path in (KEYS, KEYS + "/new"):
        answer = page.goto(live.base + path)
        assert answer.status == 403
        assert page.get_by_role("heading", name="Only owners and admins can open this page").is_visible()
    assert page.get_by_role("link", name="API keys").count() == 0


def test_posts_without_the_csrf_token_change_nothing(page: Any, live: Live, owner: str, open_console: Any) -> None:
    key_id, raw = make_key(live.app, "acme", "Kept")
    open_console(page, owner, KEYS)
    session = browser_session(page)
    posts = {
        f"{KEYS}/new": {"name": "Sneaky", "environment": "live", "scopes": "api_keys:write", "expiry": "never"},
        f"{KEYS}/{key_id}": {"name": "Renamed", "rate_window": "60"},
        f"{KEYS}/{key_id}/rotate": {"grace": "0"},
        f"{KEYS}/{key_id}/revoke": {},
    }
    for path, body in posts.items():
        answer = session.post(live.base + path, data=body, timeout=10)
        assert answer.status_code == 400, path
        assert "This form has expired" in answer.text
    [kept] = stored_keys(live.app, "acme")
    assert (kept.id, kept.name, kept.revoked_at) == (key_id, "Kept", None)
    assert verify(live, raw).status_code == 200


def test_scopes_beyond_the_admins_ceiling_are_refused_with_the_apis_message(
    page: Any, live: Live, make: Factory, open_console: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Owners and admins hold every management scope (SPEC §3); narrow the admin role so that
    # the admin's ceiling lies below the catalogue, as a narrower role would.
    monkeypatch.setitem(ROLE_SCOPES, "admin", frozenset(MANAGEMENT_SCOPES) - {"clients:write"})
    admin = make.actor("acme", "admin@acme.test", "admin")
    open_console(page, admin.email, KEYS + "/new")
    assert page.get_by_label("clients:write").count() == 0  # not offered
    body = {
        "csrf_token": csrf_token(page),
        "name": "Escalating",
        "environment": "live",
        "scopes": ["api_keys:read", "clients:write"],
        "expiry": "never",
        "rate_window": "60",
    }

    answer = browser_session(page).post(live.base + KEYS + "/new", data=body, timeout=10)
    api = requests.post(
        live.base + "/api/auth/api-keys",
        json={"name": "Escalating", "scopes": ["api_keys:read", "clients:write"]},
        headers=admin.headers,
        timeout=10,
    )

    assert api.status_code == answer.status_code == 403
    message = api.json()["message"]
    assert message == "cannot grant scopes the caller does not hold: clients:write"
    assert message.capitalize() in answer.text
    assert 'data-testid="new-secret"' not in answer.text
    assert stored_keys(live.app, "acme") == []


def test_a_scope_outside_the_catalogue_is_refused_with_the_apis_message(
    page: Any, catalogued: Live, make: Factory
) -> None:
    Factory(catalogued.app).user("acme", "owner@acme.test", "owner")
    sign_in_to_console(page, catalogued, "owner@acme.test", KEYS + "/new")
    assert page.get_by_label("content:generate").count() == 1  # the catalogue's scopes are checkboxes
    assert page.get_by_label("Other scopes").count() == 0
    body = {"csrf_token": csrf_token(page), "name": "X", "environment": "live", "scopes": "billing:write"}
    answer = browser_session(page).post(catalogued.base + KEYS + "/new", data={**body, "expiry": "never"}, timeout=10)

    assert answer.status_code == 422
    assert "Unknown scope &#39;billing:write&#39;: not in OUTTER_SCOPES" in answer.text
    assert stored_keys(catalogued.app, "acme") == []


def test_a_form_with_errors_says_what_to_fix(page: Any, live: Live, owner: str, open_console: Any) -> None:
    open_console(page, owner, KEYS + "/new")
    page.get_by_label("Expires").select_option("date")
    page.get_by_role("button", name="Create key").click()

    summary = page.get_by_role("alert")
    assert "Enter a name for the key" in summary.inner_text()
    assert "Enter the date the key stops working" in summary.inner_text()
    assert page.title().startswith("Error:")
    assert stored_keys(live.app, "acme") == []


def test_the_key_page_shows_usage_and_saves_a_change(page: Any, live: Live, owner: str, open_console: Any) -> None:
    key_id, raw = make_key(live.app, "acme", "Indexer", scopes=["api_keys:read", "users:read"])
    today = clock.now().date()
    add_usage(live.app, key_id, {today: (1000, 34), today - timedelta(days=3): (200, 0)})
    open_console(page, owner, f"{KEYS}/{key_id}")

    summary = page.get_by_test_id("usage-summary").inner_text()
    assert summary.startswith("1,234 requests in the last 30 days: 1,200 let in, 34 refused.")
    assert f"Busiest day: {today:%d %B %Y}" in summary
    assert page.locator("svg.usage__chart rect").count() == 3  # two days let in, one with refusals

    page.get_by_label("Name", exact=True).fill("Search indexer")
    page.get_by_label("users:read").uncheck()
    page.get_by_role("spinbutton", name="Requests").fill("100")
    page.get_by_label("In each").select_option("minute")
    page.get_by_role("button", name="Save changes").click()

    assert page.get_by_text("Key 'Search indexer' saved.").is_visible()
    [key] = stored_keys(live.app, "acme")
    assert (key.name, key.scopes, key.rate_limit.as_dict()) == (
        "Search indexer",
        ["api_keys:read"],
        {"limit": 100, "window_seconds": 60},
    )
    assert verify(live, raw).headers["X-RateLimit-Limit"] == "100"


def test_create_a_key_with_the_keyboard_only(page: Any, live: Live, owner: str, open_console: Any) -> None:
    open_console(page, owner, KEYS)
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Create an API key":
            break
    page.keyboard.press("Enter")
    page.wait_for_url(live.base + KEYS + "/new")
    for _ in range(20):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "name":
            break
    page.keyboard.type("Typed by keyboard")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.value") == "api_keys:read":
            break
    page.keyboard.press("Space")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Create key":
            break
    page.keyboard.press("Enter")

    raw = page.get_by_test_id("new-secret").inner_text().strip()
    assert verify(live, raw).json()["scopes"] == ["api_keys:read"]


def test_the_pages_have_no_serious_accessibility_violation(
    page: Any, live: Live, owner: str, open_console: Any
) -> None:
    csp_errors: list[str] = []
    page.on("console", lambda m: csp_errors.append(m.text) if "Content Security Policy" in m.text else None)
    key_id, _ = make_key(live.app, "acme", "Seen", rate_limit=None)
    add_usage(live.app, key_id, {clock.now().date(): (5, 1)})
    open_console(page, owner, KEYS)
    checked = {}

    def check(name: str) -> None:
        checked[name] = serious_violations(page)

    check("list")
    page.goto(live.base + KEYS + "?environment=test")
    check("empty filtered list")
    page.goto(live.base + KEYS + "/new")
    check("create form")
    page.get_by_role("button", name="Create key").click()
    check("form with errors")
    create_key(page, "Second")
    check("new key")
    page.goto(f"{live.base}{KEYS}/{key_id}")
    page.get_by_text("Show the numbers per day").click()
    check("detail")
    page.goto(f"{live.base}{KEYS}/{key_id}/rotate")
    check("rotate confirmation")
    page.get_by_role("button", name="Rotate key").click()
    check("rotated key")
    page.goto(f"{live.base}{KEYS}/{key_id}/revoke")
    check("revoke confirmation")

    assert {name: found for name, found in checked.items() if found} == {}
    assert csp_errors == []


def test_the_empty_list_says_what_to_do_and_is_accessible(page: Any, live: Live, owner: str, open_console: Any) -> None:
    open_console(page, owner, KEYS)
    assert page.get_by_role("heading", name="No API keys yet").is_visible()
    assert serious_violations(page) == []
    page.get_by_role("link", name="Create an API key").click()
    page.wait_for_url(live.base + KEYS + "/new")


def test_no_sideways_scroll_at_360_px(page: Any, live: Live, owner: str, open_console: Any) -> None:
    make_key(live.app, "acme", "A rather long name for a key used by the nightly billing export", rate_limit=None)
    page.set_viewport_size({"width": 360, "height": 740})
    open_console(page, owner, KEYS)
    assert fits_360(page)
    page.goto(live.base + KEYS + "/new")
    assert fits_360(page)
    create_key(page, "Phone", ("api_keys:read", "users:read", "projects:read"))
    assert fits_360(page)
    page.get_by_role("link", name="View the key's page").click()
    assert fits_360(page)
