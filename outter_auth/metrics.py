"""Prometheus metrics (SPEC §13): ``GET /metrics``, off unless ``OUTTER_METRICS=true``.

The series are defined once, here; the rest of the code calls the small functions below
(``metrics.gateway_result("verify", code)``, ...), which return at once while metrics are off,
so the hot path pays one global read then.

Under gunicorn every worker is its own process: ``prometheus_client``'s multiprocess mode
keeps each process's values in files under ``PROMETHEUS_MULTIPROC_DIR`` (set by
``outter_auth/gunicorn_conf.py`` before anything imports ``prometheus_client``) and ``/metrics``
adds them up, whichever worker answers. Without that variable (``outter-auth run``, tests) the
process's own registry is exposed.

Labels are bounded: the Flask endpoint name, never the raw path (an id in a path would make a
series per id); refusal codes, grant types and reasons come from fixed lists.
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import threading
import time
from bisect import bisect_left
from typing import Any

from flask import Blueprint, Flask, Response, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

from outter_auth.config import Settings

log = logging.getLogger(__name__)

NAMESPACE = "outter_auth"
UNMATCHED = "unmatched"  # requests that matched no route (404, 405 on no rule)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})  # others: "other"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter(
    "http_requests",
    "HTTP requests by Flask endpoint, method and status",
    ["endpoint", "method", "status"],
    namespace=NAMESPACE,
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer a request, by Flask endpoint",
    ["endpoint"],
    namespace=NAMESPACE,
    buckets=LATENCY_BUCKETS,
)
GATEWAY_RESULTS = Counter(
    "gateway_results",
    "Answers of the gateway contract (verify, check) by result code",
    ["endpoint", "code"],
    namespace=NAMESPACE,
)
KEY_CACHE = Counter(
    "api_key_cache_lookups", "API-key verification cache lookups: hit or miss", ["result"], namespace=NAMESPACE
)
TOKENS_ISSUED = Counter("tokens_issued", "Access tokens issued, by grant type", ["grant_type"], namespace=NAMESPACE)
LOGIN_FAILURES = Counter(
    "login_failures", "Failed logins (login and password grant), by reason", ["reason"], namespace=NAMESPACE
)
LOCKOUTS = Counter("account_lockouts", "Accounts (emails) locked after repeated failed logins", namespace=NAMESPACE)
INVALIDATION_LAG = Histogram(
    "invalidation_lag_seconds",
    "Time from publishing a cache invalidation to its receipt by a process (Redis)",
    namespace=NAMESPACE,
    buckets=LAG_BUCKETS,
)

# One flag per process: a process serves one app in production. Tests build many apps; once
# one of them turned metrics on, the others count too (harmless: each app answers /metrics
# only if its own settings say so).
_enabled = False


def enabled() -> bool:
    return _enabled


# ``Metric.labels()`` validates and locks on every call (about 2 µs); the hot path asks for the
# same few children over and over, so they are kept here. A child made before gunicorn forks
# stays valid: its value notices the new pid and starts from zero in the worker's own file.
_children: dict[tuple[object, ...], Any] = {}


def _child(metric: MetricWrapperBase, *labels: str) -> Any:
    key = (id(metric), *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def init_metrics(app: Flask, settings: Settings) -> None:
    """Serve ``/metrics`` and start counting, if ``OUTTER_METRICS`` is on (404 otherwise)."""
    global _enabled
    if not settings.metrics:
        return
    _enabled = True
    app.register_blueprint(_blueprint(settings.metrics_token))


# -- the hot path: counted in memory, written to prometheus_client once a second ----------------
# In multiprocess mode every prometheus_client update takes a lock and writes an mmap'ed file
# (about 2 µs here); the five of a cached verify made it 3 to 5 % slower. So the per-request
# series are only added up in a dict on the request path, and a thread of each process writes
# the sums every FLUSH_SECONDS. /metrics flushes its own process first; gunicorn's worker_exit
# hook (gunicorn_conf.py) and atexit flush a process that ends. A worker killed outright loses
# at most its last second.

FLUSH_SECONDS = 1.0
_SERIES: dict[str, MetricWrapperBase] = {"requests": REQUESTS, "gateway": GATEWAY_RESULTS, "cache": KEY_CACHE}
_tally_lock = threading.Lock()
_counts: dict[tuple[str, ...], int] = {}  # ("requests", endpoint, method, status): n
_latencies: dict[str, list[float]] = {}  # endpoint: [n per bucket (+Inf last)..., sum of seconds]
_flusher_pid = 0


def _count(*key: str) -> None:
    with _tally_lock:
        _counts[key] = _counts.get(key, 0) + 1
    _ensure_flusher()


def request_finished(endpoint: str | None, method: str, status: int | None, seconds: float | None) -> None:
    if not _enabled:
        return
    name = endpoint or UNMATCHED
    key = ("requests", name, method if method in METHODS else "other", str(status))
    with _tally_lock:
        _counts[key] = _counts.get(key, 0) + 1
        if seconds is not None:
            row = _latencies.get(name)
            if row is None:
                row = _latencies[name] = [0.0] * (len(LATENCY_BUCKETS) + 2)
            row[bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bucket with seconds <= le
            row[-1] += seconds
    _ensure_flusher()


def gateway_result(endpoint: str, code: str) -> None:
    """``verify`` or ``check`` answered with ``code`` (``valid``, ``unknown``, ``revoked``, ...)."""
    if _enabled:
        _count("gateway", endpoint, code)


def key_cache_lookup(hit: bool) -> None:
    if _enabled:
        _count("cache", "hit" if hit else "miss")


def flush() -> None:
    """Write what this process counted since the last flush into prometheus_client."""
    global _counts, _latencies
    with _tally_lock:
        counts, _counts = _counts, {}
        latencies, _latencies = _latencies, {}
    for (series, *labels), n in counts.items():
        _child(_SERIES[series], *labels).inc(n)
    for endpoint, row in latencies.items():
        child = _child(LATENCY, endpoint)
        # Histogram has no "observe n times": its bucket and sum values are added to directly.
        for bucket, observed in zip(child._buckets, row[:-1], strict=True):
            if observed:
                bucket.inc(observed)
        child._sum.inc(row[-1])


def _ensure_flusher() -> None:
    global _flusher_pid
    pid = os.getpid()
    if _flusher_pid == pid:
        return
    with _tally_lock:
        if _flusher_pid == pid:
            return
        _flusher_pid = pid  # a forked worker starts its own thread
    threading.Thread(target=_flush_forever, name="metrics-flush", daemon=True).start()


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # never let metrics take the thread down with them
            log.exception("could not write metrics")


atexit.register(flush)


# -- rare events: written at once ---------------------------------------------------------------


def token_issued(grant_type: str) -> None:
    if _enabled:
        _child(TOKENS_ISSUED, grant_type).inc()


def login_failure(reason: str) -> None:
    if _enabled:
        _child(LOGIN_FAILURES, reason).inc()


def lockout() -> None:
    if _enabled:
        LOCKOUTS.inc()


def invalidation_received(seconds: float) -> None:
    """An invalidation published ``seconds`` ago (by the wall clocks of two hosts) arrived."""
    if _enabled:
        INVALIDATION_LAG.observe(max(seconds, 0.0))


# -- the endpoint -------------------------------------------------------------------------------


def exposition() -> bytes:
    """Every series in Prometheus text format: all processes' in multiprocess mode."""
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _blueprint(token: str) -> Blueprint:
    blp = Blueprint("metrics", __name__)

    @blp.route("/metrics", methods=["GET"])
    def metrics() -> Response:
        if token and not _bearer_matches(token):
            response = Response(b"", status=401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="outter-metrics"'
            return response
        response = Response(exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0])
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        response.headers["Cache-Control"] = "no-store"
        return response

    return blp


def _bearer_matches(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
