"""How console pages are answered: the console layout, the page rules of SPEC §11 (CSP,
no-store, no framing), and the messages that say what an action did."""

from __future__ import annotations

from typing import Any

from flask import Response, flash, g, get_flashed_messages

from outter_auth.pages.render import render

SUCCESS = "success"
ERROR = "error"


def page(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    return render(template, status, headers, principal=g.get("principal"), **context)


def problem_page(
    status: int,
    title: str,
    message: str,
    headers: dict[str, str] | None = None,
    link: tuple[str, str] | None = None,
) -> Response:
    """A page that says what went wrong, and (``link``: label, URL) what to do next."""
    return page("console/problem.html", status, headers, title=title, message=message, link=link)


def done(message: str) -> None:
    """Say on the next page what an action did (kept in the signed session cookie: never a secret)."""
    flash(message, SUCCESS)


def messages() -> list[tuple[str, str]]:
    return list(get_flashed_messages(with_categories=True))
