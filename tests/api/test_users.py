"""/api/auth/users: the users of the caller's tenant, their role and whether they are active."""

from __future__ import annotations

import json

import pytest

from outter_auth.extensions import db
from outter_auth.services import users
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import Conflict
from tests.assertions import assert_error
from tests.factories import PASSWORD, Actor, Factory

URL = "/api/auth/users"
LOGIN = "/api/auth/login"
ME = "/api/auth/me"
USER_FIELDS = {"id", "email", "role", "is_active", "created_at"}
NEW_PASSWORD = "a fresh initial password"


def login(client, email: str, password: str = PASSWORD):
    return client.post(LOGIN, json={"email": email, "password": password})


def get_user(client, actor: Actor, user_id: str) -> dict:
    response = client.get(f"{URL}/{user_id}", headers=actor.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# --- create -----------------------------------------------------------------------------


def test_create_returns_the_user_without_the_password(client, owner):
    response = client.post(URL, json={"email": "Bob@Acme.test", "password": NEW_PASSWORD}, headers=owner.headers)

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_FIELDS
    assert body["email"] == "bob@acme.test"  # stored normalised
    assert body["role"] == "member"  # the default
    assert body["is_active"] is True
    assert NEW_PASSWORD not in response.get_data(as_text=True)
    assert get_user(client, owner, body["id"]) == body


@pytest.mark.parametrize("role", ["owner", "admin", "member"])
def test_owner_creates_users_of_any_role(client, owner, role):
    response = client.post(
        URL, json={"email": "bob@acme.test", "password": NEW_PASSWORD, "role": role}, headers=owner.headers
    )
    assert response.status_code == 201
    assert response.get_json()["role"] == role


def test_the_new_user_can_log_in_with_the_initial_password(client, owner):
    created = client.post(
        URL, json={"email": "bob@acme.test", "password": NEW_PASSWORD, "role": "admin"}, headers=owner.headers
    ).get_json()

    response = login(client, "bob@acme.test", NEW_PASSWORD)

    assert response.status_code == 200
    me = client.get(ME, headers={"Authorization": f"Bearer {response.get_json()['access_token']}"}).get_json()
    assert (me["id"], me["tenant_id"], me["roles"]) == (created["id"], owner.tenant_id, ["admin"])
    assert login(client, "bob@acme.test", "not the password").status_code == 401


@pytest.mark.parametrize("email", ["max@acme.test", "MAX@ACME.TEST"], ids=["same-tenant", "same-tenant-other-case"])
def test_taken_email_is_409_and_the_existing_user_is_untouched(client, owner, member, email):
    response = client.post(URL, json={"email": email, "password": NEW_PASSWORD}, headers=owner.headers)

    assert_error(response, 409)
    # Neither the password nor the tenants of the existing user changed.
    assert login(client, email, NEW_PASSWORD).status_code == 401
    assert login(client, email, PASSWORD).status_code == 200
    listed = client.get(URL, headers=owner.headers).get_json()
    assert sorted(u["email"] for u in listed) == ["max@acme.test", "owner@acme.test"]


def test_an_email_of_another_tenant_is_answered_like_a_new_one(client, owner, other_owner):
    """No existence oracle across tenants (SPEC §3 review, finding 12): the same status and
    body shape as for a new email; the existing user keeps their own password and gains a
    membership here."""
    new = client.post(URL, json={"email": "fresh@acme.test", "password": NEW_PASSWORD}, headers=owner.headers)
    known = client.post(URL, json={"email": other_owner.email, "password": NEW_PASSWORD}, headers=owner.headers)

    assert (new.status_code, known.status_code) == (201, 201)
    assert set(known.get_json()) == set(new.get_json())
    assert known.get_json()["email"] == other_owner.email and known.get_json()["role"] == "member"
    as_acme = {"email": other_owner.email, "tenant": "acme"}
    assert client.post(LOGIN, json={**as_acme, "password": NEW_PASSWORD}).status_code == 401
    assert client.post(LOGIN, json={**as_acme, "password": PASSWORD}).status_code == 200
    again = client.post(URL, json={"email": other_owner.email, "password": NEW_PASSWORD}, headers=owner.headers)
    assert_error(again, 409)  # a member of this tenant now


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("", id="empty"),
        pytest.param("seven77", id="7-chars"),
        pytest.param("a" * 73, id="73-ascii-bytes"),
        pytest.param("é" * 37, id="37-chars-but-74-utf8-bytes"),
    ],
)
def test_weak_password_is_422_and_nothing_is_created(client, owner, password):
    response = client.post(URL, json={"email": "bob@acme.test", "password": password}, headers=owner.headers)

    body = assert_error(response, 422)
    assert "password" in body["errors"]["json"]
    if password:
        assert password not in response.get_data(as_text=True)  # never echoed back
    assert [u["email"] for u in client.get(URL, headers=owner.headers).get_json()] == ["owner@acme.test"]


@pytest.mark.parametrize(
    "password",
    ["eight888", "a" * 72, "é" * 36, "🔑" * 18],
    ids=["8-chars", "72-ascii-bytes", "72-bytes-of-2-byte-chars", "72-bytes-of-emoji"],
)
def test_password_limits_are_inclusive(client, owner, password):
    response = client.post(URL, json={"email": "bob@acme.test", "password": password}, headers=owner.headers)

    assert response.status_code == 201, response.get_json()
    assert login(client, "bob@acme.test", password).status_code == 200


# --- list and get -----------------------------------------------------------------------


def test_list_is_paginated(client, owner, make: Factory):
    for name in ("a", "b", "c"):
        make.user("acme", f"{name}@acme.test")

    first = client.get(URL, query_string={"page_size": 3}, headers=owner.headers)
    second = client.get(URL, query_string={"page_size": 3, "page": 2}, headers=owner.headers)

    assert first.status_code == second.status_code == 200
    assert [u["email"] for u in first.get_json()] == ["owner@acme.test", "a@acme.test", "b@acme.test"]
    assert [u["email"] for u in second.get_json()] == ["c@acme.test"]
    assert all(set(u) == USER_FIELDS for u in first.get_json() + second.get_json())
    assert json.loads(second.headers["X-Pagination"]) == {
        "total": 4,
        "total_pages": 2,
        "first_page": 1,
        "last_page": 2,
        "page": 2,
        "previous_page": 1,
    }


def test_get_returns_the_user(client, owner, member):
    body = get_user(client, owner, member.user_id)
    assert body["id"] == member.user_id
    assert (body["email"], body["role"], body["is_active"]) == ("max@acme.test", "member", True)


def test_get_unknown_id_is_404(client, owner):
    assert assert_error(client.get(f"{URL}/usr_nope", headers=owner.headers), 404)["message"] == "user not found"


# --- patch and delete -------------------------------------------------------------------


@pytest.mark.parametrize(("before", "after"), [("member", "admin"), ("admin", "member"), ("member", "owner")])
def test_owner_changes_a_role(client, owner, make: Factory, before, after):
    user_id = make.user("acme", "bob@acme.test", before)

    response = client.patch(f"{URL}/{user_id}", json={"role": after}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json()["role"] == after
    assert get_user(client, owner, user_id)["role"] == after
    token = login(client, "bob@acme.test").get_json()["access_token"]
    assert client.get(ME, headers={"Authorization": f"Bearer {token}"}).get_json()["roles"] == [after]


def test_patch_is_active_deactivates_and_reactivates(client, owner, member):
    path = f"{URL}/{member.user_id}"

    off = client.patch(path, json={"is_active": False}, headers=owner.headers)
    assert off.status_code == 200 and off.get_json()["is_active"] is False
    assert login(client, member.email).status_code == 403

    on = client.patch(path, json={"is_active": True}, headers=owner.headers)
    assert on.status_code == 200 and on.get_json()["is_active"] is True
    assert login(client, member.email).status_code == 200


def test_delete_deactivates_but_keeps_the_record(client, owner, member):
    response = client.delete(f"{URL}/{member.user_id}", headers=owner.headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    assert get_user(client, owner, member.user_id)["is_active"] is False
    listed = {u["id"]: u for u in client.get(URL, headers=owner.headers).get_json()}
    assert listed[member.user_id]["is_active"] is False
    assert listed[owner.user_id]["is_active"] is True
    refused = login(client, member.email)
    assert refused.status_code == 403
    assert "access_token" not in refused.get_json()


def test_a_deactivated_users_existing_token_is_refused(client, owner, member):
    assert client.get(ME, headers=member.headers).status_code == 200

    client.delete(f"{URL}/{member.user_id}", headers=owner.headers)
    response = client.get(ME, headers=member.headers)

    assert_error(response, 401)
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_demoted_admins_existing_token_loses_management_power_at_once(client, owner, admin, member):
    assert client.get(URL, headers=admin.headers).status_code == 200

    client.patch(f"{URL}/{admin.user_id}", json={"role": "member"}, headers=owner.headers)

    assert_error(client.get(URL, headers=admin.headers), 403)
    assert_error(client.patch(f"{URL}/{member.user_id}", json={"role": "admin"}, headers=admin.headers), 403)
    assert_error(client.post("/api/auth/projects", json={"name": "X", "slug": "x"}, headers=admin.headers), 403)
    assert get_user(client, owner, member.user_id)["role"] == "member"


def test_admin_manages_admins_and_members(client, admin, make: Factory):
    created = client.post(URL, json={"email": "bob@acme.test", "password": NEW_PASSWORD}, headers=admin.headers)
    assert created.status_code == 201
    user_id = created.get_json()["id"]
    path = f"{URL}/{user_id}"

    assert client.patch(path, json={"role": "admin"}, headers=admin.headers).get_json()["role"] == "admin"
    assert client.patch(path, json={"role": "member"}, headers=admin.headers).get_json()["role"] == "member"
    assert client.delete(path, headers=admin.headers).status_code == 204
    assert get_user(client, admin, user_id)["is_active"] is False


# --- the rules that keep a tenant governable --------------------------------------------


def test_admin_cannot_create_an_owner(client, admin, owner):
    response = client.post(
        URL, json={"email": "bob@acme.test", "password": NEW_PASSWORD, "role": "owner"}, headers=admin.headers
    )

    assert_error(response, 403)
    assert "bob@acme.test" not in [u["email"] for u in client.get(URL, headers=owner.headers).get_json()]


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("PATCH", {"role": "admin"}),
        ("PATCH", {"role": "member"}),
        ("PATCH", {"is_active": False}),
        ("DELETE", None),
    ],
    ids=["demote-to-admin", "demote-to-member", "deactivate", "delete"],
)
def test_admin_cannot_modify_an_owner(client, admin, owner, method, body):
    before = get_user(client, owner, owner.user_id)

    response = client.open(f"{URL}/{owner.user_id}", method=method, json=body, headers=admin.headers)

    assert_error(response, 403)
    assert get_user(client, owner, owner.user_id) == before


def test_admin_cannot_grant_the_owner_role(client, admin, owner, member):
    response = client.patch(f"{URL}/{member.user_id}", json={"role": "owner"}, headers=admin.headers)

    assert_error(response, 403)
    assert get_user(client, owner, member.user_id)["role"] == "member"


@pytest.mark.parametrize("role", ["admin", "member"])
def test_the_last_owner_cannot_be_demoted(client, owner, role):
    response = client.patch(f"{URL}/{owner.user_id}", json={"role": role}, headers=owner.headers)

    assert "owner" in assert_error(response, 409)["message"]
    assert get_user(client, owner, owner.user_id)["role"] == "owner"


def test_an_owner_can_step_down_while_another_owner_remains(client, owner, make: Factory):
    make.user("acme", "second@acme.test", "owner")

    response = client.patch(f"{URL}/{owner.user_id}", json={"role": "admin"}, headers=owner.headers)

    assert response.status_code == 200
    assert response.get_json()["role"] == "admin"


def test_a_deactivated_owner_does_not_count_as_the_remaining_owner(client, owner, make: Factory):
    second = make.user("acme", "second@acme.test", "owner")
    assert client.delete(f"{URL}/{second}", headers=owner.headers).status_code == 204

    response = client.patch(f"{URL}/{owner.user_id}", json={"role": "member"}, headers=owner.headers)

    assert_error(response, 409)
    assert get_user(client, owner, owner.user_id)["role"] == "owner"


def test_the_last_active_owner_cannot_be_deactivated(app, client, owner, make: Factory):
    """Over HTTP the only caller who could deactivate the last active owner is that
    owner (admins may not touch owners), and the self rule answers first; so the
    rule itself is checked on the service, with another owner's id as the actor."""
    second = make.user("acme", "second@acme.test", "owner")
    client.delete(f"{URL}/{second}", headers=owner.headers)

    with app.app_context():
        with pytest.raises(Conflict):
            caller = Caller(owner.tenant_id, second, role="owner")
            users.update_member(db.session, caller, owner.user_id, is_active=False)
        db.session.rollback()

    assert get_user(client, owner, owner.user_id)["is_active"] is True


@pytest.mark.parametrize("role", ["owner", "admin"])
@pytest.mark.parametrize(
    ("method", "body"), [("DELETE", None), ("PATCH", {"is_active": False})], ids=["delete", "patch"]
)
def test_nobody_can_deactivate_themselves(client, make: Factory, role, method, body):
    make.user("acme", "keeper@acme.test", "owner")  # so "last owner" is not what refuses it
    actor = make.actor("acme", f"{role}-self@acme.test", role)

    response = client.open(f"{URL}/{actor.user_id}", method=method, json=body, headers=actor.headers)

    assert "yourself" in assert_error(response, 403)["message"]
    assert get_user(client, actor, actor.user_id)["is_active"] is True
    assert client.get(ME, headers=actor.headers).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", URL, None),
        ("POST", URL, {"email": "bob@acme.test", "password": NEW_PASSWORD}),
        ("GET", URL + "/{id}", None),
        ("PATCH", URL + "/{id}", {"role": "admin"}),
        ("DELETE", URL + "/{id}", None),
    ],
    ids=["list", "create", "get", "patch", "delete"],
)
def test_member_gets_403(client, owner, member, make: Factory, method, path, body):
    other = make.user("acme", "other@acme.test", "member")
    before = client.get(URL, headers=owner.headers).get_json()

    response = client.open(path.format(id=other), method=method, json=body, headers=member.headers)

    assert "users:" in assert_error(response, 403)["message"]
    assert client.get(URL, headers=owner.headers).get_json() == before
