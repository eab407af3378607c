"""Writes that API-key verification causes, kept off the request path (SPEC §6, §14).

- ``last_used_at``: each process remembers when it last recorded a key and queues at
  most one write per key per minute; the UPDATE itself only moves ``last_used_at``
  forward by a minute or more, so many workers together still write about once a
  minute per key.
- Usage per key and UTC day: the gateway counts each answer about a key we know in
  memory (one dict increment under a lock); the writer adds the counts to
  ``api_key_usage`` with one UPSERT per batch, so N workers cost N small writes every
  few seconds whatever the traffic.
- Re-digests: a key found under a retired pepper (or with an older pepper id) gets its
  new digest, computed on the request path (no I/O), written here.

A background thread flushes the queues in one transaction every few seconds (and
gunicorn's ``worker_exit`` hook once more, so a recycled worker keeps its counts).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Executable, Table, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from outter_auth.models import ApiKey, ApiKeyUsage
from outter_auth.services.api_keys import get_key, redigest
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import InvalidInput

log = logging.getLogger(__name__)

COALESCE = timedelta(minutes=1)
MAX_USAGE_DAYS = 90
# Counts kept for the next flush when one fails (the database is down): beyond this many
# (key, day) pairs, a failed batch's counts are dropped rather than piling up in memory.
MAX_KEPT_COUNTS = 100_000
VERIFIED, REFUSED = 0, 1
_UPSERT_ROWS = 1000  # rows per statement: SQLite allows 32,766 bound parameters

Counts = dict[tuple[str, date], list[int]]  # (key id, UTC day) -> [verified, refused]


@dataclass
class UsageBatch:
    last_used: dict[str, datetime] = field(default_factory=dict)
    redigests: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    counts: Counts = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.last_used or self.redigests or self.counts)

    def __len__(self) -> int:
        return len(self.last_used) + len(self.redigests) + len(self.counts)


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

    def count(self, key_id: str, outcome: int, now: datetime) -> None:
        """Count one gateway answer about ``key_id`` (``VERIFIED`` or ``REFUSED``) on
        ``now``'s UTC day; never touches the database."""
        day = now.date()  # the service's clock is UTC
        with self._lock:
            self._fork_check()
            counts = self._pending.counts.get((key_id, day))
            if counts is None:
                counts = self._pending.counts[(key_id, day)] = [0, 0]
                self._start()
            counts[outcome] += 1

    def redigest(self, key_id: str, digest: bytes, pepper_id: str) -> None:
        """Queue a key's new digest (computed by the caller under the current pepper)."""
        with self._lock:
            self._fork_check()
            self._pending.redigests[key_id] = (digest, pepper_id)
            self._start()

    def flush(self) -> int:
        """Write what is queued; returns how many writes were queued."""
        with self._lock:
            self._fork_check()
            pending, self._pending = self._pending, UsageBatch()
            horizon = max(pending.last_used.values(), default=None)
            if horizon is not None:  # forget keys not used for a while, so memory stays bounded
                self._recorded = {k: t for k, t in self._recorded.items() if horizon - t < COALESCE}
        if pending:
            try:
                self._write(pending)
            except SQLAlchemyError as error:  # a lost timestamp is not worth a crash; a re-digest comes again
                log.warning("could not record API key use: %s", type(error).__name__)
                self._keep(pending.counts)
        return len(pending)

    def _keep(self, counts: Counts) -> None:
        """Put the counts of a batch that could not be written back for the next flush."""
        with self._lock:
            kept = self._pending.counts
            for pair, (verified, refused) in counts.items():
                if pair not in kept and len(kept) >= MAX_KEPT_COUNTS:
                    continue
                into = kept.setdefault(pair, [0, 0])
                into[VERIFIED] += verified
                into[REFUSED] += refused

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
    """Write a batch in one transaction."""
    if batch.counts:
        _add_counts(db, batch.counts)
    if batch.last_used:
        _touch(db, batch.last_used)
    redigest(db, batch.redigests)  # commits


def _touch(db: Session, last_used: dict[str, datetime]) -> None:
    """Move ``last_used_at`` forward, one statement for the whole batch (executemany: one
    pipeline on psycopg). A flush after traffic over many keys holds a row per key, and a
    statement each was a round trip each, in a thread sharing the GIL with the requests.
    In key order, as the counts, so two workers flushing at once lock rows in one order."""
    keys = cast(Table, ApiKey.__table__)
    when = keys.c.last_used_at.type
    touch = (
        update(keys)
        .where(
            keys.c.id == bindparam("touched_id"),
            or_(keys.c.last_used_at.is_(None), keys.c.last_used_at <= bindparam("unless_after", type_=when)),
        )
        .values(last_used_at=bindparam("touched_at", type_=when))
    )
    rows = [
        {"touched_id": key_id, "touched_at": at, "unless_after": at - COALESCE}
        for key_id, at in sorted(last_used.items())
    ]
    db.execute(touch, rows)


def _add_counts(db: Session, counts: Counts) -> None:
    """``verified += v, refused += r`` per (key, day), inserting the rows not there yet:
    ``INSERT … ON CONFLICT DO UPDATE`` on PostgreSQL and SQLite alike. Rows go in key
    order, so two workers flushing at once lock them in the same order (no deadlock)."""
    dialect = db.get_bind().dialect.name
    known = set(db.scalars(select(ApiKey.id).where(ApiKey.id.in_({key_id for key_id, _ in counts}))))
    rows = [
        {"key_id": key_id, "day": day, "verified": v, "refused": r}
        for (key_id, day), (v, r) in sorted(counts.items())
        if key_id in known  # a key deleted since (its tenant went): nothing to count it against
    ]
    for start in range(0, len(rows), _UPSERT_ROWS):
        db.execute(_upsert(dialect, rows[start : start + _UPSERT_ROWS]))


def _upsert(dialect: str, rows: list[dict[str, Any]]) -> Executable:
    primary_key = [ApiKeyUsage.key_id, ApiKeyUsage.day]
    if dialect == "postgresql":
        pg = postgresql.insert(ApiKeyUsage).values(rows)
        return pg.on_conflict_do_update(index_elements=primary_key, set_=_added(pg.excluded))
    if dialect == "sqlite":
        lite = sqlite.insert(ApiKeyUsage).values(rows)
        return lite.on_conflict_do_update(index_elements=primary_key, set_=_added(lite.excluded))
    raise NotImplementedError(f"no UPSERT for {dialect}: PostgreSQL and SQLite are supported")


def _added(excluded: Any) -> dict[str, Any]:
    return {
        "verified": ApiKeyUsage.verified + excluded.verified,
        "refused": ApiKeyUsage.refused + excluded.refused,
    }


@dataclass(frozen=True)
class DayUsage:
    date: date
    verified: int
    refused: int


def usage(db: Session, caller: Caller, key_id: str, days: int, today: date) -> list[DayUsage]:
    """A key's answers per UTC day, the last ``days`` days up to ``today``, oldest first,
    days without any as zeros. Only a key the caller may see (404 otherwise)."""
    if not 1 <= days <= MAX_USAGE_DAYS:
        raise InvalidInput(f"days must be between 1 and {MAX_USAGE_DAYS}", "days")
    key = get_key(db, caller, key_id)
    first = today - timedelta(days=days - 1)
    rows = db.execute(
        select(ApiKeyUsage.day, ApiKeyUsage.verified, ApiKeyUsage.refused)
        .join(ApiKey, ApiKey.id == ApiKeyUsage.key_id)
        .where(
            ApiKeyUsage.key_id == key.id,
            ApiKey.tenant_id == caller.tenant_id,
            ApiKeyUsage.day >= first,
            ApiKeyUsage.day <= today,
        )
    ).all()
    found: dict[date, Any] = {row.day: row for row in rows}
    series = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        row = found.get(day)
        series.append(DayUsage(day, int(row.verified) if row else 0, int(row.refused) if row else 0))
    return series
