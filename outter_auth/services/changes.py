"""Changes a service made, announced to every process once its transaction commits.

A service that revokes a key, narrows a client or ends a session calls
:func:`announce` in the same transaction as the change; nothing else is the caller's
to remember (REST, CLI and console cannot differ). The announcement waits in the
session until the commit and is dropped by a rollback, so other processes never hear
of a change that did not happen, and always hear of one that did. The app installs
the listener (``outter_auth.runtime``) that drops the tagged entries from this
process's caches and publishes the tags over Redis.

Tags are ``<kind>:<id>`` (``api_key:key_…``, ``client:cli_…``, ``session:ses_…``,
``user:usr_…``, ``access_token:<jti>``); the caches use the same tags
(``services.cache``).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

_PENDING = "outter_auth.pending_changes"

KINDS = ("api_key", "client", "session", "user", "access_token")

Listener = Callable[[list[str]], None]


def tag(kind: str, object_id: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown kind of change: {kind!r}")
    return f"{kind}:{object_id}"


def announce(db: Session, kind: str, object_id: str) -> None:
    """Queue a change of ``kind`` ``object_id``, to be published when ``db`` commits."""
    session = db() if isinstance(db, scoped_session) else db
    if not session.in_transaction():
        session.begin()  # so that a rollback before any statement still drops the announcement
    pending: list[str] = db.info.setdefault(_PENDING, [])
    pending.append(tag(kind, object_id))


def install(listener: Listener) -> None:
    """Call ``listener(tags)`` after every commit that carried announcements (once per
    process; the listener finds its app itself)."""
    if event.contains(Session, "after_commit", _committed):
        return
    _listeners.append(listener)
    event.listen(Session, "after_commit", _committed)
    # Every rollback() call, also one with no database transaction under way yet (the
    # announcements wait in the session, not in the database).
    event.listen(Session, "after_soft_rollback", _rolled_back)


_listeners: list[Listener] = []


def _committed(db: Session) -> None:
    tags = db.info.pop(_PENDING, None)
    if tags:
        for listener in _listeners:
            listener(list(dict.fromkeys(tags)))


def _rolled_back(db: Session, previous_transaction: SessionTransaction) -> None:
    if not previous_transaction.nested:  # a savepoint's rollback leaves the outer changes standing
        db.info.pop(_PENDING, None)
