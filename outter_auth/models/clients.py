"""OAuth 2.0 clients registered by a tenant (the built-in first-party client is not stored)."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from sqlalchemy import JSON, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from outter_auth import clock
from outter_auth.models.base import Base, UTCDateTime, new_id


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=partial(new_id, "cli"))
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # HMAC-SHA256 (or SHA-256) of the secret; None for a public client.
    secret_digest: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    is_first_party: Mapped[bool] = mapped_column(default=False)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    # OpenID Connect RP-Initiated Logout 1.0 §3: where logout may send the browser back.
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=clock.now, onupdate=clock.now)

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None
