"""Checks the console tests of OAuth clients and the audit log share."""

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
    """At 360 px wide, nothing scrolls sideways (the viewport is put back afterwards)."""
    size = page.viewport_size
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))
    finally:
        page.set_viewport_size(size)


def browser_session(page: Any, live: Live) -> requests.Session:
    """A requests session carrying the browser's cookies (and so its sign-in), no CSRF token."""
    session = requests.Session()
    for cookie in page.context.cookies(live.base):
        session.cookies.set(cookie["name"], cookie["value"])
    return session


def client_credentials(live: Live, client_id: str, secret: str) -> requests.Response:
    return requests.post(
        live.base + "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(client_id, secret),
        timeout=10,
    )
