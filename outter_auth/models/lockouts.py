"""Failed-login counters behind account lockout (issue 6; per address since issue 13)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from outter_auth.models.base import Base, UTCDateTime


class LoginFailures(Base):
    """Consecutive failed logins for one email, known to us or not, from one client
    address (``source``: a digest of its bucket) or from all of them (``source`` "*").

    Keyed by digests, so that unknown emails lock exactly like real accounts (the lock
    says nothing about who has an account) and the table holds no addresses at all,
    neither emails nobody registered nor where anybody logged in from.
    """

    __tablename__ = "login_failures"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
