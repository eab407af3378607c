"""API keys (SPEC §6): only a digest of the key is ever stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import partial

from sqlalchemy import JSON, BigInteger, CheckConstraint, Date, ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from outter_auth import clock
from outter_auth.models.base import Base, UTCDateTime, new_id

# Bounds of a per-key rate limit (SPEC §14): at least one request per window, windows
# from a second to a day.
MAX_RATE_LIMIT = 1_000_000
MAX_RATE_WINDOW = 86_400


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` verifications of a key per fixed window of ``window_seconds``."""

    limit: int
    window_seconds: int

    def within(self, ceiling: RateLimit | None) -> bool:
        """Whether this limit is at least as tight as ``ceiling`` (None: no limit at all):
        never more requests in one window, and never a higher sustained rate."""
        if ceiling is None:
            return True
        same_rate_or_slower = self.limit * ceiling.window_seconds <= ceiling.limit * self.window_seconds
        return self.limit <= ceiling.limit and same_rate_or_slower

    def __str__(self) -> str:
        return f"{self.limit} per {self.window_seconds} s"

    def as_dict(self) -> dict[str, int]:
        return {"limit": self.limit, "window_seconds": self.window_seconds}


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("environment IN ('live', 'test')", name="environment"),
        CheckConstraint(
            "(rate_limit_requests IS NULL AND rate_limit_window IS NULL) OR "
            f"(rate_limit_requests BETWEEN 1 AND {MAX_RATE_LIMIT} "
            f"AND rate_limit_window BETWEEN 1 AND {MAX_RATE_WINDOW})",
            name="rate_limit",
        ),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=partial(new_id, "key"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # HMAC-SHA256(pepper, key), or SHA-256 without a pepper; looked up by this unique index.
    digest: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    # Which pepper made the digest (a fingerprint of it, never the pepper), for pepper rotation.
    pepper_id: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    environment: Mapped[str] = mapped_column(String(4))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # May lie in the future: a key rotated with a grace period stops working then.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    rotated_from: Mapped[str | None] = mapped_column(String(40), default=None)
    # Per-key rate limit (SPEC §14), both or neither: see ``rate_limit``.
    rate_limit_requests: Mapped[int | None] = mapped_column(Integer, default=None)
    rate_limit_window: Mapped[int | None] = mapped_column(Integer, default=None)

    def status(self, now: datetime) -> str:
        return key_status(self.revoked_at, self.expires_at, now)

    @property
    def rate_limit(self) -> RateLimit | None:
        if self.rate_limit_requests is None or self.rate_limit_window is None:
            return None
        return RateLimit(self.rate_limit_requests, self.rate_limit_window)

    @rate_limit.setter
    def rate_limit(self, value: RateLimit | None) -> None:
        self.rate_limit_requests = value.limit if value else None
        self.rate_limit_window = value.window_seconds if value else None


def key_status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """``active``, ``revoked`` or ``expired`` at ``now`` (revoked_at may lie in the future:
    a rotation grace). One rule for the stored key and the cached snapshot alike."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"


class ApiKeyUsage(Base):
    """Verifications of a key per UTC day (SPEC §14), added up off the request path
    (``services.key_usage``): ``verified`` answered yes, ``refused`` answered no to a
    key we know (revoked, expired, a scope missing, over its rate limit)."""

    __tablename__ = "api_key_usage"

    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    verified: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
