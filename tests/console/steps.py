"""What an admin does in the console."""

from __future__ import annotations

from typing import Any

from tests.factories import PASSWORD
from tests.oidc.browsing import sign_in
from tests.oidc.live import Live


def open_console(page: Any, live: Live, email: str, path: str = "/console", password: str = PASSWORD) -> Any:
    """Go to ``path``; sign in through the hosted login page if asked; wait to be back."""
    page.goto(live.base + path)
    if page.get_by_role("heading", name="Sign in").count():
        sign_in(page, email, password)
    page.wait_for_url(lambda url: "/console" in url and "/console/signin" not in url and "signed-in" not in url)
    return page
