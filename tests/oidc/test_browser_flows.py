"""Sign-in through the browser (SPEC §11), in Chromium, with Authlib's client as the app.

Each test is what a user and a client app do: the app sends the browser to the discovered
``authorization_endpoint``; the user signs in on the hosted page, picks a tenant, allows or
denies on the consent page; the browser comes back to the app's redirect URI with ``code``,
``state`` and ``iss``; the app trades the code (with its PKCE verifier) for tokens, checks the
ID token, and calls the API with the access token.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.factories import Factory
from tests.integration.servers import Echo
from tests.oidc.browsing import back_at, choose, on_sign_in_page, sign_in
from tests.oidc.live import (
    PUBLIC_REDIRECT,
    Live,
    RelyingParty,
    bearer,
    callback,
    outter_app,
    register,
    user,
    verify_id_token,
)

EMAIL = "ada@acme.test"


@pytest.fixture
def member(make: Factory) -> str:
    return user(make, EMAIL, "member")


def test_third_party_confidential_client_with_consent(live: Live, page: Any, site: Echo, member: str):
    client = register(live.app, "Acme Reports", site.base)
    rp = RelyingParty(live, client, client.redirect_uri)

    page.goto(rp.authorization_url())
    assert on_sign_in_page(page)
    assert page.get_by_text("Acme Reports").count() >= 1  # who asks is named
    sign_in(page, EMAIL)

    page.get_by_role("heading", name="Allow Acme Reports to use your Outter account?").wait_for()
    for words in ("Know who you are when you sign in", "See your email address", "Use content:generate"):
        assert page.get_by_text(words).count() == 1, words
    assert page.get_by_text("See the people in your organisation").count() == 0  # a member has no users:read
    choose(page, "Allow")

    url = back_at(page, client.redirect_uri)
    assert callback(url)["state"] == rp.state
    token = rp.exchange(url)
    assert set(token["scope"].split()) == {"openid", "email", "offline_access", "content:generate"}
    assert token["refresh_token"]  # a third party with offline_access
    claims = verify_id_token(live, rp, token)
    assert claims["sub"] == member and claims["email"] == EMAIL and claims["email_verified"] is False

    me = requests.get(live.base + "/api/auth/me", headers=bearer(token), timeout=10)
    assert me.status_code == 200 and me.json()["id"] == member
    assert "content:generate" in me.json()["scopes"]  # a platform scope, for a member
    userinfo = requests.get(live.metadata["userinfo_endpoint"], headers=bearer(token), timeout=10)
    assert userinfo.json() == {"sub": member, "tenant_id": claims["tenant_id"], "email": EMAIL, "email_verified": False}

    # Consent is remembered: the next sign-in of this app goes straight back.
    again = RelyingParty(live, client, client.redirect_uri)
    page.goto(again.authorization_url())
    assert again.exchange(back_at(page, client.redirect_uri))["access_token"]


def test_public_client_with_pkce_on_a_loopback_port(live: Live, page: Any, site: Echo, member: str):
    """A native app: no secret, PKCE, a loopback redirect URI on whatever port it got."""
    client = register(
        live.app, "Acme CLI", site.base, redirect_uri=PUBLIC_REDIRECT, public=True, scope="openid content:generate"
    )
    redirect_uri = f"{site.base}/callback"  # registered without a port
    rp = RelyingParty(live, client, redirect_uri)

    page.goto(rp.authorization_url())
    sign_in(page, EMAIL)
    choose(page, "Allow")

    token = rp.exchange(back_at(page, redirect_uri))
    assert "refresh_token" not in token  # no offline_access: a third party gets none
    assert verify_id_token(live, rp, token)["sub"] == member


def test_single_sign_on_across_two_clients(live: Live, page: Any, site: Echo, member: str):
    first = register(live.app, "Acme Reports", site.base, first_party=True)
    second = register(live.app, "Acme Billing", site.base, first_party=True, path="/billing")

    one = RelyingParty(live, first, first.redirect_uri)
    page.goto(one.authorization_url())
    sign_in(page, EMAIL)
    first_claims = verify_id_token(live, one, one.exchange(back_at(page, first.redirect_uri)))  # no consent

    two = RelyingParty(live, second, second.redirect_uri)
    page.goto(two.authorization_url())
    second_claims = verify_id_token(live, two, two.exchange(back_at(page, second.redirect_uri)))  # no password

    assert second_claims["sub"] == first_claims["sub"] == member
    assert second_claims["sid"] == first_claims["sid"]  # one browser session
    assert second_claims["auth_time"] == first_claims["auth_time"]


def test_prompt_none_answers_login_required_then_consent_required(live: Live, page: Any, site: Echo, member: str):
    client = register(live.app, "Acme Reports", site.base)

    rp = RelyingParty(live, client, client.redirect_uri)
    page.goto(rp.authorization_url(prompt="none"))
    params = callback(back_at(page, client.redirect_uri))
    assert params["error"] == "login_required" and params["state"] == rp.state
    assert params["iss"] == live.metadata["issuer"] and "code" not in params

    home = register(live.app, "Acme Home", site.base, first_party=True, path="/home")
    page.goto(RelyingParty(live, home, home.redirect_uri).authorization_url())
    sign_in(page, EMAIL)
    back_at(page, home.redirect_uri)

    rp = RelyingParty(live, client, client.redirect_uri)
    page.goto(rp.authorization_url(prompt="none"))
    params = callback(back_at(page, client.redirect_uri))
    assert params["error"] == "consent_required" and params["state"] == rp.state

    rp = RelyingParty(live, home, home.redirect_uri)
    page.goto(rp.authorization_url(prompt="none"))
    assert rp.exchange(back_at(page, home.redirect_uri))["access_token"]  # signed in, no consent needed


def test_deny_sends_access_denied_back(live: Live, page: Any, site: Echo, member: str):
    client = register(live.app, "Acme Reports", site.base)
    rp = RelyingParty(live, client, client.redirect_uri)

    page.goto(rp.authorization_url())
    sign_in(page, EMAIL)
    choose(page, "Deny")

    params = callback(back_at(page, client.redirect_uri))
    assert params["error"] == "access_denied"
    assert params["state"] == rp.state and params["iss"] == live.metadata["issuer"]
    assert "code" not in params


def test_logout_ends_the_browser_session_and_its_refresh_tokens(live: Live, page: Any, site: Echo, member: str):
    client = register(live.app, "Acme Reports", site.base, first_party=True)
    rp = RelyingParty(live, client, client.redirect_uri)
    page.goto(rp.authorization_url())
    sign_in(page, EMAIL)
    token = rp.exchange(back_at(page, client.redirect_uri))

    logout = rp.session.create_authorization_url(
        live.metadata["end_session_endpoint"],
        id_token_hint=token["id_token"],
        post_logout_redirect_uri=f"{site.base}/signed-out",
        state="bye-123",
    )[0]
    page.goto(logout)
    assert callback(back_at(page, f"{site.base}/signed-out")) == {"state": "bye-123"}

    refreshed = requests.post(
        live.metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(client.client_id, client.secret or ""),
        timeout=10,
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"
    assert requests.get(live.base + "/api/auth/me", headers=bearer(token), timeout=10).status_code == 401

    page.goto(RelyingParty(live, client, client.redirect_uri).authorization_url())
    assert on_sign_in_page(page)  # signed out: the password again


def test_logout_without_a_hint_asks_first_then_shows_the_signed_out_page(
    live: Live, page: Any, browser_context: Any, site: Echo, member: str
):
    client = register(live.app, "Acme Reports", site.base, first_party=True)
    rp = RelyingParty(live, client, client.redirect_uri)
    page.goto(rp.authorization_url())
    sign_in(page, EMAIL)
    back_at(page, client.redirect_uri)

    page.goto(live.metadata["end_session_endpoint"])
    page.get_by_role("heading", name="Sign out of Outter?").wait_for()
    choose(page, "Sign out")
    page.get_by_role("heading", name="You're signed out").wait_for()
    assert not [c for c in browser_context.cookies() if "outter_session" in c["name"]]
    page.goto(RelyingParty(live, client, client.redirect_uri).authorization_url())
    assert on_sign_in_page(page)


def test_a_user_of_several_tenants_chooses_one(live: Live, page: Any, site: Echo, make: Factory):
    """Through the built-in first-party client, which serves every tenant."""
    user(make, EMAIL, "member", "acme")
    user(make, EMAIL, "admin", "globex")
    builtin = outter_app(site.base)
    rp = RelyingParty(live, builtin, builtin.redirect_uri)

    page.goto(rp.authorization_url())
    sign_in(page, EMAIL)
    page.get_by_role("heading", name="Choose an organisation").wait_for()
    page.get_by_label("globex").check()
    choose(page, "Continue")

    token = rp.exchange(back_at(page, builtin.redirect_uri))
    claims = verify_id_token(live, rp, token)
    assert claims["tenant_id"] == make.tenant("globex").id
    assert "users:read" in token["scope"].split()  # an admin of globex
    assert token["refresh_token"]  # first-party: always

    # The same browser, a client of acme: the session acts for globex, so acme needs its own
    # sign-in; acme is then the only choice, made without asking.
    acme_app = register(live.app, "Acme Reports", site.base, first_party=True)
    rp = RelyingParty(live, acme_app, acme_app.redirect_uri)
    page.goto(rp.authorization_url())
    assert on_sign_in_page(page)
    sign_in(page, EMAIL)
    assert verify_id_token(live, rp, rp.exchange(back_at(page, acme_app.redirect_uri)))["tenant_id"] == (
        make.tenant("acme").id
    )
