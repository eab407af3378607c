"""``membership.changed`` audit events (SPEC §8): who was added to, changed in or removed from a tenant.

Recorded for additions (``details: {"added": true, "role": ...}``) and for changes of role or
``is_active`` (``details: {field: [old, new]}``), with the caller as actor ("cli" for the
command line) and the user as subject; never for a request that changes nothing or fails.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.api_key_helpers import audit_events, create_key, key_headers
from tests.assertions import assert_error
from tests.factories import Actor, Factory

USERS = "/api/auth/users"
AUDIT = "/api/auth/audit-events"
TYPE = "membership.changed"
NEW_PASSWORD = "a fresh initial password"


@pytest.fixture
def baseline(app: Flask, owner: Actor, admin: Actor, member: Actor) -> int:
    """How many membership events the fixtures themselves left (the factories use the CLI's path)."""
    return len(audit_events(app, TYPE))


FIELDS = ("type", "tenant_id", "actor", "subject", "details")


def new_events(app: Flask, baseline: int) -> list[dict[str, Any]]:
    """The events after ``baseline``, with the fields these tests compare."""
    events = audit_events(app, TYPE)
    assert len(events) >= baseline
    return [{field: event[field] for field in FIELDS} for event in events[baseline:]]


def listed(client: Any, actor: Actor, **query: Any) -> list[dict[str, Any]]:
    response = client.get(AUDIT, headers=actor.headers, query_string={"type": TYPE, "page_size": 100, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: list[dict[str, Any]] = response.get_json()
    return body


def create(client: Any, actor_headers: dict[str, str], email: str, role: str = "member") -> Any:
    return client.post(USERS, json={"email": email, "password": NEW_PASSWORD, "role": role}, headers=actor_headers)


def patch(client: Any, actor: Actor, user_id: str, **body: Any) -> Any:
    return client.patch(f"{USERS}/{user_id}", json=body, headers=actor.headers)


# --- additions --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "admin", "owner"])
def test_creating_a_user_records_the_addition(app, client, owner, baseline, role):
    response = create(client, owner.headers, "bob@acme.test", role)
    assert response.status_code == 201, response.get_data(as_text=True)
    user_id = response.get_json()["id"]

    events = new_events(app, baseline)

    assert events == [
        {
            "type": TYPE,
            "tenant_id": owner.tenant_id,
            "actor": owner.user_id,
            "subject": user_id,
            "details": {"added": True, "role": role},
        }
    ]
    assert NEW_PASSWORD not in json.dumps(events)


def test_an_admin_creating_a_user_is_the_actor(app, client, admin, baseline):
    user_id = create(client, admin.headers, "bob@acme.test").get_json()["id"]

    [event] = new_events(app, baseline)

    assert (event["actor"], event["subject"], event["tenant_id"]) == (admin.user_id, user_id, admin.tenant_id)


def test_an_api_key_creating_a_user_is_the_actor(app, client, owner, baseline):
    key = create_key(client, owner.headers, name="provisioning", scopes=["users:write"])

    response = create(client, key_headers(key["key"]), "bob@acme.test")

    assert response.status_code == 201, response.get_data(as_text=True)
    [event] = new_events(app, baseline)
    assert event["actor"] == key["id"]
    assert event["details"] == {"added": True, "role": "member"}


@pytest.mark.parametrize(
    ("email", "role", "status"),
    [("max@acme.test", "member", 409), ("bob@acme.test", "owner", 403), ("not-an-email", "member", 422)],
    ids=["email-taken", "admin-grants-owner", "bad-input"],
)
def test_a_refused_creation_records_nothing(app, client, admin, baseline, email, role, status):
    assert_error(create(client, admin.headers, email, role), status)

    assert new_events(app, baseline) == []


def test_the_cli_records_a_new_user_and_an_added_membership_with_actor_cli(app, make: Factory):
    acme, globex = make.tenant("acme"), make.tenant("globex")
    runner = app.test_cli_runner()

    created = runner.invoke(
        args=["users", "create", "Zoe@Acme.test", "--tenant", "acme", "--role", "admin", "--password-stdin", "--json"],
        input=NEW_PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    user_id = json.loads(created.output)["id"]
    added = runner.invoke(args=["users", "create", "zoe@acme.test", "--tenant", "globex", "--role", "member"])
    assert added.exit_code == 0, added.output

    events = audit_events(app, TYPE)

    assert sorted((e["tenant_id"], e["details"]["role"]) for e in events) == sorted(
        [(acme.id, "admin"), (globex.id, "member")]
    )
    assert all(e["actor"] == "cli" and e["subject"] == user_id for e in events)
    assert all(e["details"] == {"added": True, "role": e["details"]["role"]} for e in events)
    assert NEW_PASSWORD not in json.dumps(events)


def test_the_cli_refusing_a_duplicate_membership_records_nothing(app, make: Factory):
    make.user("acme", "zoe@acme.test", "member")
    before = len(audit_events(app, TYPE))

    again = app.test_cli_runner().invoke(args=["users", "create", "zoe@acme.test", "--tenant", "acme"])

    assert again.exit_code != 0
    assert len(audit_events(app, TYPE)) == before


# --- changes ----------------------------------------------------------------------------------


def test_a_role_change_records_old_and_new(app, client, owner, member, baseline):
    response = patch(client, owner, member.user_id, role="admin")
    assert response.status_code == 200, response.get_data(as_text=True)

    assert new_events(app, baseline) == [
        {
            "type": TYPE,
            "tenant_id": owner.tenant_id,
            "actor": owner.user_id,
            "subject": member.user_id,
            "details": {"role": ["member", "admin"]},
        }
    ]


def test_deactivating_and_reactivating_by_patch_are_recorded(app, client, owner, member, baseline):
    assert patch(client, owner, member.user_id, is_active=False).status_code == 200
    assert patch(client, owner, member.user_id, is_active=True).status_code == 200

    events = new_events(app, baseline)

    assert sorted(json.dumps(e["details"]) for e in events) == sorted(
        [json.dumps({"is_active": [True, False]}), json.dumps({"is_active": [False, True]})]
    )
    assert all((e["actor"], e["subject"]) == (owner.user_id, member.user_id) for e in events)


def test_role_and_is_active_together_are_one_event(app, client, owner, member, baseline):
    assert patch(client, owner, member.user_id, role="admin", is_active=False).status_code == 200

    [event] = new_events(app, baseline)

    assert event["details"] == {"role": ["member", "admin"], "is_active": [True, False]}


def test_delete_records_the_deactivation(app, client, admin, member, baseline):
    response = client.delete(f"{USERS}/{member.user_id}", headers=admin.headers)
    assert response.status_code == 204, response.get_data(as_text=True)

    assert new_events(app, baseline) == [
        {
            "type": TYPE,
            "tenant_id": admin.tenant_id,
            "actor": admin.user_id,
            "subject": member.user_id,
            "details": {"is_active": [True, False]},
        }
    ]


@pytest.mark.parametrize(
    "body",
    [{}, {"role": "member"}, {"is_active": True}, {"role": "member", "is_active": True}],
    ids=["empty", "same-role", "same-is-active", "both-the-same"],
)
def test_a_patch_that_changes_nothing_records_nothing(app, client, owner, member, baseline, body):
    response = patch(client, owner, member.user_id, **body)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert new_events(app, baseline) == []


def test_deleting_an_inactive_user_again_records_nothing(app, client, owner, member, baseline):
    assert client.delete(f"{USERS}/{member.user_id}", headers=owner.headers).status_code == 204
    assert client.delete(f"{USERS}/{member.user_id}", headers=owner.headers).status_code == 204

    assert len(new_events(app, baseline)) == 1


def test_refused_changes_record_nothing(app, client, owner, admin, member, other_owner, baseline):
    assert_error(patch(client, admin, member.user_id, role="owner"), 403)  # only owners grant owner
    assert_error(patch(client, admin, owner.user_id, role="member"), 403)  # only owners manage owners
    assert_error(patch(client, owner, owner.user_id, role="admin"), 409)  # the last owner stays
    assert_error(patch(client, member, member.user_id, role="admin"), 403)  # no users:write
    assert_error(patch(client, other_owner, member.user_id, role="admin"), 404)  # invisible

    assert new_events(app, baseline) == []


# --- who sees them ----------------------------------------------------------------------------


def test_events_are_listed_for_their_tenant_only(client, owner, member, other_owner):
    created = create(client, owner.headers, "bob@acme.test").get_json()
    assert patch(client, owner, member.user_id, role="admin").status_code == 200
    foreign = create(client, other_owner.headers, "bob@globex.test").get_json()

    mine = listed(client, owner)
    theirs = listed(client, other_owner)

    assert all(e["type"] == TYPE and e["tenant_id"] == owner.tenant_id for e in mine)
    assert all(e["type"] == TYPE and e["tenant_id"] == other_owner.tenant_id for e in theirs)
    by_api = {(e["actor"], e["subject"], json.dumps(e["details"], sort_keys=True)) for e in mine}
    assert (owner.user_id, created["id"], json.dumps({"added": True, "role": "member"})) in by_api
    assert (owner.user_id, member.user_id, json.dumps({"role": ["member", "admin"]})) in by_api
    acme_subjects = {created["id"], member.user_id, owner.user_id}
    assert not acme_subjects & {e["subject"] for e in theirs}
    assert foreign["id"] in {e["subject"] for e in theirs}
    assert foreign["id"] not in {e["subject"] for e in mine}


def test_a_member_cannot_list_them(client, member):
    assert_error(client.get(AUDIT, headers=member.headers, query_string={"type": TYPE}), 403)


def test_the_type_filter_returns_only_membership_events(client, owner, member):
    client.post("/api/auth/login", json={"email": owner.email, "password": "a wrong password"})
    create_key(client, owner.headers, name="noise")
    assert patch(client, owner, member.user_id, role="admin").status_code == 200

    events = listed(client, owner)

    assert events and {e["type"] for e in events} == {TYPE}
