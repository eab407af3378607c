"""Fixtures of the console tests: the browser sign-in tests' Chromium and live service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from tests.factories import Factory
from tests.oidc.conftest import browser_context, chromium, live, page, site  # noqa: F401
from tests.oidc.live import Live

__all__ = ["browser_context", "chromium", "live", "page", "site"]


@pytest.fixture
def make(live: Live) -> Factory:
    """Tenants and users in the live service's database."""
    return Factory(live.app)


@pytest.fixture
def open_console(live: Live) -> Callable[..., Any]:
    """Open a console page in ``page``, signing in as ``email`` on the way."""
    from tests.console.steps import open_console as opened

    def go(page: Any, email: str, path: str = "/console") -> Any:
        return opened(page, live, email, path)

    return go


__all__ += ["make", "open_console", "Flask"]
