"""The pages as a browser gets them (SPEC §11 "Pages"): accessible (axe-core), usable on a
360-px screen, keyboard first, nothing from another origin, nothing blocked by the CSP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.factories import Factory
from tests.integration.servers import Echo
from tests.oidc.browsing import back_at, choose, sign_in
from tests.oidc.live import Live, RelyingParty, html_site, outter_app, register, user

EMAIL = "ada@acme.test"
SERIOUS = {"serious", "critical"}


@dataclass
class Watched:
    """A page with what it did: requests to other origins and console messages (a CSP refusal
    or a script error shows there)."""

    page: Any
    origin: str
    foreign: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)


@pytest.fixture
def watched(page: Any, live: Live) -> Watched:
    seen = Watched(page, urlsplit(live.base).netloc)

    def request(req: Any) -> None:
        host = urlsplit(req.url).netloc
        if host and host != seen.origin and not req.is_navigation_request():
            seen.foreign.append(req.url)

    page.on("request", request)
    page.on("console", lambda message: seen.console.append(f"{message.type}: {message.text}"))
    return seen


def _at_sign_in(live: Live, site: Echo, watched: Watched) -> RelyingParty:
    client = register(live.app, "Acme Reports", site.base)
    rp = RelyingParty(live, client, client.redirect_uri)
    watched.page.goto(rp.authorization_url())
    return rp


def _sign_in_page(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    _at_sign_in(live, site, watched)


def _sign_in_error(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    _at_sign_in(live, site, watched)
    sign_in(watched.page, EMAIL, "not the password")
    watched.page.get_by_text("There is a problem").wait_for()


def _tenant_choice(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    user(make, EMAIL, "admin", "globex")
    builtin = outter_app(site.base)
    watched.page.goto(RelyingParty(live, builtin, builtin.redirect_uri).authorization_url())
    sign_in(watched.page, EMAIL)
    watched.page.get_by_role("heading", name="Choose an organisation").wait_for()


def _consent(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    _at_sign_in(live, site, watched)
    sign_in(watched.page, EMAIL)
    watched.page.get_by_role("button", name="Allow").wait_for()


def _error(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    watched.page.goto(f"{live.metadata['authorization_endpoint']}?response_type=code&client_id=unknown")


def _confirm_logout(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    _consent(live, site, watched, make)
    watched.page.goto(live.metadata["end_session_endpoint"])
    watched.page.get_by_role("heading", name="Sign out of Outter?").wait_for()


def _signed_out(live: Live, site: Echo, watched: Watched, make: Factory) -> None:
    _confirm_logout(live, site, watched, make)
    choose(watched.page, "Sign out")
    watched.page.get_by_role("heading", name="You're signed out").wait_for()


PAGES: dict[str, Callable[[Live, Echo, Watched, Factory], None]] = {
    "sign-in": _sign_in_page,
    "sign-in-error": _sign_in_error,
    "tenant-choice": _tenant_choice,
    "consent": _consent,
    "error": _error,
    "confirm-logout": _confirm_logout,
    "signed-out": _signed_out,
}


@pytest.fixture(params=list(PAGES))
def shown(request: pytest.FixtureRequest, live: Live, site: Echo, watched: Watched, make: Factory) -> Iterator[str]:
    user(make, EMAIL, "member", "acme")
    PAGES[request.param](live, site, watched, make)
    yield request.param


def test_axe_finds_no_serious_or_critical_violation(shown: str, watched: Watched):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(watched.page)
    violations = results.response["violations"]
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in violations
        if v["impact"] in SERIOUS
    ]
    assert serious == [], serious


def test_the_page_loads_nothing_from_elsewhere_and_breaks_no_rule_of_its_csp(shown: str, watched: Watched):
    watched.page.wait_for_load_state("networkidle")
    assert watched.foreign == []
    refused = [m for m in watched.console if "Content Security Policy" in m or "Refused" in m]
    assert refused == []
    # Only the document's own status is reported (the error pages answer 4xx); no script error.
    assert [m for m in watched.console if "status of" not in m] == []


def test_on_a_360_px_screen_nothing_scrolls_sideways(shown: str, watched: Watched):
    watched.page.set_viewport_size({"width": 360, "height": 740})
    assert watched.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert watched.page.evaluate("document.querySelector('.card').getBoundingClientRect().right <= window.innerWidth")


def test_the_sign_in_form_works_with_the_keyboard_alone(live: Live, site: Echo, watched: Watched, make: Factory):
    user(make, EMAIL, "member", "acme")
    client = register(live.app, "Acme Reports", site.base, first_party=True)
    page = watched.page
    page.goto(RelyingParty(live, client, client.redirect_uri).authorization_url())

    assert page.evaluate("document.activeElement.id") == "email"  # focused on arrival
    page.keyboard.type(EMAIL)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "password"
    page.keyboard.type("not the password")
    page.keyboard.press("Enter")
    page.get_by_text("There is a problem").wait_for()
    # The error summary takes the focus, and links to the field to correct.
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    link = page.get_by_role("link", name="Wrong email or password")
    assert link.get_attribute("href") == "#password"
    assert page.get_by_label("Password").get_attribute("aria-invalid") == "true"
    # Focus is visible: a ring on the focused control.
    page.keyboard.press("Tab")
    assert page.evaluate("getComputedStyle(document.activeElement).boxShadow") != "none"


def test_another_site_cannot_frame_the_login_page(live: Live, site: Echo, watched: Watched, make: Factory):
    """Clickjacking: a page of another origin puts the sign-in page in a frame; Chromium refuses
    to show it (CSP frame-ancestors 'none', X-Frame-Options DENY)."""
    user(make, EMAIL, "member", "acme")
    client = register(live.app, "Acme Reports", site.base)
    login = RelyingParty(live, client, client.redirect_uri).authorization_url()
    page = watched.page
    framing = f'<!doctype html><html lang="en"><title>evil</title><iframe title="login" src="{login}"></iframe>'

    with html_site(framing) as evil:
        page.goto(evil)
        page.wait_for_load_state("networkidle")
        [framed] = [frame for frame in page.frames if frame is not page.main_frame]

        assert framed.url.startswith("chrome-error://"), framed.url
        assert page.frame_locator("iframe").get_by_role("heading", name="Sign in").count() == 0
    assert any("frame-ancestors" in message for message in watched.console), watched.console


def test_the_cookie_in_chromium_is_httponly_lax_and_new_at_every_sign_in(
    live: Live, site: Echo, browser_context: Any, page: Any, make: Factory
):
    user(make, EMAIL, "member", "acme")
    client = register(live.app, "Acme Reports", site.base, first_party=True)

    def session_cookie() -> dict[str, Any]:
        [cookie] = [c for c in browser_context.cookies() if c["name"] == "outter_session"]
        return dict(cookie)

    page.goto(RelyingParty(live, client, client.redirect_uri).authorization_url())
    sign_in(page, EMAIL)
    back_at(page, client.redirect_uri)
    first = session_cookie()
    assert first["httpOnly"] is True and first["sameSite"] == "Lax" and first["path"] == "/"
    assert page.evaluate("document.cookie").find("outter_session") == -1  # scripts cannot read it

    page.goto(RelyingParty(live, client, client.redirect_uri).authorization_url(prompt="login"))
    sign_in(page, EMAIL)
    back_at(page, client.redirect_uri)
    assert session_cookie()["value"] != first["value"]
