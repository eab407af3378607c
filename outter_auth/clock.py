"""The one clock of the service, so tests can move time instead of sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_frozen: datetime | None = None


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def timestamp() -> int:
    """Current time as integer seconds since the epoch (JWT NumericDate)."""
    return int(now().timestamp())


def freeze(at: datetime) -> None:
    """Stop the clock at ``at`` (tests only)."""
    global _frozen
    _frozen = at if at.tzinfo else at.replace(tzinfo=UTC)


def advance(delta: timedelta | float) -> None:
    """Move a frozen clock forward (tests only)."""
    if _frozen is None:
        raise RuntimeError("freeze the clock before advancing it")
    step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
    freeze(_frozen + step)


def unfreeze() -> None:
    global _frozen
    _frozen = None
