"""What a verified access token may still do (``services.token_state``): asked fresh by the
management API, through tagged caches by the gateway's check; the tags are those the
services announce (``session``, ``user``, ``access_token``)."""

from __future__ import annotations

import pytest

from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services import sessions, users
from outter_auth.services.cache import StalePolicy
from outter_auth.services.changes import tag
from outter_auth.services.token_state import TokenState


class DatabaseDown(Exception):
    """Stands for SQLAlchemy's OperationalError."""


class Database:
    """Answers in turn (an exception is raised), and counts the questions."""

    def __init__(self, members: list[object] | None = None, revoked: list[object] | None = None) -> None:
        self.members = members or []
        self.revoked = revoked or []
        self.member_loads: list[tuple[str, str, str]] = []
        self.revoked_loads: list[str] = []

    def load_member(self, session_id: str, user_id: str, tenant_id: str):
        self.member_loads.append((session_id, user_id, tenant_id))
        return self._next(self.members)

    def load_revoked(self, jti: str):
        self.revoked_loads.append(jti)
        return self._next(self.revoked)

    @staticmethod
    def _next(answers: list[object]):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


ANN = ("admin", "ann@acme.test")
KEY = ("ses_1", "usr_1", "ten_1")


def state_over(database: Database, ttl: float = 300, stale_ttl: float = 0.0) -> TokenState:
    return TokenState(ttl, database.load_member, database.load_revoked, stale=StalePolicy(stale_ttl, (DatabaseDown,)))


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fresh_asks_the_database_every_time():
    database = Database(members=[ANN, None], revoked=[False, True])
    state = state_over(database)

    assert [state.member(*KEY, cached=False), state.member(*KEY, cached=False)] == [ANN, None]
    assert [state.is_revoked("jti_1", cached=False), state.is_revoked("jti_1", cached=False)] == [False, True]
    assert database.member_loads == [KEY, KEY] and database.revoked_loads == ["jti_1", "jti_1"]


def test_cached_asks_once_per_key_until_a_tag_drops_it():
    database = Database(members=[ANN, ("member", "ann@acme.test")], revoked=[False, True])
    state = state_over(database)

    assert state.member(*KEY, cached=True) == ANN
    assert state.member(*KEY, cached=True) == ANN
    assert state.is_revoked("jti_1", cached=True) is False
    assert state.is_revoked("jti_1", cached=True) is False
    assert len(database.member_loads) == len(database.revoked_loads) == 1

    for cache in state.caches:
        cache.forget(tag("access_token", "jti_1"))
        cache.forget(tag("user", "usr_1"))
    assert state.member(*KEY, cached=True) == ("member", "ann@acme.test")
    assert state.is_revoked("jti_1", cached=True) is True


@pytest.mark.parametrize(
    ("dropping", "dropped"),
    [
        pytest.param(tag("session", "ses_1"), True, id="its-session"),
        pytest.param(tag("user", "usr_1"), True, id="its-user"),
        pytest.param(tag("session", "ses_2"), False, id="another-session"),
        pytest.param(tag("user", "usr_2"), False, id="another-user"),
        pytest.param(tag("access_token", "ses_1"), False, id="another-kind-same-id"),
    ],
)
def test_a_member_entry_depends_on_its_session_and_its_user(dropping, dropped):
    database = Database(members=[ANN, None])
    state = state_over(database)
    state.member(*KEY, cached=True)

    for cache in state.caches:
        cache.forget(dropping)

    assert state.member(*KEY, cached=True) == (None if dropped else ANN)
    assert len(database.member_loads) == (2 if dropped else 1)


def test_a_revocation_entry_depends_on_its_jti_only():
    database = Database(revoked=[False, False, True])
    state = state_over(database)
    state.is_revoked("jti_1", cached=True)
    state.is_revoked("jti_2", cached=True)

    for cache in state.caches:
        cache.forget(tag("access_token", "jti_2"))
        cache.forget(tag("session", "jti_1"))

    assert state.is_revoked("jti_1", cached=True) is False
    assert state.is_revoked("jti_2", cached=True) is True
    assert database.revoked_loads == ["jti_1", "jti_2", "jti_2"]


def test_only_good_news_is_served_stale_while_the_database_is_down(monkeypatch):
    """An outage answers from entries that let a token through (a live member, a jti not
    revoked) for the stale TTL; a refusal is never kept past its TTL to be answered again,
    so a database that is back decides."""
    database = Database(
        members=[ANN, DatabaseDown()],
        revoked=[False, DatabaseDown(), True, DatabaseDown()],
    )
    state = state_over(database, ttl=5, stale_ttl=600)
    timer = FakeTimer()
    for cache in state.caches:
        monkeypatch.setattr(cache, "_timer", timer)
    state.member(*KEY, cached=True)
    state.is_revoked("jti_1", cached=True)
    timer.now += 10  # past the TTL

    assert state.member(*KEY, cached=True) == ANN
    assert state.is_revoked("jti_1", cached=True) is False
    state.revocations.forget(tag("access_token", "jti_1"))
    assert state.is_revoked("jti_1", cached=True) is True  # the database is back: revoked
    timer.now += 10
    with pytest.raises(DatabaseDown):
        state.is_revoked("jti_1", cached=True)


# --- with the runtime's loaders ----------------------------------------------------------------


def test_the_runtimes_token_state_hears_a_logout(ctx, make):
    """Through the services: ending a session announces it, and the cached answer goes."""
    user_id = make.user("acme", "ann@acme.test", "admin")
    tenant_id = make.tenant("acme").id
    membership = users.get_member(db.session, tenant_id, user_id)
    started = sessions.start_session(db.session, membership, "outter-app", 60, client_scopes=())
    state = runtime().token_state
    key = (started.session.id, user_id, tenant_id)
    assert state.member(*key, cached=True) == ANN

    sessions.end_session(db.session, started.session.id)

    assert state.member(*key, cached=True) is None
