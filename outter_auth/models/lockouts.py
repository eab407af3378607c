"""Failed-login counters behind account lockout (issue 6)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from outter_auth.models.base import Base, UTCDateTime


class LoginFailures(Base):
    """Consecutive failed logins for one email, known to us or not.

    Keyed by a digest of the normalised email, so that unknown emails lock exactly
    like real accounts (the lock says nothing about who has an account) and the
    table holds no addresses that nobody registered.
    """

    __tablename__ = "login_failures"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
