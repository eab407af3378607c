"""Reuse of client_credentials access tokens for a short while (``OUTTER_CLIENT_TOKEN_REUSE``).

Off by default (``0``). When on, a machine client asking again for a token with the
same scopes within a few seconds gets the token it was just given (with ``expires_in``
counted down) instead of a fresh RS256 signature. The token is the same token, so
nothing about it changes: revoking it revokes it for every holder, all of whom are that
one client. Entries are per process, dropped when the client changes, is deleted,
rotates its secret or revokes a token, and when the signing key changes.

A revoked token must never be handed out again, by any worker or instance. Dropping
the entry when the revocation is heard over Redis leaves a window (the message is on its
way), so the revocation also writes a mark in Redis before it answers
(:class:`RevokedTokens`), and a token is handed out again only once Redis has said it
carries no mark. Without Redis there is nobody to ask: reuse stays off. If Redis cannot
answer, a fresh token is signed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

import redis

from outter_auth import clock

log = logging.getLogger(__name__)

Issue = Callable[[], tuple[str, dict[str, Any]]]
MARK_PREFIX = "outter-auth:revoked-jti:"


class RevokedTokens:
    """Marks of revoked access tokens in Redis, kept as long as such a token could live."""

    def __init__(self, redis_url: str, token_lifetime_seconds: int) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
        self._lifetime = token_lifetime_seconds

    def mark(self, jti: str) -> None:
        try:
            self._client.set(MARK_PREFIX + jti, b"1", ex=self._lifetime)
        except redis.RedisError as error:  # the entry is dropped where it is heard; reuse asks first
            log.warning("could not mark a revoked token in Redis: %s", type(error).__name__)

    def is_revoked(self, jti: str) -> bool | None:
        """Whether ``jti`` carries a mark; None when Redis cannot say."""
        try:
            return bool(self._client.exists(MARK_PREFIX + jti))
        except redis.RedisError:
            return None


class RevocationMarks(Protocol):
    def is_revoked(self, jti: str) -> bool | None: ...


class ClientTokenReuse:
    def __init__(self, reuse_seconds: int, revoked: RevocationMarks | None = None) -> None:
        if reuse_seconds > 0 and revoked is None:
            log.warning("OUTTER_CLIENT_TOKEN_REUSE needs OUTTER_REDIS_URL (to never hand out a revoked token): off")
            reuse_seconds = 0
        self._reuse = reuse_seconds
        self._revoked = revoked
        self._lock = threading.Lock()
        # client_id -> (kid, *scopes) -> (token, claims, issued at)
        self._tokens: dict[str, dict[tuple[str, ...], tuple[str, dict[str, Any], int]]] = {}

    def get_or_issue(
        self, client_id: str, scopes: tuple[str, ...], kid: str, issue: Issue
    ) -> tuple[str, dict[str, Any], int]:
        """A reusable token of ``client_id`` for ``scopes`` signed by ``kid``, or a new one:
        the token, its claims and the seconds it has left."""
        key = (kid, *sorted(scopes))
        now = clock.timestamp()
        if self._reuse > 0:
            with self._lock:
                found = self._tokens.get(client_id, {}).get(key)
            if found is not None and 0 <= now - found[2] < self._reuse and self._never_revoked(found[1]):
                return found[0], found[1], _expires_in(found[1], now)
        token, claims = issue()
        if self._reuse > 0:
            with self._lock:
                self._tokens.setdefault(client_id, {})[key] = (token, claims, now)
        return token, claims, _expires_in(claims, now)

    def _never_revoked(self, claims: dict[str, Any]) -> bool:
        return self._revoked is not None and self._revoked.is_revoked(str(claims["jti"])) is False

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._tokens.pop(client_id, None)

    def forget_token(self, jti: str) -> None:
        """A token was revoked: never hand it out again."""
        with self._lock:
            for tokens in self._tokens.values():
                for key, (_, claims, _) in list(tokens.items()):
                    if claims.get("jti") == jti:
                        del tokens[key]

    def clear(self) -> None:
        with self._lock:
            self._tokens.clear()


def _expires_in(claims: dict[str, Any], now: int) -> int:
    # Counted from the token's own iat for a fresh token (a second ticking over while it was
    # signed must not shave one off), from now for a token handed out again.
    return max(0, int(claims["exp"]) - max(now, int(claims["iat"])))
