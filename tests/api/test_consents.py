"""``/api/auth/consents`` (SPEC §11): a user lists the apps they allowed and withdraws one."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.assertions import assert_error
from tests.factories import Factory
from tests.oauth_helpers import assert_oauth_error, basic_auth
from tests.oidc.steps import Browser, register_app

URL = "/api/auth/consents"
EMAIL = "ada@acme.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def ada_token(make: Factory, ada: str) -> str:
    """Ada's token from the first-party app (``/api/auth/login``)."""
    return str(make.login(EMAIL)["access_token"])


def allowed(browser: Browser, app_client: Any, scope: str = "openid offline_access content:generate") -> dict:
    flow = app_client.flow(scope=scope)
    return flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()


def audit(app: Flask, type: str) -> list[dict[str, Any]]:
    from outter_auth.extensions import db
    from outter_auth.models import AuditEvent

    with app.app_context():
        return [
            {"tenant_id": e.tenant_id, "actor": e.actor, "subject": e.subject, "details": e.details}
            for e in db.session.query(AuditEvent).filter_by(type=type)
        ]


def test_the_list_names_each_app_and_what_it_was_allowed(
    app: Flask, client: Any, browser: Browser, ada_token: str, third_party: Any
):
    assert client.get(URL, headers=bearer(ada_token)).get_json() == []
    allowed(browser, third_party, "openid")
    allowed(browser, third_party, "openid content:generate")  # asked again for more: remembered together

    response = client.get(URL, headers=bearer(ada_token))

    assert response.status_code == 200 and "X-Pagination" in response.headers
    [consent] = response.get_json()
    assert consent["client_id"] == third_party.client_id and consent["client_name"] == "Acme Reports"
    assert consent["scopes"] == ["content:generate", "openid"]
    granted = audit(app, "consent.granted")
    assert [e["details"]["scopes"] for e in granted] == [["openid"], ["content:generate", "openid"]]
    assert {e["subject"] for e in granted} == {third_party.client_id}


def test_withdrawing_ends_the_apps_sessions_and_asks_again_next_time(
    app: Flask, client: Any, browser: Browser, ada: str, ada_token: str, third_party: Any
):
    other = register_app(app, "Acme Other")
    token = allowed(browser, third_party)
    kept = allowed(browser, other)

    response = client.delete(f"{URL}/{third_party.client_id}", headers=bearer(ada_token))

    assert response.status_code == 204
    refreshed = client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        headers=basic_auth(third_party.client_id, third_party.secret),
    )
    assert_oauth_error(refreshed, 400, "invalid_grant")
    assert client.get("/api/auth/me", headers=bearer(token["access_token"])).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(kept["access_token"])).status_code == 200  # another app's
    assert [c["client_id"] for c in client.get(URL, headers=bearer(ada_token)).get_json()] == [other.client_id]
    [event] = audit(app, "consent.revoked")
    assert event["actor"] == ada and event["subject"] == third_party.client_id
    assert event["details"]["sessions_ended"] == 1
    page = browser.follow(browser.get(third_party.flow().url()))
    assert "decision" in page.get_data(as_text=True)  # consent asked again


def test_withdrawing_what_was_never_allowed_is_404(client: Any, ada_token: str, third_party: Any):
    for client_id in (third_party.client_id, "cli_unknown", "outter-app"):
        assert_error(client.delete(f"{URL}/{client_id}", headers=bearer(ada_token)), 404)


def test_another_users_consents_are_not_visible_or_withdrawable(
    client: Any, browser: Browser, make: Factory, ada_token: str, third_party: Any
):
    allowed(browser, third_party)
    make.user("acme", "bob@acme.test", "member")
    bob = make.login("bob@acme.test")["access_token"]
    assert client.get(URL, headers=bearer(bob)).get_json() == []
    assert_error(client.delete(f"{URL}/{third_party.client_id}", headers=bearer(bob)), 404)
    assert len(client.get(URL, headers=bearer(ada_token)).get_json()) == 1


def test_a_third_party_apps_token_may_not_look_at_the_users_consents(
    client: Any, browser: Browser, ada: str, third_party: Any
):
    """It could learn which other apps the user has, or withdraw them."""
    token = allowed(browser, third_party)
    assert_error(client.get(URL, headers=bearer(token["access_token"])), 403)
    assert_error(client.delete(f"{URL}/{third_party.client_id}", headers=bearer(token["access_token"])), 403)
    assert_error(client.get(URL), 401)


def test_keys_and_machines_have_no_consents(
    app: Flask, client: Any, browser: Browser, ada: str, owner: Any, third_party: Any
):
    from tests.api_key_helpers import create_key, key_headers

    allowed(browser, third_party)  # ada's
    machine = register_app(app, "Machine", grant_types=("client_credentials",), scope="content:generate")
    machine_token = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(machine.client_id, machine.secret),
    ).get_json()["access_token"]
    key = key_headers(create_key(client, owner.headers, scopes=["users:read"])["key"])

    for headers in (bearer(machine_token), key):
        assert client.get(URL, headers=headers).get_json() == []
        assert_error(client.delete(f"{URL}/{third_party.client_id}", headers=headers), 404)
