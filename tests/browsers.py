"""Fixtures of the browser tests (tests/oidc, tests/console): Chromium through Playwright, a
live service. Defined once, in the root conftest: a session-wide Playwright started twice in
one process (once per conftest that defined it) fails with "Sync API inside the asyncio loop"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask

from tests.integration.servers import CHROMIUM, Echo, chromium_missing, echo_upstream, require
from tests.oidc.live import CHROMIUM_ARGS, Live, serve


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    require(chromium_missing())
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_context(chromium: Any) -> Iterator[Any]:
    """A fresh browser profile (no cookies) per test."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def page(browser_context: Any) -> Any:
    return browser_context.new_page()


@pytest.fixture
def site() -> Iterator[Echo]:
    """The client app's own site on loopback, where its redirect URIs are."""
    with echo_upstream() as echo:
        yield echo


@pytest.fixture
def live(make_app: Callable[..., Flask], site: Echo) -> Iterator[Live]:
    with serve(make_app, site.base) as server:
        yield server
