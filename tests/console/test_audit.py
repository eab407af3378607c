"""The audit log in the console (SPEC §8, §12): the tenant's events, newest first, filtered
by type and UTC days, paged; the same events the REST API gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import update

from outter_auth.extensions import db
from outter_auth.models import AuditEvent
from outter_auth.runtime import runtime
from outter_auth.services import audit, leaks
from tests.console.helpers import fits_360, serious_violations
from tests.factories import Factory
from tests.oidc.live import Live

OWNER = "owner@acme.test"
AUDIT = "/console/audit"
ROWS = "[data-testid=audit-row]"


def record(live: Live, tenant_id: str, type: str, count: int = 1, at: datetime | None = None, **details: Any) -> None:
    """Events straight through the service (fast: many at once), at ``at`` when given."""
    with live.app.app_context():
        made = [
            audit.record(db.session, type, tenant_id=tenant_id, actor="key_test", details=details, commit=False)
            for _ in range(count)
        ]
        db.session.commit()
        if at is not None:
            ids = [event.id for event in made]
            db.session.execute(update(AuditEvent).where(AuditEvent.id.in_(ids)).values(created_at=at))
            db.session.commit()


def types_shown(page: Any) -> list[str]:
    return [row.get_attribute("data-type") for row in page.locator(ROWS).all()]


def test_the_client_actions_done_in_the_console_are_in_the_log(page: Any, live: Live, make: Factory, open_console):
    owner = make.user("acme", OWNER, "owner")
    open_console(page, OWNER, "/console/clients/new")
    page.get_by_label("Name").fill("Worker")
    page.get_by_label("client_credentials").check()
    page.get_by_role("button", name="Register client").click()
    client_id = page.get_by_test_id("client-id").inner_text().strip()
    page.goto(f"{live.base}/console/clients/{client_id}/rotate-secret")
    page.get_by_role("button", name="Rotate secret").click()
    page.get_by_test_id("new-secret").wait_for()
    page.goto(f"{live.base}/console/clients/{client_id}/delete")
    page.get_by_role("button", name="Delete client").click()
    page.get_by_text("Client “Worker” deleted").wait_for()

    page.goto(live.base + AUDIT)
    assert types_shown(page)[:3] == ["client.updated", "client.updated", "client.created"]  # newest first
    rows = page.locator(ROWS)
    assert "Deleted" in rows.nth(0).inner_text()
    assert "Secret rotated" in rows.nth(1).inner_text()
    assert OWNER in rows.nth(0).inner_text()  # the actor by email, not by id
    assert client_id in rows.nth(2).inner_text()
    rows.nth(2).get_by_text("Details").click()
    assert "client_credentials" in rows.nth(2).locator("dl").inner_text()
    assert "127.0.0.1" in rows.nth(2).inner_text()
    assert owner


def test_the_type_filter_and_the_date_filter_narrow_the_list(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    tenant = make.tenant("acme")
    record(live, tenant.id, "api_key.revoked", at=datetime(2024, 3, 1, 23, 59, tzinfo=UTC))
    record(live, tenant.id, "api_key.created", at=datetime(2024, 3, 2, 0, 0, tzinfo=UTC))
    record(live, tenant.id, "api_key.created", at=datetime(2024, 3, 3, 12, 0, tzinfo=UTC))
    open_console(page, OWNER, AUDIT)
    assert "login.succeeded" in types_shown(page)

    page.get_by_label("Event type").select_option("api_key.created")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "type=api_key.created" in url)
    assert types_shown(page) == ["api_key.created", "api_key.created"]
    assert page.get_by_label("Event type").input_value() == "api_key.created"  # the filter stays chosen

    page.get_by_label("Event type").select_option("")
    page.get_by_label("From (UTC)").fill("2024-03-01")
    page.get_by_label("To (UTC)").fill("2024-03-02")  # whole UTC days, both included
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "since=2024-03-01" in url)
    assert types_shown(page) == ["api_key.created", "api_key.revoked"]

    page.get_by_label("From (UTC)").fill("2024-03-02")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "since=2024-03-02" in url)
    assert types_shown(page) == ["api_key.created"]

    page.goto(live.base + AUDIT + "?since=2024-03-05&until=2024-03-01")
    assert page.locator(".error-summary").inner_text().count("before") == 1
    assert page.locator(ROWS).count() == 0

    page.goto(live.base + AUDIT + "?type=api_key.rotated")
    assert page.get_by_role("heading", name="No events match these filters").is_visible()


def test_fifty_events_a_page_with_newer_and_older(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    tenant = make.tenant("acme")
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with live.app.app_context():
        for number in range(120):
            event = audit.record(
                db.session, "api_key.created", tenant_id=tenant.id, details={"n": number}, commit=False
            )
            event.created_at = start + timedelta(minutes=number)
        db.session.commit()
    open_console(page, OWNER, AUDIT + "?type=api_key.created")
    assert page.locator(ROWS).count() == 50
    assert page.get_by_role("link", name="← Newer").count() == 0
    first_page = page.locator(ROWS).first.get_attribute("data-event-id")
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(lambda url: "page=2" in url and "type=api_key.created" in url)
    assert page.locator(ROWS).count() == 50
    assert page.get_by_text("Events 51–100 of 120").is_visible()
    page.get_by_role("link", name="Older →").click()
    page.wait_for_url(lambda url: "page=3" in url)
    assert page.locator(ROWS).count() == 20
    assert page.get_by_role("link", name="Older →").count() == 0
    oldest = page.locator(ROWS).last
    oldest.get_by_text("Details").click()
    assert "0" == oldest.locator("dd").first.inner_text()  # the first event recorded is last
    page.get_by_role("link", name="← Newer").click()
    page.get_by_role("link", name="← Newer").click()
    page.wait_for_url(lambda url: "page=" not in url)
    assert page.locator(ROWS).first.get_attribute("data-event-id") == first_page
    page.goto(live.base + AUDIT + "?page=99")
    assert page.get_by_role("heading", name="No events on this page").is_visible()


def test_the_log_is_the_rest_apis_and_never_another_tenants(page: Any, live: Live, make: Factory, open_console):
    actor = make.actor("acme", OWNER, "owner")
    globex = make.tenant("globex")
    record(live, globex.id, "api_key.revoked", count=3, reason="theirs")
    with live.app.app_context():
        audit.record(db.session, "signing_key.rotated", actor="cli", subject="kid-1")  # a platform event
    open_console(page, OWNER, AUDIT)
    shown = [row.get_attribute("data-event-id") for row in page.locator(ROWS).all()]
    api = requests.get(live.base + "/api/auth/audit-events", headers=actor.headers, timeout=10).json()
    assert shown == [event["id"] for event in api]
    assert "api_key.revoked" not in types_shown(page) and "signing_key.rotated" not in types_shown(page)
    page.goto(live.base + AUDIT + "?type=api_key.revoked")
    assert page.locator(ROWS).count() == 0
    page.goto(live.base + AUDIT + "?type=signing_key.rotated")  # not offered; refused, not shown
    assert page.locator(ROWS).count() == 0 and page.locator(".error-summary").is_visible()


def test_a_leaked_key_report_says_where_the_key_was_found(page: Any, live: Live, make: Factory, open_console):
    actor = make.actor("acme", OWNER, "owner")
    key = requests.post(
        live.base + "/api/auth/api-keys",
        json={"name": "CI", "scopes": ["audit:read"]},
        headers=actor.headers,
        timeout=10,
    ).json()
    url = "https://github.com/acme/site/blob/main/.env"
    with live.app.app_context():
        reported = [leaks.Reported(key["key"], "outter_api_key", url, "content")]
        leaks.handle_report(db.session, reported, peppers=runtime().peppers, origin=None)
        db.session.commit()
    open_console(page, OWNER, AUDIT + "?type=api_key.leak_reported")
    row = page.locator(ROWS).first
    assert "API key reported leaked" in row.inner_text()
    assert "Found by content at" in row.inner_text()
    assert row.get_by_role("link", name=url).get_attribute("href") == url
    assert key["key"] not in page.content()
    row.get_by_text("Details").click()
    assert "Was working" in row.inner_text() and "yes" in row.inner_text()


def test_a_member_gets_the_403_page(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", "member@acme.test", "member")
    open_console(page, "member@acme.test", "/console/account")
    response = page.goto(live.base + AUDIT)
    assert response.status == 403
    assert page.get_by_role("link", name="Audit log").count() == 0


def test_every_audit_page_passes_axe_and_fits_a_phone(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    tenant = make.tenant("acme")
    record(
        live, tenant.id, "api_key.leak_reported", count=60, url="https://gist.github.com/a/" + "b" * 60, source="gist"
    )
    found, too_wide = [], []

    def check(state: str) -> None:
        found.extend((state, *violation) for violation in serious_violations(page))
        if not fits_360(page):
            too_wide.append(state)

    open_console(page, OWNER, AUDIT)
    page.locator(ROWS).first.get_by_text("Details").click()
    check("list, details open")
    page.goto(live.base + AUDIT + "?page=2")
    check("second page")
    page.goto(live.base + AUDIT + "?type=logout&since=2024-01-01&until=2024-01-02")
    check("filtered, empty")
    page.goto(live.base + AUDIT + "?since=2024-01-05&until=2024-01-01")
    check("filter error")
    assert found == []
    assert too_wide == []


def test_an_empty_log_says_what_it_will_hold(page: Any, live: Live, make: Factory, open_console):
    make.user("acme", OWNER, "owner")
    open_console(page, OWNER, AUDIT)
    with live.app.app_context():
        db.session.execute(AuditEvent.__table__.delete())
        db.session.commit()
    page.reload()
    assert page.get_by_role("heading", name="Nothing recorded yet").is_visible()
    assert serious_violations(page) == []
