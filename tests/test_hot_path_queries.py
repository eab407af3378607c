"""What the hot paths ask the database, counted (issue 14): a cached API key at verify and
check asks nothing, a Bearer token checked before asks nothing, and a client_credentials
token asks at most one statement (reading its client; nothing once the client is cached)."""

from __future__ import annotations

import pytest

from outter_auth.extensions import db
from tests.api_key_helpers import create_key
from tests.oauth_helpers import basic_auth, create_client
from tests.queries import QueryCounter

VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"


@pytest.fixture
def counted(app):
    with app.app_context():
        yield lambda: QueryCounter(db.engine)


def engine_of(app):
    with app.app_context():
        return db.engine


def test_a_cached_key_costs_no_statement_at_verify_or_check(client, owner, counted):
    key = create_key(client, owner.headers)["key"]
    assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 200  # read once

    with counted() as counter:
        for _ in range(50):
            assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 200
            assert client.get(CHECK, headers={"X-API-Key": key}).status_code == 200

    assert counter.statements == []


def test_a_checked_bearer_token_costs_no_statement(client, owner, counted):
    assert client.get(CHECK, headers=owner.headers).status_code == 200

    with counted() as counter:
        for _ in range(50):
            assert client.get(CHECK, headers=owner.headers).status_code == 200

    assert counter.statements == []


@pytest.mark.parametrize("reuse", [0, 30], ids=["a-signature-each-time", "reuse"])
def test_a_client_credentials_token_costs_at_most_one_statement(make_app, owner, reuse):
    app = make_app(client_token_reuse=reuse)
    machine = create_client(app, "billing", "client_credentials", scope="users:read")
    headers = basic_auth(machine.client_id, machine.secret)
    client = app.test_client()
    token = {"grant_type": "client_credentials"}

    with QueryCounter(engine_of(app)) as first:
        assert client.post("/oauth/token", data=token, headers=headers).status_code == 200
    with QueryCounter(engine_of(app)) as later:
        for _ in range(20):
            assert client.post("/oauth/token", data=token, headers=headers).status_code == 200

    assert len(first.statements) == 1 and "oauth_clients" in first.statements[0], first.statements
    assert later.statements == [], later.statements
