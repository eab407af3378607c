"""examples/flask_client (the README's walk-through) against a live service, in Chromium."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from tests.factories import Factory
from tests.integration.servers import Echo
from tests.oidc.browsing import choose, sign_in
from tests.oidc.live import Live, _LateApp, register, user

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flask_client" / "app.py"
EMAIL = "ada@acme.test"


@pytest.fixture
def example(live: Live, site: Echo, make: Factory, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example app on loopback, registered as a third-party client; yields its address."""
    user(make, EMAIL, "member", "acme")
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    client = register(live.app, "Example app", site.base, redirect_uri=f"{base}/callback", scope="openid email")
    with live.app.app_context():  # where it may come back after logout
        from outter_auth.extensions import db
        from outter_auth.models import OAuthClient

        db.session.get(OAuthClient, client.client_id).post_logout_redirect_uris = [f"{base}/"]
        db.session.commit()
    monkeypatch.setenv("OUTTER_URL", live.base)
    monkeypatch.setenv("CLIENT_ID", client.client_id)
    monkeypatch.setenv("CLIENT_SECRET", client.secret or "")
    spec = importlib.util.spec_from_file_location("example_flask_client", EXAMPLE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    late.app = module.app
    thread = threading.Thread(target=server.serve_forever, name="example-app", daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_the_example_app_signs_a_user_in_and_calls_the_api(example: str, page: Any):
    page.goto(example)
    page.get_by_role("link", name="Sign in with Outter").click()
    sign_in(page, EMAIL)
    choose(page, "Allow")

    page.get_by_text(f"Signed in as {EMAIL}.").wait_for()
    assert '"type": "user"' in page.inner_text("pre") or '"type":"user"' in page.inner_text("pre")
    assert "GET /api/auth/me answered 200" in page.inner_text("body")

    page.get_by_role("link", name="Sign out").click()
    page.get_by_text("Not signed in.").wait_for()
    assert page.url.startswith(f"{example}/")  # back at the app (with the state of the logout)
