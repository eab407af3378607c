"""``last_used_at`` of API keys, without a write per request (SPEC §6).

Each process remembers when it last recorded a key and queues at most one write
per key per minute; a background thread flushes the queue in one transaction.
The UPDATE itself only moves ``last_used_at`` forward by a minute or more, so
many workers together still write at most about once a minute per key.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outter_auth.models import ApiKey

log = logging.getLogger(__name__)

COALESCE = timedelta(minutes=1)


class LastUsedRecorder:
    def __init__(
        self, write: Callable[[dict[str, datetime]], None], flush_every: float = 5.0, background: bool = True
    ) -> None:
        self._write = write
        self._flush_every = flush_every
        self._background = background
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._recorded: dict[str, datetime] = {}
        self._pending: dict[str, datetime] = {}
        self._thread: threading.Thread | None = None

    def touch(self, key_id: str, now: datetime) -> None:
        """Note a use of ``key_id``; cheap, and never touches the database."""
        with self._lock:
            if self._pid != os.getpid():  # forked (gunicorn): threads and queues do not survive
                self._reset()
            last = self._recorded.get(key_id)
            if last is not None and now - last < COALESCE:
                return
            self._recorded[key_id] = now
            self._pending[key_id] = now
            if self._background and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="api-key-last-used", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Write what is queued; returns how many keys were queued."""
        with self._lock:
            pending, self._pending = self._pending, {}
            horizon = max(pending.values(), default=None)
            if horizon is not None:  # forget keys not used for a while, so memory stays bounded
                self._recorded = {k: t for k, t in self._recorded.items() if horizon - t < COALESCE}
        if pending:
            try:
                self._write(pending)
            except SQLAlchemyError as error:  # a lost update of a timestamp is not worth a crash
                log.warning("could not record API key use: %s", type(error).__name__)
        return len(pending)

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self._flush_every):
            self.flush()


def write_last_used(db: Session, pending: dict[str, datetime]) -> None:
    for key_id, at in pending.items():
        db.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= at - COALESCE))
            .values(last_used_at=at)
            .execution_options(synchronize_session=False)
        )
    db.commit()
