"""What a code is traded for (refresh tokens, scopes), userinfo, discovery and logout (SPEC §11)."""

from __future__ import annotations

from typing import Any

import pytest
from authlib.oauth2 import rfc9207
from authlib.oidc import discovery, rpinitiated
from flask import Flask

from outter_auth.extensions import db
from outter_auth.models import BrowserSession, Session
from tests.factories import Factory
from tests.oauth_helpers import assert_oauth_error, basic_auth
from tests.oidc.steps import ISSUER, REDIRECT, Browser, forms, is_page, location, query, register_app

EMAIL = "ada@acme.test"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refresh(browser: Browser, app_client: Any, refresh_token: str) -> Any:
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if app_client.secret is None:
        return browser.client.post("/oauth/token", data={**form, "client_id": app_client.client_id})
    return browser.client.post("/oauth/token", data=form, headers=basic_auth(app_client.client_id, app_client.secret))


# -- refresh tokens and scopes ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_party", "scope", "gets_refresh_token"),
    [
        pytest.param(False, "openid", False, id="third-party"),
        pytest.param(False, "openid offline_access", True, id="third-party-offline-access"),
        pytest.param(True, "openid", True, id="first-party"),
    ],
)
def test_who_gets_a_refresh_token(
    app: Flask, browser: Browser, ada: str, first_party: bool, scope: str, gets_refresh_token: bool
):
    client = register_app(app, first_party=first_party)
    flow = client.flow(scope=scope)
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    assert ("refresh_token" in token) is gets_refresh_token
    if gets_refresh_token:
        refreshed = refresh(browser, client, token["refresh_token"])
        assert refreshed.status_code == 200 and refreshed.get_json()["scope"] == token["scope"]


def test_a_client_without_the_refresh_grant_gets_no_refresh_token(app: Flask, browser: Browser, ada: str):
    client = register_app(app, grant_types=("authorization_code",))
    flow = client.flow(scope="openid offline_access")
    assert "refresh_token" not in flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()


def test_a_member_gets_platform_scopes_and_no_management_ones(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow(scope="openid content:generate users:read")
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    assert token["scope"] == "content:generate openid"
    me = browser.client.get("/api/auth/me", headers=bearer(token["access_token"])).get_json()
    assert me["scopes"] == ["content:generate", "openid"] and me["roles"] == ["member"]


def test_an_owner_gets_management_scopes_the_client_holds(browser: Browser, make: Factory, third_party: Any):
    make.user("acme", "olga@acme.test", "owner")
    flow = third_party.flow(scope="openid users:read")
    token = flow.redeem(browser.client, browser.code(flow, "olga@acme.test")).get_json()
    assert token["scope"] == "openid users:read"
    assert browser.client.get("/api/auth/users", headers=bearer(token["access_token"])).status_code == 200


def test_the_built_in_client_signs_users_in_to_its_configured_redirect_uris(make_app: Any, ada: str):
    served = make_app(first_party_redirect_uris=(REDIRECT, "com.example.app:/callback"))
    browser = Browser(served.test_client())
    from tests.oidc.steps import Flow

    flow = Flow("outter-app", "com.example.app:/callback", "openid offline_access")
    response = browser.follow(browser.get(flow.url()), "com.example.app:")
    response = browser.follow(browser.sign_in(response, EMAIL), "com.example.app:")
    token = flow.redeem(browser.client, query(location(response))["code"]).get_json()
    assert token["refresh_token"] and "id_token" in token
    assert is_page(browser.get(Flow("outter-app", "https://evil.example/cb").url()), 400)


# -- userinfo --------------------------------------------------------------------------------------


def test_userinfo_answers_with_what_the_scopes_allow(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow(scope="openid email")
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()

    for response in (
        browser.client.get("/oauth/userinfo", headers=bearer(token["access_token"])),
        browser.client.post("/oauth/userinfo", headers=bearer(token["access_token"])),
    ):
        assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        assert body["sub"] == ada and body["email"] == EMAIL and body["email_verified"] is False

    flow = third_party.flow(scope="openid")
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    assert set(browser.client.get("/oauth/userinfo", headers=bearer(token["access_token"])).get_json()) == {
        "sub",
        "tenant_id",
    }


def test_userinfo_needs_a_token_with_openid(browser: Browser, ada: str, third_party: Any):
    missing = browser.client.get("/oauth/userinfo")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"].startswith("Bearer")
    forged = browser.client.get("/oauth/userinfo", headers=bearer("e30.e30.e30"))
    assert forged.status_code == 401 and 'error="invalid_token"' in forged.headers["WWW-Authenticate"]

    flow = third_party.flow(scope="content:generate")
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    no_openid = browser.client.get("/oauth/userinfo", headers=bearer(token["access_token"]))
    assert no_openid.status_code == 403
    assert 'error="insufficient_scope"' in no_openid.headers["WWW-Authenticate"]
    assert no_openid.get_json()["error"] == "insufficient_scope"


# -- discovery ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"])
def test_discovery_is_a_valid_openid_provider_metadata_document(client: Any, path: str):
    document = client.get(path).get_json()

    metadata = discovery.OpenIDProviderMetadata(document)
    metadata.validate(metadata_classes=[rfc9207.AuthorizationServerMetadata, rpinitiated.OpenIDProviderMetadata])

    assert document["authorization_endpoint"] == ISSUER + "/oauth/authorize"
    assert document["userinfo_endpoint"] == ISSUER + "/oauth/userinfo"
    assert document["end_session_endpoint"] == ISSUER + "/oauth/logout"
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["authorization_response_iss_parameter_supported"] is True
    assert "authorization_code" in document["grant_types_supported"]
    assert {"openid", "profile", "email", "offline_access"} <= set(document["scopes_supported"])
    assert {"auth_time", "nonce", "at_hash", "sid", "azp", "email", "email_verified", "tenant_id"} <= set(
        document["claims_supported"]
    )
    assert document["request_uri_parameter_supported"] is False


# -- logout ---------------------------------------------------------------------------------------------


def signed_in_with_tokens(browser: Browser, third_party: Any) -> dict[str, Any]:
    flow = third_party.flow(scope="openid offline_access")
    return flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()


def test_logout_with_a_hint_redirects_with_state(app: Flask, browser: Browser, ada: str, third_party: Any):
    token = signed_in_with_tokens(browser, third_party)
    response = browser.get(
        "/oauth/logout?"
        + "&".join(
            [
                f"id_token_hint={token['id_token']}",
                "post_logout_redirect_uri=https://app.example/signed-out",
                "state=s%20t",
            ]
        )
    )
    assert location(response) == "https://app.example/signed-out?state=s+t"
    assert response.headers["Cache-Control"] == "no-store"
    assert_oauth_error(refresh(browser, third_party, token["refresh_token"]), 400, "invalid_grant")
    with app.app_context():
        assert db.session.query(BrowserSession).filter(BrowserSession.ended_at.is_(None)).count() == 0
        assert db.session.query(Session).filter(Session.revoked_at.is_(None)).count() == 0


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"post_logout_redirect_uri": "https://evil.example/"}, id="unregistered-uri"),
        pytest.param({"post_logout_redirect_uri": "https://app.example/signed-out/"}, id="uri-suffix"),
    ],
)
def test_logout_never_redirects_to_an_unregistered_uri(browser: Browser, ada: str, third_party: Any, params: dict):
    token = signed_in_with_tokens(browser, third_party)
    query_string = "&".join(f"{k}={v}" for k, v in {"id_token_hint": token["id_token"], **params}.items())
    response = browser.get("/oauth/logout?" + query_string)
    assert is_page(response, 200) and "signed out" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "hint",
    [
        pytest.param("not.a.token", id="garbage"),
        pytest.param("access", id="an-access-token"),
        pytest.param("tampered", id="tampered"),
    ],
)
def test_logout_with_a_bad_hint_is_a_page_and_ends_nothing(browser: Browser, ada: str, third_party: Any, hint: str):
    token = signed_in_with_tokens(browser, third_party)
    value = {"access": token["access_token"], "tampered": token["id_token"][:-4] + "AAAA"}.get(hint, hint)
    response = browser.get(
        f"/oauth/logout?id_token_hint={value}&post_logout_redirect_uri=https://app.example/signed-out"
    )
    assert is_page(response, 400)
    assert refresh(browser, third_party, token["refresh_token"]).status_code == 200  # still signed in


def test_logout_refuses_a_client_id_other_than_the_hints_audience(
    app: Flask, browser: Browser, ada: str, third_party: Any
):
    other = register_app(app, "Acme Other")
    token = signed_in_with_tokens(browser, third_party)
    response = browser.get(f"/oauth/logout?id_token_hint={token['id_token']}&client_id={other.client_id}")
    assert is_page(response, 400)


def test_a_logout_link_from_elsewhere_asks_first(browser: Browser, ada: str, third_party: Any):
    token = signed_in_with_tokens(browser, third_party)
    page = browser.get(
        f"/oauth/logout?client_id={third_party.client_id}&post_logout_redirect_uri=https://app.example/signed-out&state=x"
    )
    assert is_page(page, 200) and "Sign out of Outter?" in page.get_data(as_text=True)
    assert refresh(browser, third_party, token["refresh_token"]).status_code == 200  # nothing ended yet

    confirmed = browser.submit(page)
    assert location(confirmed) == "https://app.example/signed-out?state=x"  # the user confirmed: back to the app
    assert browser.cookie("__Host-outter_session") is None
    assert forms(browser.follow(browser.get(third_party.flow().url())))[0]["fields"].get("password") == ""


def test_deactivating_a_user_ends_their_browser_session(
    app: Flask, browser: Browser, make: Factory, owner: Any, third_party: Any
):
    user_id = make.user("acme", "bob@acme.test", "member")
    browser.code(third_party.flow(), "bob@acme.test")
    assert browser.client.delete(f"/api/auth/users/{user_id}", headers=owner.headers).status_code == 204
    response = browser.get(third_party.flow().url(prompt="none"))
    assert query(location(response))["error"] == "login_required"


def test_audit_prune_forgets_old_codes_and_browser_sessions(app: Flask, browser: Browser, ada: str, third_party: Any):
    import json
    from datetime import timedelta

    from outter_auth import clock

    clock.freeze(clock.now())
    browser.code(third_party.flow(), EMAIL)
    prune = ["audit", "prune", "--json"]
    assert json.loads(app.test_cli_runner().invoke(args=prune).output)["authorization_codes"] == 0
    clock.advance(timedelta(days=2))

    pruned = json.loads(app.test_cli_runner().invoke(args=prune).output)

    assert (pruned["authorization_codes"], pruned["browser_sessions"]) == (1, 1)
    with app.app_context():
        assert db.session.query(BrowserSession).count() == 0
