"""``GET /oauth/authorize`` and its pages (SPEC §11): parameters, prompts, tenants, cookies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import AuditEvent, BrowserSession
from tests.factories import PASSWORD, Factory
from tests.oidc.steps import ISSUER, REDIRECT, Browser, forms, is_page, location, query, register_app

EMAIL = "ada@acme.test"


def _answer(browser: Browser, response: Any) -> dict[str, str]:
    """The parameters the client's redirect URI receives."""
    return query(location(browser.follow(response)))


def test_a_signed_in_browser_gets_a_code_with_state_and_iss(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    assert len(code) >= 43  # 256 bits, base64url

    again = third_party.flow()
    params = _answer(browser, browser.get(again.url()))  # consent remembered, SSO: at once
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == again.state and params["iss"] == ISSUER


def test_no_session_goes_to_the_sign_in_page(browser: Browser, ada: str, third_party: Any):
    response = browser.get(third_party.flow().url())

    target = location(response)
    assert target.startswith("/signin?r=")
    page = browser.get(target)
    assert is_page(page, 200)
    assert [sorted(f["fields"]) for f in forms(page)] == [["csrf_token", "email", "password"]]
    assert 'autocomplete="current-password"' in page.get_data(as_text=True)


def test_login_hint_fills_in_the_email(browser: Browser, ada: str, third_party: Any):
    page = browser.follow(browser.get(third_party.flow().url(login_hint=EMAIL)))
    assert forms(page)[0]["fields"]["email"] == EMAIL


@pytest.mark.parametrize("prompt", ["login", "login consent"])
def test_prompt_login_asks_for_the_password_again(browser: Browser, ada: str, third_party: Any, prompt: str):
    browser.code(third_party.flow(), EMAIL)
    flow = third_party.flow()

    page = browser.follow(browser.get(flow.url(prompt=prompt)))
    assert "password" in forms(page)[0]["fields"]
    response = browser.follow(browser.sign_in(page, EMAIL))
    if "consent" in prompt:  # asked again although remembered
        response = browser.follow(browser.decide(response, "allow"))
    assert "code" in query(location(response))


def test_max_age_past_asks_for_the_password_again(browser: Browser, ada: str, third_party: Any):
    clock.freeze(clock.now())
    browser.code(third_party.flow(), EMAIL)
    clock.advance(timedelta(seconds=120))

    assert "code" in _answer(browser, browser.get(third_party.flow().url(max_age="300")))
    page = browser.follow(browser.get(third_party.flow().url(max_age="60")))
    assert "password" in forms(page)[0]["fields"]

    flow = third_party.flow()
    none = _answer(browser, browser.get(flow.url(max_age="60", prompt="none")))
    assert none["error"] == "login_required" and none["state"] == flow.state


def test_the_browser_session_ends_after_its_lifetime(app: Flask, browser: Browser, ada: str, third_party: Any):
    clock.freeze(clock.now())
    browser.code(third_party.flow(), EMAIL)
    clock.advance(timedelta(hours=12, seconds=1))  # OUTTER_BROWSER_SESSION_TTL, 12 h by default

    assert _answer(browser, browser.get(third_party.flow().url(prompt="none")))["error"] == "login_required"


def test_prompt_consent_asks_again(browser: Browser, ada: str, third_party: Any):
    browser.code(third_party.flow(), EMAIL)
    page = browser.follow(browser.get(third_party.flow().url(prompt="consent")))
    assert [b for f in forms(page) for b in f["buttons"]] == [("decision", "allow"), ("decision", "deny")]


def test_a_new_scope_needs_consent_again(browser: Browser, ada: str, third_party: Any):
    browser.code(third_party.flow(scope="openid"), EMAIL)
    page = browser.follow(browser.get(third_party.flow(scope="openid email").url()))
    assert "See your email address" in page.get_data(as_text=True)


def test_first_party_clients_are_not_asked_for_consent(app: Flask, browser: Browser, ada: str):
    first_party = register_app(app, "Acme Home", first_party=True)
    response = browser.follow(browser.sign_in(browser.follow(browser.get(first_party.flow().url())), EMAIL))
    assert "code" in query(location(response))


# -- tenants -----------------------------------------------------------------------------------------


def test_the_tenant_parameter_picks_the_tenant_of_a_user_of_several(make_app: Any, make: Factory, ada: str) -> None:
    make.user("globex", EMAIL, "admin", PASSWORD)
    served = make_app(first_party_redirect_uris=(REDIRECT,))
    browser = Browser(served.test_client())
    builtin = register_builtin()

    code = browser.code(builtin, EMAIL, tenant="globex")  # no tenant page
    token = builtin.redeem(browser.client, code).get_json()
    assert "users:read" in token["scope"].split()  # an admin in globex, a member in acme


def register_builtin() -> Any:
    from tests.oidc.steps import Flow

    return Flow("outter-app", REDIRECT, "openid users:read")


def test_a_user_of_several_tenants_picks_one_on_a_page(make_app: Any, make: Factory, ada: str):
    make.user("globex", EMAIL, "admin", PASSWORD)
    served = make_app(first_party_redirect_uris=(REDIRECT,))
    browser = Browser(served.test_client())
    flow = register_builtin()

    page = browser.follow(browser.sign_in(browser.follow(browser.get(flow.url())), EMAIL))
    assert "Choose an organisation" in page.get_data(as_text=True)
    missing = browser.submit(page)
    assert is_page(missing, 400) and "Choose an organisation" in missing.get_data(as_text=True)
    foreign = browser.submit(page, tenant=make.tenant("initech").id)  # not one of the choices
    assert is_page(foreign, 400)

    chosen = browser.follow(browser.submit(page, tenant=make.tenant("globex").id))
    code = query(location(chosen))["code"]
    assert flow.redeem(browser.client, code).get_json()["scope"] == "openid users:read"


def test_a_member_of_another_tenant_cannot_sign_in_to_a_tenants_client(
    app: Flask, browser: Browser, make: Factory, third_party: Any
):
    make.user("globex", "eve@globex.test", "owner", PASSWORD)
    page = browser.follow(browser.get(third_party.flow().url()))

    refused = browser.sign_in(page, "eve@globex.test")

    assert is_page(refused, 403)
    assert "can&#39;t be used to sign in to Acme Reports" in refused.get_data(as_text=True)
    assert browser.cookie("__Host-outter_session") is None


# -- the cookie ----------------------------------------------------------------------------------------


def test_the_session_cookie_is_host_only_secure_httponly_lax_on_https(browser: Browser, ada: str, third_party: Any):
    page = browser.follow(browser.get(third_party.flow().url()))
    response = browser.sign_in(page, EMAIL)

    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-outter_session=")]
    assert len(cookies) == 1, response.headers.getlist("Set-Cookie")
    attributes = {part.strip().split("=")[0].lower() for part in cookies[0].split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes and "domain" not in attributes
    assert "SameSite=Lax" in cookies[0] and "Path=/" in cookies[0]
    assert len(cookies[0].split(";")[0].split("=", 1)[1]) >= 43  # 256 bits


def test_on_http_the_cookie_has_no_secure_prefix(make_app: Any, make: Factory, ada: str):
    served = make_app(issuer="http://localhost:5000")
    app_client = register_app(served)
    browser = Browser(served.test_client())
    page = browser.follow(browser.get(app_client.flow().url()))
    cookie = next(c for c in browser.sign_in(page, EMAIL).headers.getlist("Set-Cookie") if "outter_session=" in c)
    assert cookie.startswith("outter_session=") and "Secure" not in cookie and "HttpOnly" in cookie


def test_the_database_keeps_only_a_digest_of_the_cookie(app: Flask, browser: Browser, ada: str, third_party: Any):
    browser.code(third_party.flow(), EMAIL)
    token = browser.cookie("__Host-outter_session")
    assert token
    with app.app_context():
        for record in db.session.query(BrowserSession):
            assert token.encode() not in record.token_digest and len(record.token_digest) == 32
        events = db.session.query(AuditEvent).all()
        assert all(token not in str(e.details) for e in events)


def test_pages_and_redirects_are_never_cached(browser: Browser, ada: str, third_party: Any):
    first = browser.get(third_party.flow().url())
    page = browser.follow(first)
    signed_in = browser.sign_in(page, EMAIL)
    for response in (first, page, signed_in):
        assert response.headers["Cache-Control"] == "no-store", response.headers
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in page.headers["Content-Security-Policy"]


# -- request checks that go back to the client -----------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        pytest.param({"response_type": "token"}, "unsupported_response_type", id="implicit"),
        pytest.param({"scope": "openid admin:everything"}, "invalid_scope", id="scope-beyond-the-client"),
        pytest.param({"scope": "Bad Scope"}, "invalid_scope", id="malformed-scope"),
        pytest.param({"prompt": "none login"}, "invalid_request", id="prompt-none-with-another"),
        pytest.param({"prompt": "select_account"}, "invalid_request", id="prompt-unknown"),
        pytest.param({"max_age": "soon"}, "invalid_request", id="max-age-not-a-number"),
        pytest.param({"response_mode": "fragment"}, "invalid_request", id="response-mode"),
        pytest.param({"request": "eyJ..."}, "request_not_supported", id="request-object"),
        pytest.param({"request_uri": "https://x.example/r"}, "request_uri_not_supported", id="request-uri"),
        pytest.param({"nonce": "n" * 256}, "invalid_request", id="nonce-too-long"),
    ],
)
def test_a_bad_request_from_a_known_client_goes_back_with_the_error(
    browser: Browser, ada: str, third_party: Any, extra: dict[str, str], error: str
):
    flow = third_party.flow()
    params = query(location(browser.get(flow.url(**extra))))
    assert params["error"] == error, params
    assert params["state"] == flow.state and params["iss"] == ISSUER and "code" not in params


def test_a_repeated_parameter_goes_back_as_invalid_request(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    response = browser.get(flow.url() + "&nonce=again")
    assert query(location(response))["error"] == "invalid_request"


def test_a_nonce_used_before_by_the_client_is_refused(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    browser.code(flow, EMAIL)
    replay = third_party.flow()
    replay.nonce = flow.nonce
    assert query(location(browser.get(replay.url())))["error"] == "invalid_request"


def test_without_openid_there_is_no_id_token(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow(scope="content:generate")
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    assert token["scope"] == "content:generate" and "id_token" not in token and "refresh_token" not in token


def test_a_sign_in_page_link_expires(browser: Browser, ada: str, third_party: Any):
    clock.freeze(clock.now())
    target = location(browser.get(third_party.flow().url()))
    clock.advance(timedelta(minutes=31))
    assert is_page(browser.get(target), 400)
    assert is_page(browser.get("/signin?r=forged"), 400)
    assert is_page(browser.get("/signin/consent"), 400)


def test_the_sign_in_cookie_resolves_to_the_user_in_one_place(app: Flask, browser: Browser, ada: str, third_party):
    """``credentials.browser_principal``: what the pages (and the console) know of a browser."""
    from outter_auth.credentials import browser_principal
    from outter_auth.runtime import runtime

    browser.code(third_party.flow(), EMAIL)
    token = browser.cookie("__Host-outter_session")
    with app.test_request_context():
        principal = browser_principal(runtime(), token)
        assert principal is not None
        assert (principal.type, principal.id, principal.roles, principal.email) == ("user", ada, ("member",), EMAIL)
        assert principal.browser_session_id and principal.scopes == frozenset()  # a member manages nothing
        assert browser_principal(runtime(), "not-a-session") is None
        assert browser_principal(runtime(), None) is None
