"""The console's navigation: one list, shown to those who may open each page."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for

from outter_auth.console.access import is_admin
from outter_auth.credentials import Principal


@dataclass(frozen=True)
class Item:
    label: str
    endpoint: str
    admins_only: bool = True


ITEMS = (
    Item("API keys", "console.api_keys"),
    Item("Projects", "console.projects"),
    Item("Users", "console.users"),
    Item("OAuth clients", "console.clients"),
    Item("Signing keys", "console.signing_keys"),
    Item("Audit log", "console.audit"),
    Item("Your account", "console.account", admins_only=False),
)


def items_for(principal: Principal | None) -> list[tuple[Item, str, bool]]:
    """(item, its URL, whether it is the current page) for each page this caller may open."""
    if principal is None:
        return []
    admin = is_admin(principal)
    current = request.endpoint or ""
    shown = []
    for item in ITEMS:
        if item.endpoint not in current_app.view_functions or (item.admins_only and not admin):
            continue
        section = item.endpoint.removeprefix("console.")
        here = current == item.endpoint or current.startswith(f"console.{section}_")
        shown.append((item, url_for(item.endpoint), here))
    return shown
