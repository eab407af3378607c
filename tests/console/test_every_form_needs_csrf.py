"""Every console route that takes a POST refuses one without a CSRF token (SPEC §12: "every
form CSRF-protected"), whichever route is added next: the routes are read from the URL map."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from outter_auth.extensions import db
from outter_auth.models import User
from outter_auth.pages.browser import cookie_name
from outter_auth.runtime import runtime
from outter_auth.services import api_keys, browser_sessions
from outter_auth.services.ceilings import Caller
from tests.factories import Factory

NO_FORM = {"/console/signin", "/console/signed-in"}  # GET only: the sign-in's round trip


def post_routes(app: Flask) -> list[str]:
    rules = [rule for rule in app.url_map.iter_rules() if rule.rule.startswith("/console")]
    return sorted(rule.rule for rule in rules if "POST" in (rule.methods or ()) and rule.rule not in NO_FORM)


def test_the_console_has_the_forms_this_test_walks(app: Flask) -> None:
    routes = post_routes(app)
    for area in ("api-keys", "projects", "users", "clients", "account"):
        assert any(f"/console/{area}" in route for route in routes), area


def test_no_console_post_acts_without_its_csrf_token(app: Flask) -> None:
    make = Factory(app)
    user_id = make.user("acme", "owner@acme.test", "owner")
    tenant = make.tenant("acme")
    with app.app_context():
        user = db.session.get(User, user_id)
        token, _ = browser_sessions.start(db.session, user, tenant.id, 3600)
        key, _raw = api_keys.create_key(
            db.session,
            Caller(tenant.id, "cli"),
            api_keys.KeyDraft("k", ["users:read"], "live", None, None, None),
            peppers=runtime().peppers,
            catalogue=runtime().settings.scopes,
        )
        key_id = key.id
        name = cookie_name(runtime().settings)
    client = app.test_client()
    client.set_cookie(name, token)
    ids = {"key_id": key_id, "project_id": "prj_x", "user_id": user_id, "client_id": "cli_x"}
    answers = {}
    for route in post_routes(app):
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m: ids.get(m.group(1), "x"), route)
        response = client.post(url, data={"name": "changed", "grace": "0", "role": "member"})
        answers[url] = response.status_code
    acted = {url: status for url, status in answers.items() if status < 400}
    assert acted == {}, acted  # 400 (no token) or 404 (no such object): never done
    assert 400 in answers.values()
    with app.app_context():
        assert db.session.get(type(key), key_id).revoked_at is None
        assert db.session.get(type(key), key_id).name == "k"


@pytest.fixture(autouse=True)
def _csrf_on(app: Flask) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True) is True
