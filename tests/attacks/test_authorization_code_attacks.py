"""What a reviewer of an authorization server tries (issue 11), against the browser sign-in.

Codes: replay, the two-redemption race, wrong/absent/plain PKCE, redirect URI games, another
client's code, expiry. Pages: unknown clients (never a redirect), CSRF on every form, framing,
session fixation, ``state`` integrity, another tenant's client, lockout and rate limits through
the login page. Tokens: what an independent verifier (PyJWT) makes of the ID token.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from flask import Flask
from sqlalchemy import event

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import BrowserSession, Consent, Session
from outter_auth.services import authorization_codes
from tests.api.test_refresh import sqlite_was_locked
from tests.concurrency import race
from tests.factories import PASSWORD, Factory
from tests.oauth_helpers import assert_oauth_error, basic_auth
from tests.oidc.steps import ISSUER, REDIRECT, Browser, Flow, forms, is_page, location, query, register_app

EMAIL = "ada@acme.test"
COOKIE = "__Host-outter_session"


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


def audit(app: Flask, type: str) -> list[Any]:
    from outter_auth.models import AuditEvent

    with app.app_context():
        return [(e.subject, e.details) for e in db.session.query(AuditEvent).filter_by(type=type)]


# -- codes -------------------------------------------------------------------------------------------


def test_a_code_used_twice_is_refused_and_revokes_what_it_issued(
    app: Flask, browser: Browser, ada: str, third_party: Any
):
    flow = third_party.flow(scope="openid offline_access content:generate")
    code = browser.code(flow, EMAIL)
    first = flow.redeem(browser.client, code)
    assert first.status_code == 200
    token = first.get_json()
    assert browser.client.get("/api/auth/me", headers=bearer(token)).status_code == 200

    replay = flow.redeem(browser.client, code)

    assert_oauth_error(replay, 400, "invalid_grant")
    assert browser.client.get("/api/auth/me", headers=bearer(token)).status_code == 401
    refresh = browser.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        headers=basic_auth(third_party.client_id, third_party.secret),
    )
    assert_oauth_error(refresh, 400, "invalid_grant")
    [(subject, details)] = audit(app, "authorization_code.reused")
    assert details["client_id"] == third_party.client_id and len(details["sessions_ended"]) == 1
    assert code not in str(details) and subject.startswith("acd_")


RACERS = 8


def test_of_concurrent_redemptions_of_one_code_exactly_one_wins(
    app: Flask, browser: Browser, ada: str, third_party: Any
):
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    with app.app_context():
        engine = db.engine
    database_errors: list[str] = []

    def seen(context: Any) -> None:
        database_errors.append(str(context.original_exception))

    event.listen(engine, "handle_error", seen)
    try:
        results = race(app, RACERS, lambda client: flow.redeem(client, code), "redeem")
    finally:
        event.remove(engine, "handle_error", seen)

    errors = [r for r in results if isinstance(r, Exception)]
    statuses = sorted(r.status_code for r in results if not isinstance(r, Exception))
    if engine.dialect.name == "sqlite" and sqlite_was_locked(errors, statuses, database_errors):
        pytest.skip(f"SQLite cannot serve {RACERS} concurrent writers reliably: {database_errors[:1]}")
    assert not errors, errors
    assert statuses.count(200) == 1, statuses
    for response in results:
        if response.status_code != 200:
            assert_oauth_error(response, 400, "invalid_grant")
    with app.app_context():
        assert db.session.query(Session).filter_by(client_id=third_party.client_id).count() == 1


def test_the_loser_of_a_redemption_race_revokes_the_winners_session(
    app: Flask, browser: Browser, ada: str, third_party: Any, monkeypatch: pytest.MonkeyPatch
):
    """The race above, made deterministic: another request redeems the code between this one's
    read of it and its conditional spend (``used_at IS NULL``). This one is refused, and ends
    what the other got: two parties held the code."""
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    original = authorization_codes.redeem
    winner: list[Any] = []

    def redeemed_by_another_first(db_session: Any, record: Any, **kwargs: Any) -> Any:
        if not winner:  # this request has read the code unspent; another one redeems it now
            assert record.used_at is None
            winner.append(original(db_session, record, **kwargs).session.id)
        return original(db_session, record, **kwargs)

    monkeypatch.setattr(authorization_codes, "redeem", redeemed_by_another_first)

    assert_oauth_error(flow.redeem(browser.client, code), 400, "invalid_grant")

    assert winner, "the redemption never reached the conditional spend"
    with app.app_context():
        assert db.session.get(Session, winner[0]).revoked_at is not None
    assert len(audit(app, "authorization_code.reused")) == 1


def test_a_wrong_verifier_gets_nothing(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    assert_oauth_error(flow.redeem(browser.client, code, code_verifier="w" * 64), 400, "invalid_grant")
    assert_oauth_error(flow.redeem(browser.client, code, code_verifier=""), 400, "invalid_request")


def test_the_verifier_is_needed_by_confidential_clients_too(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    form, headers = flow.token_form(code)
    del form["code_verifier"]
    assert_oauth_error(browser.client.post("/oauth/token", data=form, headers=headers), 400, "invalid_request")


@pytest.mark.parametrize(
    "pkce",
    [
        pytest.param({"code_challenge_method": "plain"}, id="plain"),
        pytest.param({"code_challenge": None, "code_challenge_method": None}, id="no-challenge"),
        pytest.param({"code_challenge_method": None}, id="no-method-means-plain"),
        pytest.param({"code_challenge": "short"}, id="malformed-challenge"),
        pytest.param({"code_challenge_method": "S512"}, id="unknown-method"),
    ],
)
def test_pkce_is_s256_or_nothing(browser: Browser, ada: str, third_party: Any, pkce: dict[str, str | None]):
    flow = third_party.flow()
    params = query(location(browser.get(flow.url(**pkce))))
    assert params["error"] == "invalid_request" and params["state"] == flow.state and "code" not in params


def test_a_public_client_needs_pkce_as_well(app: Flask, browser: Browser, ada: str):
    public = register_app(app, "Acme CLI", public=True, redirect_uris=("http://127.0.0.1/callback",))
    flow = public.flow(redirect_uri="http://127.0.0.1:8123/callback")
    assert query(location(browser.get(flow.url(code_challenge_method="plain"))))["error"] == "invalid_request"
    code = browser.code(flow, EMAIL)
    form, _ = flow.token_form(code)
    del form["code_verifier"]
    assert_oauth_error(browser.client.post("/oauth/token", data=form), 400, "invalid_request")
    assert flow.redeem(browser.client, code).status_code == 200


def test_a_code_expires_after_60_seconds(browser: Browser, ada: str, third_party: Any):
    clock.freeze(clock.now())
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    clock.advance(timedelta(seconds=61))
    assert_oauth_error(flow.redeem(browser.client, code), 400, "invalid_grant")


def test_a_code_is_bound_to_its_client(app: Flask, browser: Browser, ada: str, third_party: Any):
    other = register_app(app, "Acme Other")
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    stolen = Flow(other.client_id, REDIRECT, flow.scope, other.secret, verifier=flow.verifier)
    assert_oauth_error(stolen.redeem(browser.client, code), 400, "invalid_grant")
    assert flow.redeem(browser.client, code).status_code == 200  # not burnt by the thief


def test_a_code_is_bound_to_its_redirect_uri(app: Flask, browser: Browser, ada: str):
    two = register_app(app, "Acme Two", redirect_uris=(REDIRECT, "https://app.example/other"))
    flow = two.flow()
    code = browser.code(flow, EMAIL)
    for redirect_uri in ("https://app.example/other", REDIRECT + "/", ""):
        assert_oauth_error(flow.redeem(browser.client, code, redirect_uri=redirect_uri), 400, "invalid_grant")
    assert flow.redeem(browser.client, code).status_code == 200


def test_a_code_dies_with_the_sign_in_behind_it(app: Flask, browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    page = browser.client.get("/oauth/logout")  # asks to confirm...
    browser.submit(page)  # ...and signs out
    assert_oauth_error(flow.redeem(browser.client, code), 400, "invalid_grant")


# -- redirect URIs: a page, never a redirect ----------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param("https://evil.example/callback", id="another-site"),
        pytest.param(REDIRECT + "/more", id="path-appended"),
        pytest.param(REDIRECT + "x", id="suffix"),
        pytest.param("https://app.example/call", id="prefix"),
        pytest.param(REDIRECT + "?next=https://evil.example", id="query-added"),
        pytest.param(REDIRECT + "#frag", id="fragment"),
        pytest.param("https://app.example@evil.example/callback", id="userinfo-before-the-host"),
        pytest.param("https://evil.example@app.example/callback", id="userinfo-at-the-host"),
        pytest.param("https://app.example:8443/callback", id="other-port"),
        pytest.param("http://app.example/callback", id="http"),
        pytest.param("https://APP.example/callback", id="host-case"),
        pytest.param("https://app.example/%63allback", id="percent-encoded"),
        pytest.param("https://app.example.evil.example/callback", id="host-suffix"),
        pytest.param("", id="missing"),
    ],
)
def test_an_unregistered_redirect_uri_gets_a_page_and_no_redirect(
    browser: Browser, ada: str, third_party: Any, redirect_uri: str
):
    flow = third_party.flow()
    response = browser.get(flow.url(redirect_uri=redirect_uri or None))
    assert is_page(response, 400)
    assert "evil" not in response.get_data(as_text=True).split("<details")[0]


def test_a_confidential_clients_loopback_uri_matches_only_its_port(app: Flask, browser: Browser, ada: str):
    loopback = register_app(app, "Acme Local", redirect_uris=("http://127.0.0.1:8000/callback",))
    assert is_page(browser.get(loopback.flow(redirect_uri="http://127.0.0.1:8001/callback").url()), 400)
    assert location(browser.get(loopback.flow().url())).startswith("/signin")


def test_a_public_clients_loopback_uri_matches_any_port_and_nothing_else(app: Flask, browser: Browser, ada: str):
    public = register_app(app, "Acme CLI", public=True, redirect_uris=("http://127.0.0.1/callback",))
    for uri in ("http://127.0.0.1:1/callback", "http://127.0.0.1:65535/callback", "http://127.0.0.1/callback"):
        assert location(browser.get(public.flow(redirect_uri=uri).url())).startswith("/signin"), uri
    for uri in (
        "http://127.0.0.1:8000/other",
        "http://localhost:8000/callback",
        "http://[::1]:8000/callback",
        "http://127.0.0.1:8000@evil.example/callback",
        "http://127.0.0.1:99999/callback",
        "https://127.0.0.1:8000/callback",
    ):
        assert is_page(browser.get(public.flow(redirect_uri=uri).url()), 400), uri


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"client_id": "cli_unknown"}, id="unknown-client"),
        pytest.param({"client_id": None}, id="no-client"),
        pytest.param({"client_id": "x" * 300}, id="absurd-client-id"),
        pytest.param({"client_id": "bad\x00id"}, id="nul-in-client-id"),
    ],
)
def test_an_unknown_client_gets_a_page_and_no_redirect(browser: Browser, ada: str, third_party: Any, params: dict):
    response = browser.get(third_party.flow().url(**params))
    assert is_page(response, 400)


def test_a_repeated_client_id_or_redirect_uri_gets_a_page(browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    assert is_page(browser.get(flow.url() + "&redirect_uri=" + quote("https://evil.example/")), 400)
    assert is_page(browser.get(flow.url() + "&client_id=" + third_party.client_id), 400)


# -- the pages' forms: CSRF, framing, fixation ----------------------------------------------------------


def test_the_login_form_refuses_a_post_without_its_csrf_token(app: Flask, browser: Browser, ada: str, third_party):
    page = browser.follow(browser.get(third_party.flow().url()))
    action = forms(page)[0]["action"]
    attacker = Browser(app.test_client())  # another browser: no CSRF cookie, no token

    for who, data in (
        (attacker, {"email": EMAIL, "password": PASSWORD}),
        (browser, {"email": EMAIL, "password": PASSWORD}),
        (browser, {"email": EMAIL, "password": PASSWORD, "csrf_token": "forged"}),
    ):
        response = who.client.post(action, data=data)
        assert is_page(response, 400)
        assert who.cookie(COOKIE) is None
    assert "There is a problem" in response.get_data(as_text=True)


def test_the_consent_form_refuses_a_post_without_its_csrf_token(
    app: Flask, browser: Browser, ada: str, third_party: Any
):
    page = browser.follow(browser.sign_in(browser.follow(browser.get(third_party.flow().url())), EMAIL))
    action = forms(page)[0]["action"]

    response = browser.client.post(action, data={"decision": "allow"})

    assert is_page(response, 400)
    with app.app_context():
        assert db.session.query(Consent).count() == 0


def test_a_post_to_logout_without_the_confirmations_csrf_token_only_asks(browser: Browser, ada: str, third_party: Any):
    """A form on another site posting to the logout endpoint: asked to confirm, not signed out."""
    browser.code(third_party.flow(), EMAIL)
    for form in ({}, {"csrf_token": "forged"}, {"client_id": third_party.client_id}):
        page = browser.client.post("/oauth/logout", data=form)
        assert is_page(page, 200) and "Sign out of Outter?" in page.get_data(as_text=True)
    flow = third_party.flow()
    assert "code" in query(location(browser.get(flow.url())))  # still signed in


def test_the_login_page_cannot_be_framed(browser: Browser, ada: str, third_party: Any):
    page = browser.follow(browser.get(third_party.flow().url()))
    policy = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"


def test_signing_in_always_sets_a_new_cookie_value(app: Flask, browser: Browser, ada: str, third_party: Any):
    """No session fixation: a token planted in the browser before the password is typed (an
    unknown one, or the attacker's own live session) is never the signed-in one."""
    attacker = Browser(app.test_client())
    make_attacker_session = attacker.follow(attacker.get(third_party.flow().url()))
    attacker.sign_in(make_attacker_session, EMAIL)
    planted = attacker.cookie(COOKIE)
    assert planted

    browser.client.set_cookie(COOKIE, planted)
    page = browser.follow(browser.get(third_party.flow(scope="openid").url(prompt="login")))
    browser.sign_in(page, EMAIL)

    assert browser.cookie(COOKIE) not in (None, planted)
    with app.app_context():
        ended = db.session.query(BrowserSession).filter(BrowserSession.ended_at.isnot(None)).count()
    assert ended == 1  # the planted session ended with the new sign-in
    assert "password" in forms(attacker.follow(attacker.get(third_party.flow().url())))[0]["fields"]


@pytest.mark.parametrize(
    "state",
    ["a b&c=d", "%2F%3D", "ünïcödé ✓", "x" * 500, "<script>alert(1)</script>", "'\"", "+/="],
)
def test_state_comes_back_exactly_as_sent(browser: Browser, ada: str, third_party: Any, state: str):
    flow = third_party.flow()
    flow.state = state
    assert browser.code(flow, EMAIL)  # checks the state of the answer
    denied = third_party.flow()
    denied.state = state
    response = browser.follow(browser.get(denied.url(prompt="consent")))
    assert query(location(browser.decide(response, "deny"))) == {
        "error": "access_denied",
        "error_description": "The resource owner or authorization server denied the request",
        "state": state,
        "iss": ISSUER,
    }


# -- tenants -----------------------------------------------------------------------------------------


def test_another_tenants_client_gets_nothing_of_this_tenant(
    app: Flask, browser: Browser, make: Factory, ada: str, third_party: Any
):
    make.user("globex", "eve@globex.test", "owner", PASSWORD)
    globex = register_app(app, "Globex App", tenant="globex")

    # acme's member signed in (SSO for acme): globex's client asks for a sign-in in globex...
    browser.code(third_party.flow(), EMAIL)
    page = browser.follow(browser.get(globex.flow().url(prompt="none")))
    assert query(location(page))["error"] == "login_required"
    page = browser.follow(browser.get(globex.flow().url()))
    assert is_page(browser.sign_in(page, EMAIL), 403)  # ...which acme's member cannot pass

    # acme's code is worth nothing to globex's client; acme's tokens are inactive to it.
    flow = third_party.flow()
    code = browser.code(flow, EMAIL)
    stolen = Flow(globex.client_id, REDIRECT, flow.scope, globex.secret, verifier=flow.verifier)
    assert_oauth_error(stolen.redeem(browser.client, code), 400, "invalid_grant")
    token = flow.redeem(browser.client, code).get_json()
    introspected = browser.client.post(
        "/oauth/introspect",
        data={"token": token["access_token"]},
        headers=basic_auth(globex.client_id, globex.secret),
    )
    assert introspected.get_json() == {"active": False}


# -- brute force through the login page ------------------------------------------------------------------


def test_lockout_through_the_login_page(make_app: Any, make: Factory, ada: str):
    served = make_app(lockout_threshold=3)
    client_app = register_app(served)
    browser = Browser(served.test_client())
    page = browser.follow(browser.get(client_app.flow().url()))

    for _ in range(3):
        page = browser.sign_in(page, EMAIL, "wrong")
        assert is_page(page, 400) and "Wrong email or password" in page.get_data(as_text=True)
    locked = browser.sign_in(page, EMAIL)  # the right password, too late

    assert is_page(locked, 429) and int(locked.headers["Retry-After"]) > 0
    assert "Too many failed attempts" in locked.get_data(as_text=True)
    assert browser.cookie(COOKIE) is None
    assert len(audit(served, "account.locked")) == 1
    assert len(audit(served, "login.failed")) == 3


def test_the_login_page_and_the_json_login_share_their_budgets(make_app: Any, make: Factory, ada: str):
    served = make_app(rate_limits=True, rate_limit_login_account="3/minute", rate_limit_login_ip="100/minute")
    client_app = register_app(served)
    browser = Browser(served.test_client())
    page = browser.follow(browser.get(client_app.flow().url()))

    page = browser.sign_in(page, EMAIL, "wrong")
    page = browser.sign_in(page, EMAIL, "wrong")
    assert browser.client.post("/api/auth/login", json={"email": EMAIL, "password": "wrong"}).status_code == 401
    refused = browser.sign_in(page, EMAIL)  # the account's budget is spent, on either door

    assert is_page(refused, 429) and int(refused.headers["Retry-After"]) > 0
    api = browser.client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    assert api.status_code == 429


def test_wrong_email_and_wrong_password_look_alike_on_the_page(browser: Browser, ada: str, third_party: Any):
    page = browser.follow(browser.get(third_party.flow().url()))
    wrong_password = browser.sign_in(page, EMAIL, "wrong")
    unknown = browser.sign_in(wrong_password, "nobody@acme.test", "wrong")

    def shown(response: Any) -> str:
        text = response.get_data(as_text=True)
        text = text[text.index("<main") : text.index("</main>")].replace("nobody@acme.test", EMAIL)
        return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "", text)

    assert wrong_password.status_code == unknown.status_code == 400
    assert "Wrong email or password" in shown(unknown)
    assert shown(unknown) == shown(wrong_password)


# -- the ID token, as an independent verifier sees it ---------------------------------------------------


def test_pyjwt_accepts_the_id_token_with_every_check_on(app: Flask, browser: Browser, ada: str, third_party: Any):
    flow = third_party.flow()
    token = flow.redeem(browser.client, browser.code(flow, EMAIL)).get_json()
    jwks = jwt.PyJWKSet.from_dict(browser.client.get("/.well-known/jwks.json").get_json())
    header = jwt.get_unverified_header(token["id_token"])
    key = next(k for k in jwks.keys if k.key_id == header["kid"])

    claims = jwt.decode(
        token["id_token"],
        key.key,
        algorithms=["RS256"],
        audience=third_party.client_id,
        issuer=ISSUER,
        leeway=0,
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "sid", "azp"]},
    )
    assert header["typ"] == "JWT" and header["alg"] == "RS256"
    assert claims["nonce"] == flow.nonce and claims["azp"] == third_party.client_id
    digest = hashlib.sha256(token["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert claims["exp"] - claims["iat"] == 900
    # The access token is not an ID token, nor the other way round: each has its own typ.
    assert jwt.get_unverified_header(token["access_token"])["typ"] == "at+jwt"
    assert browser.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token['id_token']}"}).status_code == (
        401
    )

    for wrong in ({"audience": "another-client"}, {"issuer": "https://evil.example"}):
        with pytest.raises(jwt.InvalidTokenError):
            jwt.decode(
                token["id_token"],
                key.key,
                algorithms=["RS256"],
                **{"audience": third_party.client_id, "issuer": ISSUER, **wrong},
            )
