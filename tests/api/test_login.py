"""POST /api/auth/login and the tokens it issues."""

from __future__ import annotations

import dataclasses
from unittest import mock

import jwt as pyjwt
import pytest

from outter_auth.services import passwords
from tests.api_key_helpers import audit_events
from tests.assertions import assert_error
from tests.factories import PASSWORD, Factory

URL = "/api/auth/login"


def test_login_returns_the_spec_token_response(client, make: Factory):
    make.user("acme", "ann@acme.test", "owner")

    response = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD})

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert len(body["refresh_token"]) >= 43  # 256 bits in base64url
    assert "users:write" in body["scope"].split()
    assert response.headers["Cache-Control"] == "no-store"


def test_email_is_compared_case_insensitively(client, make: Factory):
    user_id = make.user("acme", "Ann@Acme.test", "member")
    response = client.post(URL, json={"email": "  ANN@acme.TEST ", "password": PASSWORD})
    assert response.status_code == 200
    token = response.get_json()["access_token"]
    assert pyjwt.decode(token, options={"verify_signature": False})["sub"] == user_id
    me = client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert (me["id"], me["email"]) == (user_id, "ann@acme.test")  # stored normalised


def test_wrong_password_and_unknown_email_answer_alike(client, make: Factory):
    make.user("acme", "ann@acme.test", "member")

    wrong = client.post(URL, json={"email": "ann@acme.test", "password": "not the password"})
    unknown = client.post(URL, json={"email": "nobody@acme.test", "password": "not the password"})

    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.get_json()
        == unknown.get_json()
        == {
            "code": 401,
            "status": "Unauthorized",
            "message": "invalid email or password",
        }
    )
    assert wrong.headers["WWW-Authenticate"] == unknown.headers["WWW-Authenticate"]


def test_unknown_email_still_spends_one_bcrypt_check(client, make: Factory):
    make.user("acme", "ann@acme.test", "member")
    with mock.patch.object(passwords.bcrypt, "checkpw", wraps=passwords.bcrypt.checkpw) as checkpw:
        client.post(URL, json={"email": "nobody@acme.test", "password": "x"})
        unknown_calls = checkpw.call_count
        client.post(URL, json={"email": "ann@acme.test", "password": "x"})
        wrong_calls = checkpw.call_count - unknown_calls
    assert unknown_calls == wrong_calls == 1


def test_unknown_email_costs_what_a_wrong_password_costs(app, make: Factory, monkeypatch):
    """Same time for both (SPEC §5), counted rather than timed: after the first request, each
    path is exactly one bcrypt check at the configured cost (10 here), and nothing else of
    bcrypt's (no hashing). A cost-4 dummy, or a dummy hashed on every request, would show."""
    from outter_auth.extensions import db
    from outter_auth.models import User

    state = app.extensions["outter_auth"]
    monkeypatch.setattr(state, "settings", dataclasses.replace(state.settings, bcrypt_rounds=10))
    make.user("acme", "ann@acme.test", "member")
    with app.app_context():
        user = db.session.query(User).filter_by(email="ann@acme.test").one()
        user.password_hash = passwords.hash_password(PASSWORD, 10)
        db.session.commit()
    client = app.test_client()

    def bcrypt_work(email: str) -> list[str]:
        work: list[str] = []
        real_check, real_hash = passwords.bcrypt.checkpw, passwords.bcrypt.hashpw

        def checkpw(password: bytes, hashed: bytes) -> bool:
            work.append(f"checkpw cost {int(hashed.split(b'$')[2])}")
            return real_check(password, hashed)

        def hashpw(password: bytes, salt: bytes) -> bytes:
            work.append("hashpw")
            return real_hash(password, salt)

        with (
            mock.patch.object(passwords.bcrypt, "checkpw", side_effect=checkpw),
            mock.patch.object(passwords.bcrypt, "hashpw", side_effect=hashpw),
        ):
            assert client.post(URL, json={"email": email, "password": "wrong password"}).status_code == 401
        return work

    bcrypt_work("nobody@acme.test")  # the first unknown email may make the dummy hash once
    assert bcrypt_work("nobody@acme.test") == bcrypt_work("someone@else.test") == ["checkpw cost 10"]
    assert bcrypt_work("ann@acme.test") == ["checkpw cost 10"]


def test_deactivated_user_is_refused_after_the_password_check(client, make: Factory, app):
    from outter_auth.extensions import db
    from outter_auth.models import User

    make.user("acme", "ann@acme.test", "member")
    with app.app_context():
        db.session.query(User).filter_by(email="ann@acme.test").update({"is_active": False})
        db.session.commit()

    right = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD})
    wrong = client.post(URL, json={"email": "ann@acme.test", "password": "wrong password"})

    assert right.status_code == 403
    assert "deactivated" in right.get_json()["message"]
    assert wrong.status_code == 401  # nothing about the account before the password is right


def test_deactivated_membership_cannot_log_in(client, owner, make: Factory):
    user_id = make.user("acme", "bob@acme.test", "member")
    assert client.delete(f"/api/auth/users/{user_id}", headers=owner.headers).status_code == 204

    response = client.post(URL, json={"email": "bob@acme.test", "password": PASSWORD})

    assert response.status_code == 403


def test_user_in_two_tenants_must_name_one(client, make: Factory):
    make.user("acme", "ann@acme.test", "owner")
    make.user("globex", "ann@acme.test", "member")

    response = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD})

    assert response.status_code == 400
    assert "tenant" in response.get_json()["message"]


@pytest.mark.parametrize("ref", ["slug", "id"])
def test_user_in_two_tenants_logs_in_with_tenant(client, make: Factory, ref: str):
    make.user("acme", "ann@acme.test", "owner")
    make.user("globex", "ann@acme.test", "member")
    globex = make.tenant("globex")

    tenant = globex.slug if ref == "slug" else globex.id
    response = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD, "tenant": tenant})

    assert response.status_code == 200
    claims = pyjwt.decode(response.get_json()["access_token"], options={"verify_signature": False})
    assert claims["tenant_id"] == globex.id
    assert claims["roles"] == ["member"]
    assert claims["scope"] == ""


def test_tenant_the_user_is_not_in_is_refused(app, client, make: Factory):
    make.user("acme", "ann@acme.test", "owner")
    make.tenant("globex")

    response = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD, "tenant": "globex"})

    body = assert_error(response, 403)
    assert body["message"] == "no active membership in that tenant"
    assert audit_events(app, "login.succeeded") == []  # no session was started, in either tenant


def test_member_token_has_no_management_scopes(client, make: Factory):
    make.user("acme", "max@acme.test", "member")
    body = client.post(URL, json={"email": "max@acme.test", "password": PASSWORD}).get_json()
    assert body["scope"] == ""


def test_each_login_starts_its_own_session(client, make: Factory):
    make.user("acme", "ann@acme.test", "member")
    first = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD}).get_json()
    second = client.post(URL, json={"email": "ann@acme.test", "password": PASSWORD}).get_json()

    def sid(body):
        return pyjwt.decode(body["access_token"], options={"verify_signature": False})["sid"]

    assert sid(first) != sid(second)
    assert first["refresh_token"] != second["refresh_token"]
