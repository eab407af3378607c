"""Reuse of client_credentials access tokens for a short while (``OUTTER_CLIENT_TOKEN_REUSE``).

A machine client asking again for a token with the same scopes within a few
seconds gets the token it was just given (with ``expires_in`` counted down)
instead of a fresh RS256 signature: the signature is most of the token
endpoint's cost, and clients that fetch a token per call are common. The token
is the same token, so nothing about it changes: revoking it revokes it for every
holder, all of whom are that one client. Entries are per process, dropped when
the client changes, is deleted, rotates its secret or revokes a token, and when
the signing key changes. ``0`` turns reuse off.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from outter_auth import clock

Issue = Callable[[], tuple[str, dict[str, Any]]]


class ClientTokenReuse:
    def __init__(self, reuse_seconds: int) -> None:
        self._reuse = reuse_seconds
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
            if found is not None and 0 <= now - found[2] < self._reuse:
                return found[0], found[1], _expires_in(found[1], now)
        token, claims = issue()
        if self._reuse > 0:
            with self._lock:
                self._tokens.setdefault(client_id, {})[key] = (token, claims, now)
        return token, claims, _expires_in(claims, now)

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
