"""What this process knows of database outages, for the parts that must outlive one.

Stale-if-error answers come from each worker's memory (``services.cache``), so a worker
replaced during an outage would start with nothing to answer from. gunicorn replaces
workers after ``max_requests``: its ``pre_request`` hook asks :func:`recently_failed`
and postpones that while the database keeps failing (``outter_auth/gunicorn_hooks.py``).
"""

from __future__ import annotations

import math
import time

# How long after the last failure the database still counts as down: longer than the
# gap between two failed loads under even a light load.
RECENT = 30.0

_last_failure = -math.inf


def database_failed() -> None:
    """A read found the database unreachable (called by the caches and the 503 handler)."""
    global _last_failure
    _last_failure = time.monotonic()


def recently_failed(within: float = RECENT) -> bool:
    return time.monotonic() - _last_failure < within
