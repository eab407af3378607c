"""client_credentials token reuse (``OUTTER_CLIENT_TOKEN_REUSE``, off by default, issue 14):
a client asking again within the window gets the token it was just given — and a revoked
token is never handed out again, by any worker or instance, with or without Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from outter_auth import clock
from tests.integration.servers import REDIS_URL, redis_reachable, require
from tests.oauth_helpers import (
    OAuthClient,
    assert_token_response,
    create_client,
    revoke,
    token_request,
    unverified_claims,
)


def cc_token(client, oauth_client: OAuthClient) -> str:
    response = token_request(client, {"grant_type": "client_credentials"}, oauth_client)
    return str(assert_token_response(response, refresh=False)["access_token"])


@pytest.fixture
def redis_url() -> str:
    require(redis_reachable())
    return REDIS_URL


@pytest.fixture
def billing(app) -> OAuthClient:
    return create_client(app, "billing", "client_credentials", scope="users:read")


def test_a_client_asking_again_within_the_window_gets_the_same_token(make_app, owner, billing, redis_url):
    client = make_app(client_token_reuse=30, redis_url=redis_url).test_client()
    clock.freeze(datetime.now(UTC))
    first = assert_token_response(token_request(client, {"grant_type": "client_credentials"}, billing), refresh=False)
    clock.advance(10)
    again = assert_token_response(
        token_request(client, {"grant_type": "client_credentials"}, billing), refresh=False, expires_in=890
    )
    assert again["access_token"] == first["access_token"]  # the same token, counted down, never renewed
    clock.advance(21)  # past the 30 s
    later = assert_token_response(token_request(client, {"grant_type": "client_credentials"}, billing), refresh=False)
    assert later["access_token"] != first["access_token"] and later["expires_in"] == 900


def test_without_redis_reuse_stays_off(make_app, owner, billing, caplog):
    """Nobody to ask whether another instance revoked a token: a signature every time."""
    client = make_app(client_token_reuse=30, redis_url="").test_client()
    tokens = {cc_token(client, billing) for _ in range(3)}
    assert len(tokens) == 3
    assert "needs OUTTER_REDIS_URL" in caplog.text


@pytest.mark.parametrize("where", ["same-worker", "other-worker"])
def test_a_revoked_token_is_never_handed_out_again(make_app, owner, billing, redis_url, where):
    """Worker B gave the client a token; the client revokes it through worker A: B must sign a
    new one next time, at once — not once the invalidation reaches it over Redis."""
    b = make_app(client_token_reuse=30, redis_url=redis_url).test_client()
    a = b if where == "same-worker" else make_app(client_token_reuse=30, redis_url=redis_url).test_client()
    token = cc_token(b, billing)
    assert cc_token(b, billing) == token  # reused while nothing happened

    # Nothing is heard over the channel in this test: only the mark can stop B.
    b.application.extensions["outter_auth"].invalidation.stop()
    assert revoke(a, billing, token).status_code == 200

    fresh = cc_token(b, billing)
    assert fresh != token
    assert unverified_claims(fresh)["jti"] != unverified_claims(token)["jti"]


def test_if_redis_cannot_answer_a_fresh_token_is_signed(make_app, owner, billing, redis_url, monkeypatch):
    app = make_app(client_token_reuse=30, redis_url=redis_url)
    client = app.test_client()
    token = cc_token(client, billing)
    monkeypatch.setattr(app.extensions["outter_auth"].revoked_tokens, "is_revoked", lambda jti: None)
    assert cc_token(client, billing) != token
