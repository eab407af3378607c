"""What the token endpoints hand out: the RFC 6749 §5.1 body, a session's tokens, and a
client's token handed out again within the reuse window."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.scopes import MANAGEMENT_SCOPES
from outter_auth.services import sessions, tokens, users
from outter_auth.services.client_tokens import ClientTokenReuse
from outter_auth.services.clients import ClientInfo
from outter_auth.services.issuance import TokenIssuer, token_body

BILLING = ClientInfo("cli_billing", "ten_1", "Billing", False, False, ("client_credentials",), ("a:x", "b:y"), ())
T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


# --- the body ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "scope"),
    [(["users:read", "content:generate"], "users:read content:generate"), ([], ""), (("one",), "one")],
    ids=["two-in-order", "none", "tuple"],
)
def test_token_body_without_a_refresh_token(scopes, scope):
    assert token_body("a.b.c", 900, scopes) == {
        "access_token": "a.b.c",
        "token_type": "Bearer",
        "expires_in": 900,
        "scope": scope,
    }


def test_token_body_with_a_refresh_token():
    body = token_body("a.b.c", 60, ["x"], refresh_token="r" * 43)

    assert list(body) == ["access_token", "token_type", "expires_in", "scope", "refresh_token"]
    assert body["refresh_token"] == "r" * 43


# --- a session's tokens --------------------------------------------------------------------------


class NothingRevoked:
    """Redis's answer when no token of the client was revoked (the marks: test_client_token_reuse)."""

    def is_revoked(self, jti: str) -> bool:
        return False


def issuer(reuse_seconds: int = 30) -> TokenIssuer:
    state = runtime()
    return TokenIssuer(state.keystore, state.token_settings, ClientTokenReuse(reuse_seconds, NothingRevoked()))


def claims_of(token: str) -> dict:
    state = runtime()
    return tokens.verify_access_token(token, state.keystore.ring(), state.token_settings)


@pytest.fixture
def active(ctx, make) -> sessions.ActiveSession:
    user_id = make.user("acme", "ann@acme.test", "admin")
    membership = users.get_member(db.session, make.tenant("acme").id, user_id)
    return sessions.start_session(
        db.session,
        membership,
        "outter-app",
        3600,
        client_scopes=MANAGEMENT_SCOPES,
        requested_scopes=["users:read", "x:y"],
    )


def test_session_tokens_act_for_the_member_in_the_session(active):
    body = issuer().session_tokens(active)

    assert set(body) == {"access_token", "token_type", "expires_in", "scope", "refresh_token"}
    assert body["refresh_token"] == active.refresh_token
    assert body["expires_in"] == runtime().token_settings.ttl
    assert body["scope"] == "users:read"  # x:y is no scope of the role: narrowed away at the start
    claims = claims_of(body["access_token"])
    assert claims["sub"] == active.membership.user_id
    assert claims["sid"] == active.session.id
    assert claims["client_id"] == "outter-app"
    assert claims["tenant_id"] == active.membership.tenant_id
    assert claims["roles"] == ["admin"]
    assert claims["scope"] == "users:read"


def test_session_tokens_without_the_refresh_token(active):
    body = issuer().session_tokens(active, with_refresh_token=False)

    assert "refresh_token" not in body
    assert claims_of(body["access_token"])["sid"] == active.session.id


# --- a client's token, handed out again within the reuse window -----------------------------------


def test_a_client_asking_again_within_the_window_gets_the_same_token_counted_down(ctx):
    clock.freeze(T0)
    issue = issuer(reuse_seconds=30)
    first = issue.client_tokens(BILLING, ("a:x", "b:y"))
    clock.advance(10)

    again = issue.client_tokens(BILLING, ("b:y", "a:x"))  # the same scopes, in another order

    assert again["access_token"] == first["access_token"]
    assert (first["expires_in"], again["expires_in"]) == (900, 890)
    assert again["scope"] == first["scope"] == "a:x b:y"
    assert "refresh_token" not in again
    claims = claims_of(again["access_token"])
    assert (claims["sub"], claims["client_id"], claims["tenant_id"]) == ("cli_billing", "cli_billing", "ten_1")


def test_other_scopes_another_client_or_the_end_of_the_window_get_a_new_token(ctx):
    clock.freeze(T0)
    issue = issuer(reuse_seconds=30)
    first = issue.client_tokens(BILLING, ("a:x", "b:y"))["access_token"]

    narrower = issue.client_tokens(BILLING, ("a:x",))
    other = issue.client_tokens(replace(BILLING, id="cli_other"), ("a:x", "b:y"))
    clock.advance(30)
    later = issue.client_tokens(BILLING, ("a:x", "b:y"))

    assert narrower["scope"] == "a:x"
    assert len({first, narrower["access_token"], other["access_token"], later["access_token"]}) == 4
    assert later["expires_in"] == 900


def test_without_reuse_every_request_is_a_new_token(ctx):
    clock.freeze(T0)
    issue = issuer(reuse_seconds=0)

    bodies = [issue.client_tokens(BILLING, ("a:x",)) for _ in range(3)]

    assert len({claims_of(b["access_token"])["jti"] for b in bodies}) == 3
