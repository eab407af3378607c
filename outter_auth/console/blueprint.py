"""The console's blueprint: every console module registers its views on ``blp``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response
from flask_wtf.csrf import generate_csrf
from sqlalchemy.exc import InterfaceError, OperationalError

from outter_auth.auth import InsufficientScope
from outter_auth.console.render import problem_page
from outter_auth.pages.render import with_page_headers
from outter_auth.services.exceptions import DomainError, NotFound, PermissionDenied

blp = Blueprint("console", __name__, url_prefix="/console")


@blp.context_processor
def _layout() -> dict[str, Any]:
    from outter_auth.console.navigation import items_for
    from outter_auth.console.render import messages
    from outter_auth.pages import browser

    def tenant_name() -> str:
        signed_in = browser.current()
        return (signed_in.tenant_name or "") if signed_in else ""

    return {
        "console_nav": items_for,
        "console_messages": messages,
        "console_tenant_name": tenant_name,
        "csrf_token": generate_csrf,
    }


@blp.after_request
def _page_headers(response: Response) -> Response:
    return with_page_headers(response)


# The app's handlers answer these in JSON for the API; a page answers with a page.
@blp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Response:
    return problem_page(404, "Not found", "There is nothing here, or it belongs to another organisation.")


@blp.errorhandler(PermissionDenied)
@blp.errorhandler(InsufficientScope)
def _forbidden(error: Exception) -> Response:
    return problem_page(403, "You can't do this", str(error).capitalize())


@blp.errorhandler(DomainError)
def _refused(error: DomainError) -> Response:
    return problem_page(400, "That didn't work", str(error).capitalize())


@blp.errorhandler(OperationalError)
@blp.errorhandler(InterfaceError)
def _database_down(error: Exception) -> Response:
    return problem_page(
        503,
        "The console is unavailable",
        "Outter can't reach its database right now. Try again in a minute.",
        headers={"Retry-After": "5"},
    )
