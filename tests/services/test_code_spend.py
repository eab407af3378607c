"""``authorization_codes.spend``: the console's code is spent without issuing anything, once."""

from __future__ import annotations

import pytest
from flask import Flask

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import User
from outter_auth.services import authorization_codes, browser_sessions
from outter_auth.services.authorization_codes import CodeBinding, CodeRefused
from tests.factories import Factory


def test_a_code_is_spent_once_and_a_replay_is_refused(app: Flask) -> None:
    make = Factory(app)
    user_id = make.user("acme", "owner@acme.test", "owner")
    tenant = make.tenant("acme")
    with app.app_context():
        user = db.session.get(User, user_id)
        _token, browser = browser_sessions.start(db.session, user, tenant.id, 3600)
        code = authorization_codes.new_code()
        binding = CodeBinding(
            "outter-app", user_id, tenant.id, browser.id, "http://localhost/console/signed-in",
            ("openid",), "challenge", "S256", None, clock.now(),
        )  # fmt: skip
        record = authorization_codes.issue(db.session, code, binding)

        assert authorization_codes.spend(db.session, record) is True
        assert authorization_codes.spend(db.session, record) is False
        with pytest.raises(CodeRefused):
            authorization_codes.find(db.session, code, "outter-app")
