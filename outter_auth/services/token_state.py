"""What the holder of a verified access token may still do, per the database.

A JWT's signature and claims are checked offline; whether it still counts is not:
its ``jti`` may have been revoked (RFC 7009), its session ended (logout, refresh
reuse), its user or membership deactivated or demoted, its client deleted or
narrowed. The management API asks the database on every request (``cached=False``);
the gateway's ``check`` asks through caches that the same changes invalidate
(``services.changes``), so a refusal reaches it within a second with Redis and within
the cache TTL without (SPEC §7: within 5 s).
"""

from __future__ import annotations

from collections.abc import Callable

from outter_auth.services.cache import NEVER_STALE, GuardedCache, StalePolicy
from outter_auth.services.changes import tag

MAX_ENTRIES = 100_000

Member = tuple[str, str]  # (role, email)
LoadMember = Callable[[str, str, str], Member | None]  # (session_id, user_id, tenant_id)
LoadRevoked = Callable[[str], bool]  # jti


class TokenState:
    def __init__(
        self,
        ttl: float,
        load_member: LoadMember,
        load_revoked: LoadRevoked,
        *,
        stale: StalePolicy = NEVER_STALE,
    ) -> None:
        self._load_member = load_member
        self._load_revoked = load_revoked
        # Keyed by "session_id user_id tenant_id" (ids never hold a space).
        self.members: GuardedCache[str, Member | None] = GuardedCache(ttl, MAX_ENTRIES, _member_tags, stale=stale)
        self.revocations: GuardedCache[str, bool] = GuardedCache(
            ttl,
            MAX_ENTRIES,
            lambda jti, revoked: (tag("access_token", jti),),
            stale=stale,
            is_positive=lambda revoked: not revoked,
        )

    @property
    def caches(self) -> tuple[GuardedCache[str, Member | None], GuardedCache[str, bool]]:
        return self.members, self.revocations

    def is_revoked(self, jti: str, *, cached: bool) -> bool:
        if not cached:
            return self._load_revoked(jti)
        return self.revocations.get(jti, lambda: self._load_revoked(jti))

    def member(self, session_id: str, user_id: str, tenant_id: str, *, cached: bool) -> Member | None:
        """``(role, email)`` while the session and membership are live, else None."""
        if not cached:
            return self._load_member(session_id, user_id, tenant_id)
        key = f"{session_id} {user_id} {tenant_id}"
        return self.members.get(key, lambda: self._load_member(session_id, user_id, tenant_id))


def _member_tags(key: str, member: Member | None) -> tuple[str, ...]:
    session_id, user_id, _ = key.split(" ")
    return tag("session", session_id), tag("user", user_id)
