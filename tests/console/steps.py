"""What an admin does in the console."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tests.factories import PASSWORD
from tests.oidc.browsing import sign_in
from tests.oidc.live import Live

SIGN_IN_PATHS = ("/console/signin", "/console/signed-in")


def open_console(page: Any, live: Live, email: str, path: str = "/console", password: str = PASSWORD) -> Any:
    """Go to ``path``; sign in through the hosted login page if asked; wait to be back."""
    page.goto(live.base + path)
    if page.get_by_role("heading", name="Sign in").count():
        sign_in(page, email, password)
    page.wait_for_url(lambda url: urlsplit(url).path.startswith("/console") and urlsplit(url).path not in SIGN_IN_PATHS)
    return page
