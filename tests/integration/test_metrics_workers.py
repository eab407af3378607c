"""/metrics under gunicorn: one total across workers (prometheus_client's multiprocess mode).

Each gunicorn worker is its own process with its own counters; the package's gunicorn settings
point prometheus_client at a shared folder before the app is loaded, so whichever worker
answers /metrics adds up every worker's values.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from prometheus_client.parser import text_string_to_metric_families

from outter_auth.services.invalidation import CHANNEL
from tests.integration.servers import REDIS_URL, Service, gunicorn, redis_reachable, require, service_env, wait_for

REQUESTS = 40
HEALTHZ = ("outter_auth_http_requests_total", (("endpoint", "health.Healthz"), ("method", "GET"), ("status", "200")))


@pytest.fixture
def service(app, database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Service]:
    require(redis_reachable())
    env = service_env(database_url, keys_dir, OUTTER_METRICS="true", OUTTER_REDIS_URL=REDIS_URL)
    with gunicorn(env, tmp_path, name="metrics", workers=2) as running:
        yield running


def scrape(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(service.base + "/metrics", timeout=10, headers={"Connection": "close"}).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def healthz_burst(service: Service) -> None:
    """Concurrent requests: while one sync worker is busy, the other must take the next."""

    def get(_: int) -> int:
        return requests.get(service.base + "/healthz", timeout=10, headers={"Connection": "close"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(get, range(REQUESTS))) == {200}


def test_every_worker_reports_the_same_total(service: Service):
    for _ in range(10):
        healthz_burst(service)
        if len(service.pids_that_served("/healthz", 200)) >= 2:
            break
    assert len(service.pids_that_served("/healthz", 200)) >= 2, "both workers served /healthz"

    # Whichever worker answers /metrics, it counts every worker's requests: exactly the
    # /healthz lines of gunicorn's access log (the start-up probe's included). Both settle a
    # moment after the last answer: gunicorn logs once it is sent, and each worker writes its
    # counts every metrics.FLUSH_SECONDS.
    def served() -> int:
        return len([line for line in service.access_lines() if line.split()[2:] == ["/healthz", "200"]])

    wait_for(lambda: scrape(service).get(HEALTHZ) == served(), 10, "/metrics to count every /healthz")
    assert {scrape(service)[HEALTHZ] for _ in range(6)} == {served()}


def test_invalidation_lag_is_measured_in_the_workers(service: Service):
    for _ in range(10):  # each worker subscribes on its first API-key use
        requests.post(service.base + "/api/auth/api-keys/verify", headers={"X-API-Key": "x", "Connection": "close"})
    count = ("outter_auth_invalidation_lag_seconds_count", ())
    before = scrape(service).get(count, 0.0)
    redis.Redis.from_url(REDIS_URL).publish(CHANNEL, f"api_key:key_nosuchkey {time.time():.6f}")
    wait_for(lambda: scrape(service).get(count, 0.0) > before, 5, "the lag observed")
    lag_sum = scrape(service)[("outter_auth_invalidation_lag_seconds_sum", ())]
    assert lag_sum >= 0
