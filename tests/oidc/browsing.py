"""What a person does on the sign-in pages."""

from __future__ import annotations

from typing import Any

from tests.factories import PASSWORD


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def on_sign_in_page(page: Any) -> bool:
    return page.get_by_role("heading", name="Sign in").count() == 1


def choose(page: Any, button: str) -> None:
    page.get_by_role("button", name=button, exact=True).click()


def back_at(page: Any, url: str) -> str:
    """Wait until the browser is at ``url`` (a prefix) and say where exactly."""
    page.wait_for_url(lambda current: current.startswith(url))
    return str(page.url)
