"""Helpers of the Projects and Users console tests: REST calls beside the browser, axe, the
360-px check, keyboard steps and CSRF-less posts."""

from __future__ import annotations

from typing import Any

import requests

from tests.console.helpers import fits_360, serious_violations
from tests.factories import PASSWORD, Factory
from tests.oidc.live import Live


def bearer(make: Factory, email: str, tenant: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {make.login(email, PASSWORD, tenant)['access_token']}"}


def rest_login(live: Live, email: str, password: str = PASSWORD, tenant: str = "acme") -> requests.Response:
    return requests.post(
        live.base + "/api/auth/login", json={"email": email, "password": password, "tenant": tenant}, timeout=10
    )


def api(live: Live, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> requests.Response:
    return requests.request(method, live.base + path, headers=headers, timeout=10, **kwargs)


def check_page(page: Any) -> None:
    """The rules every console page keeps: no serious axe violation, no sideways scroll at 360 px."""
    assert serious_violations(page) == []
    assert fits_360(page), page.url


def tab_to(page: Any, text: str, limit: int = 60) -> None:
    """Press Tab until the focused element's text, label or value is ``text``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; if (!e) return '';
                 const label = e.labels && e.labels[0] ? e.labels[0].textContent : '';
                 return [e.textContent, label, e.getAttribute('aria-label') || ''].map(s => (s || '').trim()); }"""
        )
        if text in focused:
            return
    raise AssertionError(f"Tab never reached {text!r}")


def post_without_csrf(page: Any, live: Live, path: str, data: dict[str, str] | None = None) -> requests.Response:
    """POST ``data`` with the browser's cookies (signed in) but no CSRF token."""
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    return requests.post(live.base + path, data=data or {}, cookies=cookies, allow_redirects=False, timeout=10)


def flash(page: Any) -> str:
    return str(page.locator(".alert--success").inner_text())


def error_summary(page: Any) -> str:
    return str(page.locator(".error-summary").inner_text())
