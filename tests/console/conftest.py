"""Fixtures of the console tests (Chromium, ``live`` and ``page`` are the root conftest's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.factories import Factory
from tests.oidc.live import Live


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
