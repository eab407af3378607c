"""gunicorn server hooks of the service (used by the gunicorn configuration)."""

from __future__ import annotations

from typing import Any

from outter_auth import outages

# While the database is down, a worker keeps serving its stale-if-error answers: a fresh
# worker would have none. Recycling (max_requests) waits until it has been back a while.
POSTPONE_REQUESTS = 1000


def pre_request(worker: Any, req: Any) -> None:
    if outages.recently_failed():
        worker.max_requests = max(worker.max_requests, worker.nr + POSTPONE_REQUESTS)


def flush_key_usage(worker: Any) -> None:
    """Write what the worker counted and has not written yet (API-key usage, ``last_used_at``):
    workers are recycled every ``max_requests``, and their counts must not go with them."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("outter_auth")
    if state is not None:
        state.key_usage.flush()
