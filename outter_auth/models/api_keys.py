"""API keys (SPEC §6): only a digest of the key is ever stored."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import JSON, CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from outter_auth import clock
from outter_auth.models.base import Base, UTCDateTime, new_id


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (CheckConstraint("environment IN ('live', 'test')", name="environment"),)

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

    def status(self, now: datetime) -> str:
        return key_status(self.revoked_at, self.expires_at, now)


def key_status(revoked_at: datetime | None, expires_at: datetime | None, now: datetime) -> str:
    """``active``, ``revoked`` or ``expired`` at ``now`` (revoked_at may lie in the future:
    a rotation grace). One rule for the stored key and the cached snapshot alike."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if expires_at is not None and expires_at <= now:
        return "expired"
    return "active"
