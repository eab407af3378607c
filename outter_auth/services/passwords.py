"""Password hashing: the only module that imports bcrypt."""

from __future__ import annotations

import threading

import bcrypt

# bcrypt reads at most 72 bytes; longer passwords are refused when set rather than
# silently truncated (bcrypt>=5 raises on them).
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_CHARS = 8

_dummy_hashes: dict[int, bytes] = {}
_dummy_lock = threading.Lock()


class WeakPassword(ValueError):
    """The password does not meet the length rules."""


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"password must be at least {MIN_PASSWORD_CHARS} characters")
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise WeakPassword(f"password must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8")


def hash_password(password: str, rounds: int) -> str:
    check_password_policy(password)
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password(password: str, password_hash: str) -> bool:
    """Constant-time check (bcrypt compares in constant time itself)."""
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        # Could never have been set; still spend the same time as a real check.
        burn_time(_rounds_of(password_hash))
        return False
    try:
        return bcrypt.checkpw(raw, password_hash.encode("ascii"))
    except ValueError:  # a corrupt stored hash must not become a 500
        return False


def burn_time(rounds: int) -> None:
    """Spend as long as one password check, for an unknown account (no user enumeration)."""
    with _dummy_lock:
        dummy = _dummy_hashes.get(rounds)
        if dummy is None:
            dummy = _dummy_hashes[rounds] = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(rounds))
    bcrypt.checkpw(b"also-not-the-password", dummy)


def _rounds_of(password_hash: str) -> int:
    try:
        return int(password_hash.split("$")[2])
    except (IndexError, ValueError):
        return 12
