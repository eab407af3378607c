"""The command line validates exactly as the REST API does (SPEC §10, issue 13.6): the same
input goes to the API and to the command, both refuse it, and the command's one line holds
the API's message (for a field: its message, after the option or argument that carried it).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask

from tests.api_key_helpers import audit_events

KEYS = "/api/auth/api-keys"
USERS = "/api/auth/users"
PROJECTS = "/api/auth/projects"
CLIENTS = "/api/auth/clients"
PASSWORD = "a long passphrase"


def run(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def api_messages(response: Any) -> list[str]:
    """What the API says: each field's messages for a 422 with errors, else its message."""
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    body = response.get_json()
    fields = body.get("errors", {}).get("json", {})
    if not fields:
        return [body["message"]]
    found: list[str] = []
    for messages in fields.values():
        for item in messages.values() if isinstance(messages, dict) else [messages]:
            found += item
    return found


def assert_refused_alike(result: Any, response: Any) -> str:
    """The command failed in one line that holds every message of the API's answer."""
    assert result.exit_code == 1, result.output
    line = result.output.strip()
    assert line.startswith("Error: ") and "\n" not in line, result.output
    for message in api_messages(response):
        assert message in line, (message, line)
    return line


@pytest.fixture
def acme(owner) -> str:
    return owner.tenant_slug


# --- users create ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "role", "password"),
    [
        pytest.param("not-an-email", None, PASSWORD, id="not-an-email"),
        pytest.param("ann @acme.test", None, PASSWORD, id="space-in-email"),
        pytest.param("ann@acme.test\x07", None, PASSWORD, id="control-character"),
        pytest.param("ann@acme.test", "root", PASSWORD, id="unknown-role"),
        pytest.param("ann@acme.test", None, "short", id="short-password"),
        pytest.param("ann@acme.test", None, "é" * 37, id="password-of-74-bytes"),
    ],
)
def test_users_create_refuses_what_the_api_refuses(app, client, owner, acme, email, role, password):
    body = {"email": email, "password": password, **({"role": role} if role else {})}
    response = client.post(USERS, json=body, headers=owner.headers)

    args = ["users", "create", email, "--tenant", acme, "--password-stdin"] + (["--role", role] if role else [])
    result = run(app, *args, input=password + "\n")

    assert_refused_alike(result, response)
    assert [u["email"] for u in client.get(USERS, headers=owner.headers).get_json()] == [owner.email]


def test_a_bad_email_is_refused_before_the_password_is_asked_for(app, acme):
    result = run(app, "users", "create", "not-an-email", "--tenant", acme)  # no input: a prompt would abort

    assert result.output.strip() == "Error: email: Not a valid email address."


def test_users_create_and_the_api_accept_the_same_email(app, client, owner, acme):
    """0@0.a is an email for the document's rule; both accept it."""
    assert client.post(USERS, json={"email": "0@0.a", "password": PASSWORD}, headers=owner.headers).status_code == 201
    result = run(app, "users", "create", "1@0.a", "--tenant", acme, "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output


# --- api-keys create -------------------------------------------------------------------------


def cli_key(app: Flask, acme: str, *extra: str) -> Any:
    return run(app, "api-keys", "create", "--tenant", acme, *extra, "--json")


@pytest.mark.parametrize(
    ("body", "args"),
    [
        pytest.param({"name": "k"}, ["--name", "k"], id="no-scopes-at-all"),
        pytest.param({"scopes": ["a:b"]}, ["--scope", "a:b"], id="no-name"),
        pytest.param({"name": "", "scopes": []}, ["--name", "", "--no-scopes"], id="empty-name"),
        pytest.param({"name": "x" * 201, "scopes": []}, ["--name", "x" * 201, "--no-scopes"], id="long-name"),
        pytest.param({"name": "a\x1bb", "scopes": []}, ["--name", "a\x1bb", "--no-scopes"], id="escape-in-name"),
        pytest.param({"name": "k", "scopes": ["Not A Scope"]}, ["--name", "k", "--scope", "Not A Scope"], id="scope"),
        pytest.param(
            {"name": "k", "scopes": ["a:b", "c" * 65]}, ["--name", "k", "--scope", "a:b", "--scope", "c" * 65], id="2nd"
        ),
        pytest.param(
            {"name": "k", "scopes": [], "environment": "prod"},
            ["--name", "k", "--no-scopes", "--environment", "prod"],
            id="environment",
        ),
        pytest.param(
            {"name": "k", "scopes": [], "project_id": "prj_nope"},
            ["--name", "k", "--no-scopes", "--project", "prj_nope"],
            id="unknown-project",
        ),
    ],
)
def test_api_keys_create_refuses_what_the_api_refuses(app, client, owner, acme, body, args):
    response = client.post(KEYS, json=body, headers=owner.headers)

    line = assert_refused_alike(cli_key(app, acme, *args), response)

    assert client.get(KEYS, headers=owner.headers, query_string={"include_revoked": "true"}).get_json() == []
    if "scopes" not in body:
        assert line == "Error: --scope (scopes): Missing data for required field."


def test_no_scopes_is_the_apis_empty_list(app, client, owner, acme):
    """The API accepts "scopes": [] (a key that says who calls and may nothing else); the
    command line asks for that in so many words: --no-scopes, never by leaving --scope out."""
    from_api = client.post(KEYS, json={"name": "k", "scopes": []}, headers=owner.headers)
    result = cli_key(app, acme, "--name", "k", "--no-scopes")

    assert from_api.status_code == 201
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["scopes"] == from_api.get_json()["scopes"] == []


def test_scope_and_no_scopes_together_are_a_usage_error(app, acme):
    result = cli_key(app, acme, "--name", "k", "--scope", "a:b", "--no-scopes")

    assert result.exit_code == 2
    assert "give --scope or --no-scopes, not both" in result.output


def test_an_unknown_scope_under_a_catalogue_is_refused_alike(make_app, owner, acme):
    catalogued = make_app(scopes="content:generate")
    response = catalogued.test_client().post(KEYS, json={"name": "k", "scopes": ["other:thing"]}, headers=owner.headers)

    result = cli_key(catalogued, acme, "--name", "k", "--scope", "other:thing")

    assert "not in OUTTER_SCOPES" in assert_refused_alike(result, response)
    assert cli_key(catalogued, acme, "--name", "k", "--scope", "content:generate").exit_code == 0


def test_the_cli_goes_through_the_service(app, acme):
    """What the service does besides checking (the audit event) happens for the CLI too."""
    assert cli_key(app, acme, "--name", "k", "--scope", "a:b").exit_code == 0
    [event] = audit_events(app, "api_key.created")
    assert event["actor"] == "cli" and event["details"]["scopes"] == ["a:b"]


# --- tenants create (the projects API's slug and name rules) ---------------------------------


@pytest.mark.parametrize(
    ("slug", "name"),
    [
        pytest.param("Not A Slug", None, id="bad-slug"),
        pytest.param("-acme", None, id="slug-starting-with-dash"),
        pytest.param("a" * 65, None, id="long-slug"),
        pytest.param("globex", "x" * 201, id="long-name"),
        pytest.param("globex", "", id="empty-name"),
        pytest.param("globex", "Glo\x00bex", id="nul-in-name"),
    ],
)
def test_tenants_create_refuses_what_the_projects_api_refuses(app, client, owner, slug, name):
    body = {"name": "Web" if name is None else name, "slug": slug}
    response = client.post(PROJECTS, json=body, headers=owner.headers)

    result = run(app, "tenants", "create", *(["--name", name] if name is not None else []), "--", slug)

    assert_refused_alike(result, response)
    assert [tenant["slug"] for tenant in json.loads(run(app, "tenants", "list", "--json").output)] == ["acme"]


# --- clients create --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "args"),
    [
        pytest.param({"name": "c"}, [], id="no-grant-type"),
        pytest.param(
            {"name": "c", "grant_types": ["client_credentials"], "scopes": ["Bad Scope!"]},
            ["--grant-type", "client_credentials", "--scope", "Bad Scope!"],
            id="bad-scope",
        ),
        pytest.param(
            {"name": "c", "grant_types": ["client_credentials"], "public": True},
            ["--grant-type", "client_credentials", "--public"],
            id="public-with-a-secret-grant",
        ),
        pytest.param(
            {"name": "c", "grant_types": ["client_credentials"], "redirect_uris": ["javascript:alert(1)"]},
            ["--grant-type", "client_credentials", "--redirect-uri", "javascript:alert(1)"],
            id="bad-redirect-uri",
        ),
        pytest.param(
            {"name": "", "grant_types": ["client_credentials"]}, ["--grant-type", "client_credentials"], id="empty-name"
        ),
    ],
)
def test_clients_create_refuses_what_the_api_refuses(app, client, owner, acme, body, args):
    response = client.post(CLIENTS, json=body, headers=owner.headers)

    result = run(app, "clients", "create", body["name"], "--tenant", acme, *args)

    assert_refused_alike(result, response)
    assert client.get(CLIENTS, headers=owner.headers).get_json() == []


def test_an_unknown_grant_type_is_refused_with_the_operators_list(app, client, owner, acme):
    """The API's enum, and the grants only first-party clients have, which only an operator
    registers (``--first-party``): the same message, one more choice."""
    response = client.post(CLIENTS, json={"name": "c", "grant_types": ["implicit"]}, headers=owner.headers)
    [api_message] = api_messages(response)

    result = run(app, "clients", "create", "c", "--tenant", acme, "--grant-type", "implicit")

    assert api_message == "Must be one of: authorization_code, refresh_token, client_credentials."
    assert result.output.strip() == (
        "Error: --grant-type (grant_types[0]): Must be one of: authorization_code, refresh_token, "
        "client_credentials, password."
    )
