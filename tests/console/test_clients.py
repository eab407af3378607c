"""OAuth clients in the console (SPEC §12, §11): list, register, edit, rotate, delete."""

from __future__ import annotations

from typing import Any

import requests

from outter_auth.extensions import db
from outter_auth.models import AuditEvent, OAuthClient
from tests.console.helpers import browser_session, client_credentials, fits_360, serious_violations
from tests.factories import Factory
from tests.oidc.live import Live

OWNER = "owner@acme.test"
CLIENTS = "/console/clients"


def register_in_console(page: Any, name: str = "Billing worker", scopes: tuple[str, ...] = ("audit:read",)) -> str:
    """Fill the form for a confidential client_credentials client; returns the secret shown."""
    page.get_by_label("Name").fill(name)
    page.get_by_label("Confidential").check()
    page.get_by_label("client_credentials").check()
    for scope in scopes:
        page.get_by_label(scope, exact=False).first.check()
    page.get_by_role("button", name="Register client").click()
    page.get_by_role("heading", name="Client registered").wait_for()
    return str(page.get_by_test_id("new-secret").inner_text()).strip()


def rest_client(live: Live, make: Factory, email: str = OWNER, **body: Any) -> dict[str, Any]:
    actor = make.actor("acme", email, "owner") if email else None
    payload = {"name": "Nightly sync", "grant_types": ["client_credentials"], "scopes": ["audit:read"], **body}
    response = requests.post(live.base + "/api/auth/clients", json=payload, headers=actor.headers, timeout=10)
    assert response.status_code == 201, response.text
    return dict(response.json())


def stored(live: Live, client_id: str) -> OAuthClient | None:
    with live.app.app_context():
        return db.session.get(OAuthClient, client_id)


def test_a_new_confidential_clients_secret_is_shown_once_and_works(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    open_console(page, OWNER, CLIENTS)
    page.get_by_role("link", name="Register your first client").click()
    secret = register_in_console(page)
    client_id = page.get_by_test_id("client-id").inner_text().strip()
    assert secret.startswith("ocs_")

    token = client_credentials(live, client_id, secret)
    assert token.status_code == 200, token.text
    assert token.json()["scope"] == "audit:read"

    # Never again: not on the list, not on the client's own pages.
    page.get_by_role("link", name="back to OAuth clients").click()
    row = page.locator(f'[data-testid=client-row][data-client-id="{client_id}"]')
    assert "Billing worker" in row.inner_text() and "client_credentials" in row.inner_text()
    page.reload()
    for path in (CLIENTS, f"{CLIENTS}/{client_id}/edit", f"{CLIENTS}/{client_id}/rotate-secret"):
        page.goto(live.base + path)
        assert secret not in page.content()
    assert page.get_by_test_id("new-secret").count() == 0


def test_rotating_the_secret_stops_the_old_one_and_shows_the_new_one_once(
    page: Any, live: Live, make: Factory, open_console
):
    client = rest_client(live, make)
    open_console(page, OWNER, CLIENTS)
    row = page.locator(f'[data-testid=client-row][data-client-id="{client["client_id"]}"]')
    row.get_by_role("link", name="Rotate the secret of Nightly sync").click()
    page.get_by_role("heading", name="Rotate the secret of “Nightly sync”?").wait_for()
    assert client_credentials(live, client["client_id"], client["client_secret"]).status_code == 200  # not yet

    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_role("heading", name="Secret rotated").wait_for()
    new = page.get_by_test_id("new-secret").inner_text().strip()

    old_answer = client_credentials(live, client["client_id"], client["client_secret"])
    assert old_answer.status_code == 401 and old_answer.json()["error"] == "invalid_client"
    assert client_credentials(live, client["client_id"], new).status_code == 200
    page.goto(live.base + CLIENTS)
    assert new not in page.content()


def test_reloading_an_answer_that_showed_a_secret_makes_no_other(page: Any, live: Live, make: Factory, open_console):
    client = rest_client(live, make)
    open_console(page, OWNER, CLIENTS + "/new")
    first = register_in_console(page)
    page.reload()  # the browser sends the registration again
    assert first not in page.content()
    assert page.locator(".alert--success").inner_text().startswith("That form was already sent")
    assert page.locator("[data-testid=client-row]").count() == 2  # the REST one and the first registration

    page.goto(f"{live.base}{CLIENTS}/{client['client_id']}/rotate-secret")
    page.get_by_role("button", name="Rotate secret").click()
    new = page.get_by_test_id("new-secret").inner_text().strip()
    page.reload()
    assert new not in page.content()
    assert client_credentials(live, client["client_id"], new).status_code == 200  # not rotated twice


def test_an_invalid_redirect_uri_is_refused_with_the_apis_message(page: Any, live: Live, make: Factory, open_console):
    actor = make.actor("acme", OWNER, "owner")
    bad = "http://app.example/callback"
    api = requests.post(
        live.base + "/api/auth/clients",
        json={"name": "Web", "grant_types": ["authorization_code"], "redirect_uris": [bad]},
        headers=actor.headers,
        timeout=10,
    )
    assert api.status_code == 422
    message = api.json()["errors"]["json"]["redirect_uris"]["0"][0]

    open_console(page, OWNER, CLIENTS + "/new")
    page.get_by_label("Name").fill("Web")
    page.get_by_label("authorization_code").check()
    page.get_by_label("Redirect URIs", exact=True).fill(f"https://app.example/ok\n{bad}\n")
    page.get_by_role("button", name="Register client").click()
    summary = page.locator(".error-summary")
    summary.wait_for()
    assert message in summary.inner_text()
    assert bad in summary.inner_text()  # which line is wrong
    assert page.get_by_label("Redirect URIs", exact=True).get_attribute("aria-invalid") == "true"
    assert page.get_by_label("Name").input_value() == "Web"  # what was typed stays
    with live.app.app_context():
        assert db.session.query(OAuthClient).count() == 0


def test_a_public_client_with_client_credentials_is_refused_with_the_services_message(
    page: Any, live: Live, make: Factory, open_console
):
    make.user("acme", OWNER, "owner")
    open_console(page, OWNER, CLIENTS + "/new")
    page.get_by_label("Name").fill("Phone app")
    page.get_by_label("Public").check()
    page.get_by_label("client_credentials").check()
    page.get_by_role("button", name="Register client").click()
    page.locator(".error-summary").wait_for()
    assert (
        "A public client has no secret, so it cannot use client_credentials"
        in page.locator(".error-summary").inner_text()
    )
    with live.app.app_context():
        assert db.session.query(OAuthClient).count() == 0


def test_a_scope_the_service_refuses_is_shown_with_its_message(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    open_console(page, OWNER, CLIENTS + "/new")
    page.get_by_label("Name").fill("Reports")
    page.get_by_label("client_credentials").check()
    page.get_by_label("Other scopes").fill("content:generate Not-A-Scope")
    page.get_by_role("button", name="Register client").click()
    page.locator(".error-summary").wait_for()
    assert "Not-A-Scope" in page.locator(".error-summary").inner_text()
    with live.app.app_context():
        assert db.session.query(OAuthClient).count() == 0


def test_editing_changes_what_patch_changes(page: Any, live: Live, make: Factory, open_console):
    client = rest_client(live, make)
    open_console(page, OWNER, f"{CLIENTS}/{client['client_id']}/edit")
    page.get_by_label("Name").fill("Nightly sync v2")
    page.get_by_label("authorization_code").check()
    page.get_by_label("Redirect URIs", exact=True).fill("https://app.example/callback")
    page.get_by_label("Post-logout redirect URIs").fill("https://app.example/bye")
    page.get_by_role("button", name="Save changes").click()
    page.get_by_text("Client “Nightly sync v2” saved").wait_for()
    changed = stored(live, client["client_id"])
    assert changed is not None
    assert changed.name == "Nightly sync v2"
    assert sorted(changed.grant_types) == ["authorization_code", "client_credentials"]
    assert changed.redirect_uris == ["https://app.example/callback"]
    assert changed.post_logout_redirect_uris == ["https://app.example/bye"]
    with live.app.app_context():
        event = db.session.query(AuditEvent).filter_by(type="client.updated", subject=client["client_id"]).one()
        assert event.details["changed"] == ["grant_types", "name", "post_logout_redirect_uris", "redirect_uris"]


def test_deleting_asks_first_then_the_client_is_gone(page: Any, live: Live, make: Factory, open_console):
    client = rest_client(live, make)
    open_console(page, OWNER, CLIENTS)
    page.get_by_role("link", name="Delete Nightly sync").click()
    page.get_by_role("heading", name="Delete “Nightly sync”?").wait_for()
    page.get_by_role("link", name="Cancel").click()
    assert stored(live, client["client_id"]) is not None
    page.get_by_role("link", name="Delete Nightly sync").click()
    page.get_by_role("button", name="Delete client").click()
    page.get_by_text("Client “Nightly sync” deleted").wait_for()
    assert stored(live, client["client_id"]) is None
    assert page.get_by_test_id("client-row").count() == 0
    assert client_credentials(live, client["client_id"], client["client_secret"]).status_code == 401


def test_another_tenants_client_is_not_found(page: Any, live: Live, make: Factory, open_console):
    theirs = rest_client(live, make, email="owner@globex.test")  # made in "acme" by rest_client
    make.user("globex", "admin@globex.test", "admin")
    open_console(page, "admin@globex.test", CLIENTS)
    assert page.get_by_test_id("client-row").count() == 0
    for action in ("edit", "rotate-secret", "delete"):
        response = page.goto(f"{live.base}{CLIENTS}/{theirs['client_id']}/{action}")
        assert response.status == 404
        assert page.get_by_role("heading", name="Not found").is_visible()
    session = browser_session(page)
    page.goto(live.base + CLIENTS + "/new")
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    for action in ("rotate-secret", "delete"):
        answer = session.post(
            f"{live.base}{CLIENTS}/{theirs['client_id']}/{action}", data={"csrf_token": csrf}, timeout=10
        )
        assert answer.status_code == 404
    assert stored(live, theirs["client_id"]) is not None


def test_a_member_gets_the_403_page(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", "member@acme.test", "member")
    open_console(page, "member@acme.test", "/console/account")
    for path in (CLIENTS, CLIENTS + "/new"):
        response = page.goto(live.base + path)
        assert response.status == 403
        assert page.get_by_role("heading", name="Only owners and admins can open this page").is_visible()
    assert page.get_by_role("link", name="OAuth clients").count() == 0


def test_posts_without_a_csrf_token_change_nothing(page: Any, live: Live, make: Factory, open_console):
    client = rest_client(live, make)
    open_console(page, OWNER, CLIENTS)
    session = browser_session(page)
    base = f"{live.base}{CLIENTS}"
    form = {"name": "Forged", "grant_types": "client_credentials", "kind": "confidential"}
    for url in (f"{base}/new", f"{base}/{client['client_id']}/edit"):
        assert session.post(url, data=form, timeout=10).status_code == 400
    for action in ("rotate-secret", "delete"):
        assert session.post(f"{base}/{client['client_id']}/{action}", timeout=10).status_code == 400
    assert (
        session.post(f"{base}/{client['client_id']}/delete", data={"csrf_token": "forged"}, timeout=10).status_code
        == 400
    )
    still = stored(live, client["client_id"])
    assert still is not None and still.name == "Nightly sync"
    assert client_credentials(live, client["client_id"], client["client_secret"]).status_code == 200
    with live.app.app_context():
        assert db.session.query(OAuthClient).count() == 1


def test_a_client_can_be_registered_with_the_keyboard_alone(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    open_console(page, OWNER, CLIENTS)
    link = page.get_by_role("link", name="Register your first client")
    for _ in range(40):  # Tab through the page to the link, as a keyboard user would
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.textContent.trim()") == "Register a client":
            break
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Register a client").wait_for()
    assert link.count() == 0
    page.get_by_label("Name").focus()
    page.keyboard.type("Keyboard app")
    page.keyboard.press("Tab")  # the type: confidential is chosen already
    page.keyboard.press("Tab")  # the first grant type
    focused = page.evaluate("document.activeElement.value")
    while focused != "client_credentials":
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.value")
    page.keyboard.press("Space")
    page.keyboard.press("Enter")  # submits the form
    page.get_by_role("heading", name="Client registered").wait_for()
    assert page.get_by_test_id("new-secret").inner_text().startswith("ocs_")


def test_every_clients_page_passes_axe_and_fits_a_phone(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    found, too_wide = [], []

    def check(state: str) -> None:
        page.wait_for_load_state()
        found.extend((state, *violation) for violation in serious_violations(page))
        if not fits_360(page):
            too_wide.append(state)

    open_console(page, OWNER, CLIENTS)
    check("empty list")
    page.goto(live.base + CLIENTS + "/new")
    check("new form")
    page.get_by_role("button", name="Register client").click()
    page.locator(".error-summary").wait_for()
    check("form with errors")
    page.get_by_label("Name").fill("A client with a rather long name for a narrow screen")
    page.get_by_label("client_credentials").check()
    page.get_by_label("authorization_code").check()
    page.get_by_label("Redirect URIs", exact=True).fill("https://app.example/a/very/long/callback/path/that/goes/on")
    page.get_by_label("openid").check()
    page.get_by_role("button", name="Register client").click()
    page.get_by_test_id("new-secret").wait_for()
    check("with secret")
    client_id = page.get_by_test_id("client-id").inner_text().strip()
    page.goto(live.base + CLIENTS)
    check("list")
    page.goto(f"{live.base}{CLIENTS}/{client_id}/edit")
    check("edit form")
    page.goto(f"{live.base}{CLIENTS}/{client_id}/rotate-secret")
    check("rotate confirmation")
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_test_id("new-secret").wait_for()
    check("rotated secret")
    page.goto(f"{live.base}{CLIENTS}/{client_id}/delete")
    check("delete confirmation")
    assert found == []
    assert too_wide == []
