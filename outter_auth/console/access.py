"""Who is using the console: the browser's sign-in (SPEC §11), as the caller of the services.

The principal is the one ``credentials.browser_principal`` makes of the sign-in cookie: the
user, acting on the tenant the browser signed in to, with their role's management scopes.
It is read fresh on every page (a sign-out, a deactivation or a demotion counts at once) and
put where ``auth.current_caller()`` finds it, so the console calls the services exactly as
the REST API does: same checks, same ceilings, same audit events.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, redirect, request, url_for

from outter_auth.credentials import Principal, browser_principal
from outter_auth.pages import browser
from outter_auth.runtime import runtime

F = TypeVar("F", bound=Callable[..., Any])

ADMIN_ROLES = frozenset({"owner", "admin"})
HOME = "/console"


def is_admin(principal: Principal) -> bool:
    return bool(ADMIN_ROLES.intersection(principal.roles))


def safe_next(target: str | None) -> str:
    """A console page to come back to after signing in; anything else (another site, a
    scheme-relative ``//host``, a backslash browsers read as a slash) is the console's home."""
    if not target or not target.startswith(HOME) or "\\" in target or target.startswith("//"):
        return HOME
    rest = target[len(HOME) :]
    if rest and rest[0] not in "/?":
        return HOME
    return target


def signed_in(*, admins_only: bool = True) -> Callable[[F], F]:
    """A console page: signed-in browsers only (others go to sign in and come back), and,
    unless ``admins_only`` is False, only owners and admins of the tenant."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = browser_principal(runtime(), browser.cookie_token())
            if principal is None:
                back = request.full_path.rstrip("?") if request.method == "GET" else request.path
                return redirect(url_for("console.sign_in", next=back))
            g.principal = principal
            if admins_only and not is_admin(principal):
                from outter_auth.console.render import problem_page

                return problem_page(
                    403,
                    "Only owners and admins can open this page",
                    "Ask an owner or an admin of your organisation if you need something changed here.",
                )
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorator
