"""GET /api/auth/tenant: the caller's own tenant."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.assertions import MISSING_CREDENTIALS_CHALLENGE, assert_error
from tests.factories import Factory

URL = "/api/auth/tenant"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_returns_the_callers_tenant(client, make: Factory, role):
    tenant = make.tenant("initech", "Initech Corporation")
    make.tenant("globex", "Globex")  # another tenant that must not be answered
    actor = make.actor("initech", f"{role}@initech.test", role)

    response = client.get(URL, headers=actor.headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "slug", "name", "created_at"}
    assert (body["id"], body["slug"], body["name"]) == (tenant.id, "initech", "Initech Corporation")
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None


def test_each_tenant_sees_its_own(client, owner, other_owner):
    ours = client.get(URL, headers=owner.headers).get_json()
    theirs = client.get(URL, headers=other_owner.headers).get_json()

    assert (ours["id"], ours["slug"]) == (owner.tenant_id, "acme")
    assert (theirs["id"], theirs["slug"]) == (other_owner.tenant_id, "globex")


def test_a_user_of_two_tenants_sees_the_one_they_logged_in_to(client, make: Factory):
    make.user("acme", "ann@acme.test", "owner")
    globex = make.actor("globex", "ann@acme.test", "admin")

    assert client.get(URL, headers=globex.headers).get_json()["id"] == globex.tenant_id


def test_member_gets_403(client, make: Factory):
    member = make.actor("acme", "max@acme.test", "member")
    assert_error(client.get(URL, headers=member.headers), 403)


def test_no_credentials_is_401_with_a_challenge(client, owner):
    response = client.get(URL)

    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"] == MISSING_CREDENTIALS_CHALLENGE
