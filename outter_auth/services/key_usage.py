"""Writes that API-key verification causes, kept off the request path (SPEC §6).

- ``last_used_at``: each process remembers when it last recorded a key and queues at
  most one write per key per minute; the UPDATE itself only moves ``last_used_at``
  forward by a minute or more, so many workers together still write about once a
  minute per key.
- Re-digests: a key found under a retired pepper (or with an older pepper id) gets its
  new digest, computed on the request path (no I/O), written here.

A background thread flushes the queues in one transaction every few seconds.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outter_auth.models import ApiKey
from outter_auth.services.api_keys import redigest

log = logging.getLogger(__name__)

COALESCE = timedelta(minutes=1)


@dataclass
class UsageBatch:
    last_used: dict[str, datetime] = field(default_factory=dict)
    redigests: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.last_used or self.redigests)

    def __len__(self) -> int:
        return len(self.last_used) + len(self.redigests)


class KeyUsageRecorder:
    def __init__(self, write: Callable[[UsageBatch], None], flush_every: float = 5.0, background: bool = True) -> None:
        self._write = write
        self._flush_every = flush_every
        self._background = background
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._recorded: dict[str, datetime] = {}
        self._pending = UsageBatch()
        self._thread: threading.Thread | None = None

    def touch(self, key_id: str, now: datetime) -> None:
        """Note a use of ``key_id``; cheap, and never touches the database."""
        with self._lock:
            self._fork_check()
            last = self._recorded.get(key_id)
            if last is not None and now - last < COALESCE:
                return
            self._recorded[key_id] = now
            self._pending.last_used[key_id] = now
            self._start()

    def redigest(self, key_id: str, digest: bytes, pepper_id: str) -> None:
        """Queue a key's new digest (computed by the caller under the current pepper)."""
        with self._lock:
            self._fork_check()
            self._pending.redigests[key_id] = (digest, pepper_id)
            self._start()

    def flush(self) -> int:
        """Write what is queued; returns how many writes were queued."""
        with self._lock:
            pending, self._pending = self._pending, UsageBatch()
            horizon = max(pending.last_used.values(), default=None)
            if horizon is not None:  # forget keys not used for a while, so memory stays bounded
                self._recorded = {k: t for k, t in self._recorded.items() if horizon - t < COALESCE}
        if pending:
            try:
                self._write(pending)
            except SQLAlchemyError as error:  # a lost timestamp is not worth a crash; a re-digest comes again
                log.warning("could not record API key use: %s", type(error).__name__)
        return len(pending)

    def _fork_check(self) -> None:
        if self._pid != os.getpid():  # forked (gunicorn): threads and queues do not survive
            self._reset()

    def _start(self) -> None:
        if self._background and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="api-key-usage", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        stop = threading.Event()
        while not stop.wait(self._flush_every):
            self.flush()


def write_usage(db: Session, batch: UsageBatch) -> None:
    for key_id, at in batch.last_used.items():
        db.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at <= at - COALESCE))
            .values(last_used_at=at)
            .execution_options(synchronize_session=False)
        )
    redigest(db, batch.redigests)  # commits
