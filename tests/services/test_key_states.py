"""What a key is now (``api_keys.key_state``) and the list filtered by it (``keys_query(state=)``):
the console's status column and status filter must agree, for every state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.services import api_keys
from outter_auth.services.api_keys import KeyDraft, Peppers
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import InvalidInput

T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def acme(ctx, make) -> Caller:
    return Caller(make.tenant("acme").id, "cli")


def _key(acme: Caller, name: str, expires_at: datetime | None = None) -> str:
    key, _raw = api_keys.create_key(
        db.session, acme, KeyDraft(name, ["content:read"], expires_at=expires_at), peppers=Peppers("")
    )
    return key.id


def test_each_key_is_listed_under_the_state_it_shows(acme: Caller) -> None:
    clock.freeze(T0)
    made = {
        "active": _key(acme, "active"),
        "expired": _key(acme, "expired", T0 + timedelta(minutes=1)),
        "rotated": _key(acme, "rotated"),
        "revoked": _key(acme, "revoked"),
    }
    api_keys.revoke_key(db.session, acme, made["revoked"])
    successor, _raw = api_keys.rotate_key(db.session, acme, made["rotated"], grace_seconds=3600, peppers=Peppers(""))
    clock.freeze(T0 + timedelta(minutes=5))
    now = clock.now()

    listed = {
        state: {k.id for k in db.session.scalars(api_keys.keys_query(acme, state=state))} for state in api_keys.STATES
    }

    assert listed == {
        "active": {made["active"], successor.id},
        "rotating": {made["rotated"]},
        "expired": {made["expired"]},
        "revoked": {made["revoked"]},
    }
    for state, ids in listed.items():
        assert all(api_keys.key_state(db.session.get(api_keys.ApiKey, i), now) == state for i in ids)


def test_an_unknown_state_is_refused(acme: Caller) -> None:
    with pytest.raises(InvalidInput, match="state must be one of"):
        api_keys.keys_query(acme, state="sleeping")
