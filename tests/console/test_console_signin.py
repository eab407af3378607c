"""The console signs in through the browser sign-in (SPEC §12 → §11) and comes back."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tests.factories import Factory
from tests.oidc.browsing import sign_in
from tests.oidc.live import Live


def test_console_without_a_session_signs_in_and_comes_back(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    page.goto(live.base + "/console/account?x=1")
    assert page.get_by_role("heading", name="Sign in").count() == 1
    sign_in(page, "owner@acme.test")
    page.wait_for_url(live.base + "/console/account?x=1")
    assert page.get_by_role("heading", name="Your account").is_visible()
    assert page.get_by_text("owner@acme.test").first.is_visible()


def test_an_sso_session_is_reused(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "admin@acme.test", "admin")
    page.goto(live.base + "/console/account")
    sign_in(page, "admin@acme.test")
    page.wait_for_url(live.base + "/console/account")
    page.context.clear_cookies(name="outter_csrf")  # the console's own state is gone, the sign-in stays
    page.goto(live.base + "/console/signing-keys")
    page.wait_for_url(live.base + "/console/signing-keys")
    assert page.get_by_role("heading", name="Signing keys").is_visible()


def test_the_redirect_to_sign_in_is_a_pkce_authorization_request(live: Live) -> None:
    first = live.get("/console/account")
    assert first.status_code == 302
    start = urlsplit(first.headers["Location"])
    assert start.path == "/console/signin"
    authorize = requests.get(live.base + first.headers["Location"], allow_redirects=False, timeout=10)
    target = urlsplit(authorize.headers["Location"])
    params = parse_qs(target.query)
    assert target.path == "/oauth/authorize"
    assert params["client_id"] == ["outter-app"]
    assert params["redirect_uri"] == [live.base + "/console/signed-in"]
    assert params["code_challenge_method"] == ["S256"]
    assert len(params["state"][0]) >= 32


def test_a_callback_without_the_state_of_this_browser_is_refused(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    page.goto(live.base + "/console/signed-in?code=abc&state=forged&iss=" + live.base)
    assert page.get_by_role("heading", name="You are not signed in to the console").is_visible()


def test_next_never_leaves_the_console(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    page.goto(live.base + "/console/signin?next=//evil.example/console")
    sign_in(page, "owner@acme.test")
    page.wait_for_url(lambda url: url.startswith(live.base + "/console/"))
    assert urlsplit(page.url).netloc == urlsplit(live.base).netloc


def _started(live: Live) -> tuple[requests.Session, str]:
    """A browser (requests session) sent to sign in by the console; returns it and its state."""
    browser = requests.Session()
    start = browser.get(live.base + "/console/signin", allow_redirects=False, timeout=10)
    state = parse_qs(urlsplit(start.headers["Location"]).query)["state"][0]
    return browser, state


def test_an_answer_from_another_issuer_is_refused(live: Live) -> None:
    browser, state = _started(live)
    answer = browser.get(
        live.base + "/console/signed-in",
        params={"code": "x", "state": state, "iss": "https://evil.example"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 400
    assert "came back from another server" in answer.text


def test_an_earlier_code_cannot_be_replayed_into_a_later_sign_in(page: Any, live: Live, make: Factory) -> None:
    make.user("acme", "owner@acme.test", "owner")
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/console/signed-in" in r.url else None)
    page.goto(live.base + "/console/account")
    sign_in(page, "owner@acme.test")
    page.wait_for_url(live.base + "/console/account")
    code = parse_qs(urlsplit(callbacks[0]).query)["code"][0]

    page.goto(live.base + "/console/signin?next=/console/account")  # a new state, signed in already
    page.wait_for_url(live.base + "/console/account")
    start = page.context.request.get(live.base + "/console/signin", max_redirects=0)
    state = parse_qs(urlsplit(start.headers["location"]).query)["state"][0]
    replay = page.context.request.get(
        live.base + "/console/signed-in",
        params={"code": code, "state": state, "iss": live.base},
        max_redirects=0,
    )
    assert replay.status == 400
    assert "already used or has expired" in replay.text()
