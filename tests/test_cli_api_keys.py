"""``outter-auth api-keys create | list | revoke`` (SPEC §10), through ``app.test_cli_runner()``."""

from __future__ import annotations

import json

import pytest

from outter_auth.services import api_key_format
from tests.api_key_helpers import (
    KEY_FIELDS,
    KEY_PATTERN,
    assert_key_refused,
    assert_key_works,
    audit_events,
    create_key,
    create_project,
    get_key,
    me,
    secret_parts,
)


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=list(args))


def cli_create(app, *extra: str, scopes=("content:generate", "content:read")) -> dict:
    args = ["api-keys", "create", "--tenant", "acme", "--name", "N"]
    for scope in scopes:
        args += ["--scope", scope]
    result = run(app, *args, *extra, "--json")
    assert result.exit_code == 0, result.output
    created: dict = json.loads(result.output)
    return created


@pytest.fixture
def acme(make) -> str:
    return make.tenant("acme").id


def test_create_prints_the_fields_and_the_key_once(app, client, acme):
    result = run(
        app,
        "api-keys",
        "create",
        "--tenant",
        "acme",
        "--name",
        "N",
        "--scope",
        "content:generate",
        "--scope",
        "content:read",
        "--json",
    )

    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    raw = created["key"]
    assert set(created) == KEY_FIELDS | {"key"}
    assert KEY_PATTERN.fullmatch(raw) and raw.startswith("outter_live_")
    api_key_format.parse(raw)
    assert result.output.count(raw) == 1
    assert (created["prefix"], created["last4"]) == (raw[:16], raw[-4:])
    assert created["name"] == "N"
    assert created["tenant_id"] == acme
    assert created["scopes"] == ["content:generate", "content:read"]
    assert created["environment"] == "live"
    assert created["project_id"] is None
    assert created["created_by"] == "cli"
    assert created["expires_at"] is None and created["revoked_at"] is None and created["last_used_at"] is None
    described = assert_key_works(client, raw)
    assert (described["id"], described["tenant_id"]) == (created["id"], acme)
    assert sorted(described["scopes"]) == ["content:generate", "content:read"]


def test_create_in_the_test_environment(app, client, acme):
    created = cli_create(app, "--environment", "test")

    assert created["key"].startswith("outter_test_") and created["environment"] == "test"
    assert assert_key_works(client, created["key"])["environment"] == "test"


@pytest.mark.parametrize("by", ["slug", "id"])
def test_create_for_a_project(app, client, owner, by):
    project_id = create_project(client, owner.headers, "web")

    created = cli_create(app, "--project", "web" if by == "slug" else project_id)

    assert created["project_id"] == project_id
    assert assert_key_works(client, created["key"])["project_id"] == project_id


def test_create_by_tenant_id(app, client, acme):
    result = run(app, "api-keys", "create", "--tenant", acme, "--name", "N", "--scope", "a", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["tenant_id"] == acme


def test_create_without_json_prints_the_key_once(app, client, acme):
    result = run(app, "api-keys", "create", "--tenant", "acme", "--name", "N", "--scope", "a")

    assert result.exit_code == 0, result.output
    [raw] = [m.group(0) for m in KEY_PATTERN.finditer(result.output)]
    assert result.output.count(raw) == 1
    assert "once" in result.output
    assert_key_works(client, raw)


def test_create_is_audited_without_the_key(app, acme):
    created = cli_create(app)

    [event] = audit_events(app, "api_key.created")

    assert (event["tenant_id"], event["actor"], event["subject"]) == (acme, "cli", created["id"])
    for secret in secret_parts(created["key"]):
        assert secret not in repr(event)


def test_list_never_prints_a_key(app, client, owner):
    live = cli_create(app)
    test = cli_create(app, "--environment", "test")
    by_api = create_key(client, owner.headers)
    revoked = cli_create(app)
    assert run(app, "api-keys", "revoke", revoked["id"], "--tenant", "acme").exit_code == 0
    raws = [k["key"] for k in (live, test, by_api, revoked)]

    outputs = {}
    for flags in ([], ["--include-revoked"]):
        for fmt in ([], ["--json"]):
            result = run(app, "api-keys", "list", "--tenant", "acme", *flags, *fmt)
            assert result.exit_code == 0, result.output
            outputs[" ".join(flags + fmt)] = result.output

    for output in outputs.values():
        for raw in raws:
            for secret in secret_parts(raw):
                assert secret not in output
    listed = json.loads(outputs["--json"])
    assert {k["id"] for k in listed} == {live["id"], test["id"], by_api["id"]}
    assert all(set(k) == KEY_FIELDS for k in listed)
    every = json.loads(outputs["--include-revoked --json"])
    assert {k["id"] for k in every} == {live["id"], test["id"], by_api["id"], revoked["id"]}
    assert next(k for k in every if k["id"] == revoked["id"])["revoked_at"] is not None
    for key in (live, test, by_api):
        assert key["prefix"] in outputs[""] and key["id"] in outputs[""]


def test_list_shows_only_the_tenant(app, client, owner, other_owner):
    theirs = create_key(client, other_owner.headers)
    ours = cli_create(app)

    result = run(app, "api-keys", "list", "--tenant", "acme", "--include-revoked", "--json")

    assert result.exit_code == 0
    assert {k["id"] for k in json.loads(result.output)} == {ours["id"]}
    assert theirs["id"] not in result.output


def test_list_of_a_tenant_without_keys(app, acme):
    assert json.loads(run(app, "api-keys", "list", "--tenant", "acme", "--json").output) == []
    assert "no API keys" in run(app, "api-keys", "list", "--tenant", "acme").output


def test_revoke_refuses_the_key_at_once(app, client, owner):
    created = cli_create(app)
    assert_key_works(client, created["key"])  # in use, so any cache holds it

    result = run(app, "api-keys", "revoke", created["id"], "--tenant", "acme", "--json")

    assert result.exit_code == 0, result.output
    revoked = json.loads(result.output)
    assert revoked["id"] == created["id"] and revoked["revoked_at"] is not None
    for secret in secret_parts(created["key"]):
        assert secret not in result.output
    assert_key_refused(me(client, created["key"]), "revoked")
    assert get_key(client, owner.headers, created["id"])["revoked_at"] == revoked["revoked_at"]
    [event] = audit_events(app, "api_key.revoked")
    assert (event["actor"], event["subject"]) == ("cli", created["id"])


def test_revoke_a_key_made_through_the_api(app, client, owner):
    created = create_key(client, owner.headers)
    assert_key_works(client, created["key"])

    result = run(app, "api-keys", "revoke", created["id"], "--tenant", "acme")

    assert result.exit_code == 0, result.output
    assert created["id"] in result.output
    assert_key_refused(me(client, created["key"]), "revoked")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["create", "--tenant", "nope", "--name", "N", "--scope", "a"], "no tenant", id="create-tenant"),
        pytest.param(["list", "--tenant", "nope"], "no tenant", id="list-tenant"),
        pytest.param(["revoke", "key_x", "--tenant", "nope"], "no tenant", id="revoke-tenant"),
        pytest.param(
            ["create", "--tenant", "acme", "--name", "N", "--scope", "a", "--project", "nope"],
            "no such project in this tenant",
            id="create-project",
        ),
        pytest.param(["revoke", "key_doesnotexist", "--tenant", "acme"], "not found", id="revoke-unknown-key"),
        pytest.param(
            ["create", "--tenant", "acme", "--name", "N", "--scope", "Not A Scope"], "invalid scope", id="bad-scope"
        ),
        pytest.param(
            ["create", "--tenant", "acme", "--name", "N", "--scope", "a", "--environment", "prod"],
            "Must be one of: live, test.",
            id="bad-env",
        ),
        pytest.param(["create", "--tenant", "acme", "--scope", "a"], "--name", id="missing-name"),
        pytest.param(["create", "--name", "N", "--scope", "a"], "--tenant", id="missing-tenant"),
    ],
)
def test_errors_exit_non_zero_with_a_message(app, acme, args, message):
    result = run(app, "api-keys", *args, "--json")

    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert json.loads(run(app, "api-keys", "list", "--tenant", "acme", "--include-revoked", "--json").output) == []


def test_another_tenants_project_is_no_project(app, client, owner, other_owner):
    create_project(client, other_owner.headers, "secret")

    result = run(app, "api-keys", "create", "--tenant", "acme", "--name", "N", "--no-scopes", "--project", "secret")

    assert result.exit_code != 0
    assert "no such project in this tenant" in result.output


def test_revoking_another_tenants_key_fails_and_leaves_it_working(app, client, owner, other_owner):
    theirs = create_key(client, other_owner.headers)

    result = run(app, "api-keys", "revoke", theirs["id"], "--tenant", "acme")

    assert result.exit_code != 0
    assert "not found" in result.output
    assert_key_works(client, theirs["key"])
    assert get_key(client, other_owner.headers, theirs["id"])["revoked_at"] is None
