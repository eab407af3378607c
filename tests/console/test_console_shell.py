"""The console's frame and the pages every member has (SPEC §12): who may open what, the
account page and its consents, signing keys (read only), signing out; CSRF, axe, 360 px."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from outter_auth.extensions import db
from outter_auth.services import consents
from tests.console.steps import open_console
from tests.factories import Factory
from tests.oidc.live import Live, register

ADMIN_PAGES = ("/console/signing-keys",)
EVERYBODY_PAGES = ("/console/account",)


def _app_with_consent(live: Live, make: Factory, site: Any, user_id: str) -> str:
    """A third-party client the user allowed ``openid email``; returns its id."""
    client = register(live.app, "Pathfinder", site.base)
    tenant = make.tenant("acme")
    with live.app.app_context():
        consents.grant(db.session, user_id, client.client_id, tenant.id, ["openid", "email"])
    return client.client_id


def _cookies(page: Any) -> dict[str, str]:
    return {c["name"]: c["value"] for c in page.context.cookies()}


def test_a_member_lands_on_their_account_and_sees_no_admin_page(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "mia@acme.test", "member")
    open_console(page, live, "mia@acme.test")
    assert page.url == live.base + "/console/account"
    nav = page.get_by_role("navigation", name="Console")
    assert nav.get_by_role("link").all_inner_texts() == ["Your account"]
    for path in ADMIN_PAGES:
        response = page.goto(live.base + path)
        assert response.status == 403
        assert page.get_by_role("heading", name="Only owners and admins can open this page").is_visible()


def test_an_owner_sees_the_admin_pages_in_the_navigation(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    open_console(page, live, "owner@acme.test", "/console/account")
    links = page.get_by_role("navigation", name="Console").get_by_role("link").all_inner_texts()
    assert "Signing keys" in links and "Your account" in links
    current = page.locator(".console__nav-link[aria-current=page]")
    assert current.inner_text() == "Your account"


def test_signing_keys_lists_the_active_key_by_its_kid(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    kid = requests.get(live.base + "/.well-known/jwks.json", timeout=10).json()["keys"][0]["kid"]
    open_console(page, live, "owner@acme.test", "/console/signing-keys")
    row = page.locator(f"[data-testid=signing-key-row][data-kid='{kid}']")
    assert row.count() == 1
    assert "Active" in row.inner_text()
    assert page.locator("form[method=post]").count() == 1  # only "Sign out": nothing to change here


def test_dates_are_in_local_time_with_utc_on_hover(chromium: Any, live: Live, make: Factory):
    make.user("acme", "owner@acme.test", "owner")
    context = chromium.new_context(timezone_id="Asia/Tokyo", locale="en-GB")
    try:
        page = context.new_page()
        open_console(page, live, "owner@acme.test", "/console/signing-keys")
        when = page.locator("[data-testid=signing-key-row] time").first
        assert when.get_attribute("title").endswith(" UTC")
        utc_text = when.get_attribute("title")
        assert "UTC" not in when.inner_text()  # rewritten by console.js in the viewer's zone
        assert when.inner_text() != utc_text
    finally:
        context.close()


def test_withdrawing_a_consent_ends_it_and_says_so(page: Any, live: Live, make: Factory, site: Any) -> None:
    user_id = make.user("acme", "mia@acme.test", "member")
    client_id = _app_with_consent(live, make, site, user_id)
    open_console(page, live, "mia@acme.test", "/console/account")
    row = page.locator(f"[data-testid=consent-row][data-client-id='{client_id}']")
    assert "Pathfinder" in row.inner_text()
    row.get_by_role("button", name="Withdraw Pathfinder's access").click()
    page.wait_for_url(live.base + "/console/account")
    assert page.get_by_role("status").inner_text().startswith("Pathfinder can no longer act for you")
    assert page.locator("[data-testid=consent-row]").count() == 0
    with live.app.app_context():
        assert consents.granted(db.session, user_id, client_id) is None


def test_a_post_without_the_csrf_token_changes_nothing(page: Any, live: Live, make: Factory, site: Any) -> None:
    user_id = make.user("acme", "mia@acme.test", "member")
    client_id = _app_with_consent(live, make, site, user_id)
    open_console(page, live, "mia@acme.test", "/console/account")
    response = requests.post(
        f"{live.base}/console/account/consents/{client_id}/withdraw",
        cookies=_cookies(page),
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 400
    with live.app.app_context():
        assert consents.granted(db.session, user_id, client_id) is not None


def test_another_users_consent_is_not_found(page: Any, live: Live, make: Factory, site: Any) -> None:
    other = make.user("acme", "ada@acme.test", "member")
    client_id = _app_with_consent(live, make, site, other)
    make.user("acme", "mia@acme.test", "member")
    open_console(page, live, "mia@acme.test", "/console/account")
    token = page.locator("form input[name=csrf_token]").first.get_attribute("value")
    response = requests.post(
        f"{live.base}/console/account/consents/{client_id}/withdraw",
        data={"csrf_token": token},
        cookies=_cookies(page),
        timeout=10,
        allow_redirects=False,
    )
    assert response.status_code == 404
    with live.app.app_context():
        assert consents.granted(db.session, other, client_id) is not None


def test_sign_out_ends_the_browser_session(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    open_console(page, live, "owner@acme.test", "/console/account")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="You're signed out").wait_for()
    page.goto(live.base + "/console/account")
    assert page.get_by_role("heading", name="Sign in").is_visible()


def test_a_deactivated_user_is_out_at_the_next_page(page: Any, live: Live, make: Factory) -> None:
    user_id = make.user("acme", "owner@acme.test", "owner")
    open_console(page, live, "owner@acme.test", "/console/account")
    make.deactivate_account(user_id)
    page.goto(live.base + "/console/account")
    assert page.get_by_role("heading", name="Sign in").is_visible()


@pytest.mark.parametrize("path", ADMIN_PAGES + EVERYBODY_PAGES)
@pytest.mark.parametrize("width", [1280, 360])
def test_pages_pass_axe_load_nothing_from_elsewhere_and_fit_the_screen(
    chromium: Any, live: Live, make: Factory, site: Any, path: str, width: int
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    user_id = make.user("acme", "owner@acme.test", "owner")
    _app_with_consent(live, make, site, user_id)
    context = chromium.new_context(viewport={"width": width, "height": 800})
    try:
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.on("request", lambda r: None if r.url.startswith(live.base) else problems.append(r.url))
        open_console(page, live, "owner@acme.test", path)
        page.wait_for_load_state("networkidle")
        violations = [v for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
        assert violations == [], [(v["id"], v["help"]) for v in violations]
        assert problems == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()
