"""SPEC §7 "Outages": while the database is unreachable, what was verified recently keeps
being answered from memory (API keys at verify and check, Bearer tokens at check, known
clients at the token endpoint); anything else is 503 with Retry-After, never 200 or 500.

The outage is simulated by making every loader of the caches fail as SQLAlchemy does when
the server is gone, and the caches' clocks jump past their TTL; the real thing (PostgreSQL
stopped under load, two gunicorn workers) is tests/integration/test_chaos.py.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy.exc import OperationalError

from outter_auth.services import api_key_format
from tests.api_key_helpers import create_key
from tests.oauth_helpers import basic_auth, create_client

VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"
TOKEN = "/oauth/token"


class Outage:
    def __init__(self, app, monkeypatch) -> None:
        self.state = app.extensions["outter_auth"]
        self.monkeypatch = monkeypatch

    def begin(self, seconds_later: float = 60.0) -> None:
        """The database goes away; the caches' entries are ``seconds_later`` old by their clocks."""

        def unreachable(*args, **kwargs):
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

        state, patch = self.state, self.monkeypatch
        patch.setattr(state.key_verifier, "_load", unreachable)
        patch.setattr(state.token_state, "_load_member", unreachable)
        patch.setattr(state.token_state, "_load_revoked", unreachable)
        patch.setattr("outter_auth.runtime.find_client", unreachable)
        later = time.monotonic() + seconds_later
        for cache in state._caches:
            patch.setattr(cache, "_timer", lambda: later)


@pytest.fixture
def outage(app, monkeypatch) -> Outage:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield Outage(app, monkeypatch)
    app.config["PROPAGATE_EXCEPTIONS"] = None


def test_a_key_verified_before_the_outage_keeps_verifying(client, owner, outage):
    key = create_key(client, owner.headers)["key"]
    assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 200
    assert client.get(CHECK, headers={"X-API-Key": key}).status_code == 200

    outage.begin()

    assert client.post(VERIFY, headers={"X-API-Key": key}).get_json()["valid"] is True
    assert client.get(CHECK, headers={"X-API-Key": key}).headers["X-Outter-Key-Id"]


@pytest.mark.parametrize("path", [VERIFY, CHECK])
def test_a_key_never_seen_is_503_with_retry_after(client, owner, outage, path):
    key = create_key(client, owner.headers)["key"]  # real, but never verified by this process
    outage.begin()

    response = client.open(path, method="POST" if path == VERIFY else "GET", headers={"X-API-Key": key})

    assert response.status_code == 503 and response.headers["Retry-After"] == "5"


def test_a_key_seen_longer_ago_than_the_stale_ttl_is_503(client, owner, outage, app):
    key = create_key(client, owner.headers)["key"]
    assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 200

    outage.begin(seconds_later=app.extensions["outter_auth"].settings.api_key_stale_ttl + 1)

    assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 503


def test_a_revoked_key_is_never_answered_from_memory(client, owner, outage):
    created = create_key(client, owner.headers)
    assert client.post(VERIFY, headers={"X-API-Key": created["key"]}).status_code == 200
    assert client.delete(f"/api/auth/api-keys/{created['id']}", headers=owner.headers).status_code == 204

    outage.begin()

    assert client.post(VERIFY, headers={"X-API-Key": created["key"]}).status_code == 503


def test_an_expired_key_is_refused_from_memory_too(client, owner, outage):
    from datetime import UTC, datetime, timedelta

    from outter_auth import clock

    clock.freeze(datetime.now(UTC))
    key = create_key(client, owner.headers, expires_in=120)["key"]
    assert client.post(VERIFY, headers={"X-API-Key": key}).status_code == 200
    outage.begin()
    clock.advance(timedelta(seconds=121))

    response = client.post(VERIFY, headers={"X-API-Key": key})

    assert response.status_code == 401 and response.get_json()["code"] == "expired"


def test_a_bearer_token_checked_before_the_outage_keeps_passing_check(client, owner, outage):
    assert client.get(CHECK, headers=owner.headers).status_code == 200

    outage.begin()

    response = client.get(CHECK, headers=owner.headers)
    assert response.status_code == 200 and response.headers["X-Outter-User-Id"] == owner.user_id


def test_a_known_client_still_gets_client_credentials_tokens(app, client, machine, outage):
    headers = basic_auth(machine.client_id, machine.secret)
    assert client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers).status_code == 200
    unknown = create_client(app, "never-used", "client_credentials", scope="users:read")

    outage.begin()

    issued = client.post(TOKEN, data={"grant_type": "client_credentials"}, headers=headers)
    assert issued.status_code == 200 and issued.get_json()["access_token"]
    refused = client.post(
        TOKEN, data={"grant_type": "client_credentials"}, headers=basic_auth(unknown.client_id, unknown.secret)
    )
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "5"
    assert refused.get_json()["error"] == "temporarily_unavailable"  # RFC 6749 §5.2's shape on /oauth/*


def test_a_never_seen_random_key_is_not_a_500(client, outage):
    outage.begin()
    response = client.post(VERIFY, headers={"X-API-Key": api_key_format.generate("live")})
    assert response.status_code == 503
