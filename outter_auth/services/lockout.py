"""Account lockout: failed logins per (email, client address) pair, and per email across
addresses, lock for a while that grows; lifted by time or an admin.

A lock on the email alone can be turned against its owner: anybody who knows an email
could keep it locked with wrong passwords. So, as Auth0's brute-force protection does,
failures count per *pair* of email and client address (an IPv6 address as its /64, as the
rate limits count it): after ``threshold`` consecutive failures from one address, that
address is locked out of that email, and the owner signing in from anywhere else is not.
An attacker rotating addresses meets the second budget: ``account_threshold`` failures
from all addresses together lock the email for everybody. It is set high enough that a
person mistyping never reaches it; only credential stuffing does.

Each lock lasts ``base_seconds``; every further failure once it has passed doubles it,
up to ``max_seconds``. A correct password resets its address's count (but does not open
a lock early); the account-wide count is forgotten after a quiet day or by an unlock
(a correct password from one place says nothing about the others).

Counts live in the database (``login_failures``), so every worker and instance sees the
same lock. Rows are keyed by digests of the normalised email, known or not (an unknown
email locks exactly like an account, so a lock reveals nothing), and of the address
bucket: the table holds neither emails nobody registered nor addresses.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outter_auth.models import LoginFailures
from outter_auth.services.addresses import address_bucket
from outter_auth.services.exceptions import DomainError

FORGET_AFTER = timedelta(days=1)  # a failure this old no longer counts
MAX_DOUBLINGS = 20  # 2**20 × base is past any sane maximum; keeps the arithmetic small
ACCOUNT_WIDE = "*"  # the source of an email's count across every address
ADDRESS, ACCOUNT = "address", "account"  # what a lock covers: one address, or every one


class AccountLocked(DomainError):
    """Too many failed logins for this email (from this address, or from all of them);
    ``retry_after`` is in seconds. Both read the same: which it is tells nothing."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins: try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int  # failures of one (email, address) pair before it locks; 0: lockout off
    base_seconds: int
    max_seconds: int
    account_threshold: int = 0  # failures of an email from every address before it locks; 0: none
    ipv6_prefix: int = 64  # an IPv6 address counts as its network of this length

    @property
    def enabled(self) -> bool:
        return self.threshold > 0

    def lock_seconds(self, failures: int, threshold: int | None = None) -> int | None:
        """How long ``failures`` consecutive failures lock, if at all (``threshold``: the
        pair's unless another is given)."""
        threshold = self.threshold if threshold is None else threshold
        if not self.enabled or threshold <= 0 or failures < threshold:
            return None
        doublings = min(failures - threshold, MAX_DOUBLINGS)
        return int(min(self.base_seconds * 2**doublings, self.max_seconds))

    def source(self, address: str | None) -> str:
        """The digest that names where a login came from (its address bucket)."""
        bucket = address_bucket(address or "unknown", self.ipv6_prefix)
        return hashlib.sha256(f"address:{bucket}".encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class Lock:
    """A lock that a failure has just set: over one address, or over the whole account."""

    scope: str  # ADDRESS or ACCOUNT
    failures: int
    locked_until: datetime


def account_key(normalized_email: str) -> str:
    return hashlib.sha256(normalized_email.encode("utf-8", "replace")).hexdigest()


def check_not_locked(db: Session, account: str, source: str, now: datetime) -> None:
    """Raise :class:`AccountLocked` while the pair or the whole account is locked. One
    indexed read."""
    locked_until = db.scalar(
        select(func.max(LoginFailures.locked_until)).where(
            LoginFailures.account == account, LoginFailures.source.in_((source, ACCOUNT_WIDE))
        )
    )
    if locked_until is not None and locked_until > now:
        raise AccountLocked(max(1, math.ceil((locked_until - now).total_seconds())))


def locked_accounts(db: Session, accounts: list[str], now: datetime) -> set[str]:
    """Which of ``accounts`` are locked now, from some address or from all of them (what an
    admin sees before unlocking). One query."""
    if not accounts:
        return set()
    return set(
        db.scalars(
            select(LoginFailures.account)
            .where(LoginFailures.account.in_(accounts), LoginFailures.locked_until > now)
            .distinct()
        )
    )


def record_failure(db: Session, account: str, source: str, policy: LockoutPolicy, now: datetime) -> list[Lock]:
    """Count one failure for the pair and for the account (atomically: concurrent failures
    all count). Answers the locks this failure set, if any. Does not commit: the caller's
    audit record does."""
    counters = [(ADDRESS, source, policy.threshold)]
    if policy.account_threshold > 0:
        counters.append((ACCOUNT, ACCOUNT_WIDE, policy.account_threshold))
    locks = []
    for scope, counted_source, threshold in counters:
        failures = _increment(db, account, counted_source, now)
        seconds = policy.lock_seconds(failures, threshold)
        if seconds is not None:
            locked_until = now + timedelta(seconds=seconds)
            db.execute(update(LoginFailures).where(_row(account, counted_source)).values(locked_until=locked_until))
            locks.append(Lock(scope, failures, locked_until))
    return locks


def _row(account: str, source: str) -> ColumnElement[bool]:
    return and_(LoginFailures.account == account, LoginFailures.source == source)


def _increment(db: Session, account: str, source: str, now: datetime) -> int:
    counted = (
        update(LoginFailures)
        .where(_row(account, source))
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
            db.add(LoginFailures(account=account, source=source, failures=1, last_failure_at=now))
        return 1
    except IntegrityError:  # a concurrent failure inserted the row first
        return db.scalar(counted) or 1


def clear_address(db: Session, account: str, source: str) -> bool:
    """Forget the failures of this address for this email (a correct password). Does not
    commit; answers whether there was anything to forget."""
    result = db.execute(delete(LoginFailures).where(_row(account, source)))
    return bool(getattr(result, "rowcount", 0))


def clear(db: Session, account: str) -> bool:
    """Forget every failure of an email, from every address, and lift its locks (an
    admin). Does not commit; answers whether there was anything to forget."""
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
