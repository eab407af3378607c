"""Checks every console test shares: axe, the 360-px screen, a session with the browser's cookies."""

from __future__ import annotations

from typing import Any

import requests

from tests.oidc.live import Live

SERIOUS = {"serious", "critical"}


def serious_violations(page: Any) -> list[tuple[str, str, list[str]]]:
    """axe-core's serious and critical violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    return [
        (page.url, violation["id"], [node["target"] for node in violation["nodes"]][:3])
        for violation in results.response["violations"]
        if violation.get("impact") in SERIOUS
    ]


def fits_360(page: Any) -> bool:
    """At 360 px wide, nothing scrolls sideways (the viewport is put back afterwards).

    Measured once the stylesheets are in: a page read as soon as an element appears (a new key
    after a POST) may not be laid out by its CSS yet, and is then wider than the screen."""
    page.wait_for_load_state("load")
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
    finally:
        page.set_viewport_size(size)


def browser_session(page: Any) -> requests.Session:
    """A requests session with the browser's cookies (its sign-in and its CSRF cookie), and no
    CSRF token in what it sends."""
    session = requests.Session()
    for cookie in page.context.cookies():
        session.cookies.set(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])
    return session


def client_credentials(live: Live, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        live.base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
