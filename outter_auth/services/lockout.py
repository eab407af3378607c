"""Account lockout: failed logins per email, locks that grow, lifted by time or an admin.

After ``threshold`` consecutive failures the account locks for ``base_seconds``; every
further failure once the lock has passed doubles it, up to ``max_seconds``. A correct
password resets the count (but does not open a lock early), and so does a quiet day.

Counts live in the database (``login_failures``), so every worker and instance sees
the same lock. Rows are keyed by a digest of the normalised email, known or not: an
unknown email locks exactly like an account, so a lock reveals nothing.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outter_auth.models import LoginFailures
from outter_auth.services.exceptions import DomainError

FORGET_AFTER = timedelta(days=1)  # a failure this old no longer counts
MAX_DOUBLINGS = 20  # 2**20 × base is past any sane maximum; keeps the arithmetic small


class AccountLocked(DomainError):
    """Too many failed logins for this email; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int  # 0: lockout off
    base_seconds: int
    max_seconds: int

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def lock_seconds(self, failures: int) -> int | None:
        """How long ``failures`` consecutive failures lock the account, if at all."""
        if not self.enabled or failures < self.threshold:
            return None
        doublings = min(failures - self.threshold, MAX_DOUBLINGS)
        return int(min(self.base_seconds * 2**doublings, self.max_seconds))


def account_key(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8", "replace")).hexdigest()


def check_not_locked(db: Session, account: str, now: datetime) -> None:
    """Raise :class:`AccountLocked` while a lock is on. One indexed read."""
    locked_until = db.scalar(select(LoginFailures.locked_until).where(LoginFailures.account == account))
    if locked_until is not None and locked_until > now:
        raise AccountLocked(max(1, math.ceil((locked_until - now).total_seconds())))


def record_failure(db: Session, account: str, policy: LockoutPolicy, now: datetime) -> tuple[int, datetime | None]:
    """Count one failure (atomically: concurrent failures all count). Answers the
    number of consecutive failures and, when this failure locks the account, until when.
    Does not commit: the caller's audit record does."""
    failures = _increment(db, account, now)
    seconds = policy.lock_seconds(failures)
    if seconds is None:
        return failures, None
    locked_until = now + timedelta(seconds=seconds)
    db.execute(update(LoginFailures).where(LoginFailures.account == account).values(locked_until=locked_until))
    return failures, locked_until


def _increment(db: Session, account: str, now: datetime) -> int:
    counted = (
        update(LoginFailures)
        .where(LoginFailures.account == account)
        .values(
            failures=case((LoginFailures.last_failure_at < now - FORGET_AFTER, 1), else_=LoginFailures.failures + 1),
            last_failure_at=now,
        )
        .returning(LoginFailures.failures)
    )
    failures = db.scalar(counted)
    if failures is not None:
        return failures
    try:
        with db.begin_nested():
            db.add(LoginFailures(account=account, failures=1, last_failure_at=now))
        return 1
    except IntegrityError:  # a concurrent failure inserted the row first
        return db.scalar(counted) or 1


def clear(db: Session, account: str) -> bool:
    """Forget the failures of an email (a correct password, or an admin). Does not commit;
    answers whether there was anything to forget."""
    result = db.execute(delete(LoginFailures).where(LoginFailures.account == account))
    return bool(getattr(result, "rowcount", 0))


def prune(db: Session, now: datetime) -> int:
    """Delete rows that no longer lock anything nor count. Commits."""
    result = db.execute(
        delete(LoginFailures).where(
            LoginFailures.last_failure_at < now - FORGET_AFTER,
            (LoginFailures.locked_until.is_(None)) | (LoginFailures.locked_until < now),
        )
    )
    db.commit()
    return int(getattr(result, "rowcount", 0) or 0)
