"""GET /metrics (SPEC §13): off by default, guarded by a token, the series it names.

The registry is the process's (``prometheus_client``'s default), shared by every app of the
test run, so each test compares values before and after what it does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from outter_auth import metrics
from tests.api_key_helpers import create_key, key_headers
from tests.factories import PASSWORD, Actor

REPO = Path(__file__).resolve().parent.parent
DASHBOARD = REPO / "deploy" / "grafana" / "outter-auth.json"
TOKEN = "m" * 40
VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"


def scrape(app: Flask, token: str | None = None) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) → value."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metrics_app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(metrics=True)


# -- on, off, and the token -------------------------------------------------------------------


def test_metrics_are_off_unless_asked_for(client):
    assert client.get("/metrics").status_code == 404


def test_metrics_are_prometheus_text(metrics_app):
    response = metrics_app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    assert "# TYPE outter_auth_http_requests_total counter" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer"],
)
def test_a_metrics_token_is_required_when_set(make_app, authorization):
    app = make_app(metrics=True, metrics_token=TOKEN)
    headers = {"Authorization": authorization} if authorization else {}
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="outter-metrics"'
    assert b"outter_auth" not in response.data
    assert app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_the_functions_do_nothing_while_metrics_are_off(monkeypatch):
    metrics.flush()
    monkeypatch.setattr(metrics, "_enabled", False)
    before = metrics.LOCKOUTS._value.get()
    metrics.lockout()
    metrics.token_issued("password")
    metrics.request_finished("health.Healthz", "GET", 200, 0.001)
    metrics.gateway_result("verify", "valid")
    metrics.key_cache_lookup(hit=True)
    assert metrics.LOCKOUTS._value.get() == before
    assert metrics._counts == {} and metrics._latencies == {}


# -- the series ----------------------------------------------------------------------------------


def test_requests_are_counted_by_endpoint_name_never_by_raw_path(metrics_app, owner: Actor):
    client = metrics_app.test_client()
    before = scrape(metrics_app)
    client.get("/healthz")
    client.get("/api/auth/projects/prj_doesnotexist123", headers=owner.headers)
    client.get("/no/such/path")
    client.open("/healthz", method="BREW")
    after = scrape(metrics_app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("outter_auth_http_requests_total", endpoint="health.Healthz", method="GET", status="200") == 1
    assert delta("outter_auth_http_request_duration_seconds_count", endpoint="health.Healthz") == 1
    assert delta("outter_auth_http_requests_total", endpoint="projects.ProjectsById", method="GET", status="404") == 1
    assert delta("outter_auth_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    # a method no route has: no endpoint, and the method itself is not a label value
    assert delta("outter_auth_http_requests_total", endpoint="unmatched", method="other", status="405") == 1
    text = metrics_app.test_client().get("/metrics").get_data(as_text=True)
    assert "prj_doesnotexist123" not in text and "/no/such/path" not in text


def test_gateway_results_by_code_and_the_key_cache(metrics_app, owner: Actor):
    client = metrics_app.test_client()
    key = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    before = scrape(metrics_app)
    client.post(VERIFY, headers=key_headers(key))  # a miss, then cached
    client.post(VERIFY, headers=key_headers(key))  # a hit
    client.post(VERIFY, headers=key_headers(key[:-1] + ("A" if key[-1] != "A" else "B")))  # checksum: malformed
    client.post(VERIFY)
    client.get(CHECK, headers=key_headers(key))
    client.get(CHECK, headers={**key_headers(key), "X-Outter-Required-Scopes": "users:write"})
    client.get(CHECK, headers={"Authorization": "Bearer not-a-token"})
    after = scrape(metrics_app)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    results = "outter_auth_gateway_results_total"
    assert delta(results, endpoint="verify", code="valid") == 2
    assert delta(results, endpoint="verify", code="malformed") == 1
    assert delta(results, endpoint="verify", code="missing") == 1
    assert delta(results, endpoint="check", code="valid") == 1
    assert delta(results, endpoint="check", code="insufficient_scope") == 1
    assert delta(results, endpoint="check", code="invalid_token") == 1
    assert delta("outter_auth_api_key_cache_lookups_total", result="miss") >= 1
    assert delta("outter_auth_api_key_cache_lookups_total", result="hit") >= 2


def test_tokens_issued_by_grant_type(metrics_app, make, owner: Actor, machine):
    client = metrics_app.test_client()
    before = scrape(metrics_app)
    login = client.post("/api/auth/login", json={"email": "owner@acme.test", "password": PASSWORD}).get_json()
    client.post("/api/auth/token/refresh", json={"refresh_token": login["refresh_token"]})
    client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(machine.client_id, machine.secret))
    after = scrape(metrics_app)
    for grant in ("login", "refresh_token", "client_credentials"):
        issued = value(after, "outter_auth_tokens_issued_total", grant_type=grant)
        assert issued - value(before, "outter_auth_tokens_issued_total", grant_type=grant) == 1, grant


def test_login_failures_and_lockouts(make_app, owner: Actor):
    app = make_app(metrics=True, lockout_threshold=2)
    client = app.test_client()
    before = scrape(app)
    for _ in range(2):
        client.post("/api/auth/login", json={"email": "owner@acme.test", "password": "wrong password"})
    client.post("/api/auth/login", json={"email": "nobody@acme.test", "password": "wrong password"})
    after = scrape(app)
    failures = "outter_auth_login_failures_total"
    assert value(after, failures, reason="wrong_password") - value(before, failures, reason="wrong_password") == 2
    assert value(after, failures, reason="unknown_email") - value(before, failures, reason="unknown_email") == 1
    locked = value(after, "outter_auth_account_lockouts_total") - value(before, "outter_auth_account_lockouts_total")
    assert locked == 1


def test_invalidation_lag_is_observed_on_receipt(metrics_app):
    """The publisher's time travels in the message (services/invalidation.py)."""
    from outter_auth.services import invalidation

    before = scrape(metrics_app)
    invalidation._observe_lag("not a time")  # a message of an older publisher: ignored
    invalidation._observe_lag(f"{__import__('time').time() - 0.2:.6f}")
    after = scrape(metrics_app)
    count = "outter_auth_invalidation_lag_seconds_count"
    assert value(after, count) - value(before, count) == 1
    total = value(after, "outter_auth_invalidation_lag_seconds_sum") - value(
        before, "outter_auth_invalidation_lag_seconds_sum"
    )
    assert 0.2 <= total < 5


# -- the Grafana dashboard -----------------------------------------------------------------------


def dashboard_metric_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert exprs
    return set(re.findall(r"\b(outter_auth_[a-z_]+)\b", " ".join(exprs)))


def test_the_dashboard_is_grafana_json_with_a_panel_per_series():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["title"] and dashboard["panels"]
    assert {panel["type"] for panel in dashboard["panels"]} <= {"timeseries", "stat", "row"}
    families = {
        "outter_auth_http_requests_total",
        "outter_auth_http_request_duration_seconds_bucket",
        "outter_auth_gateway_results_total",
        "outter_auth_api_key_cache_lookups_total",
        "outter_auth_tokens_issued_total",
        "outter_auth_login_failures_total",
        "outter_auth_account_lockouts_total",
        "outter_auth_invalidation_lag_seconds_bucket",
    }
    assert families <= dashboard_metric_names()


def test_every_metric_the_dashboard_queries_is_served(metrics_app, owner: Actor):
    client = metrics_app.test_client()
    client.post("/api/auth/login", json={"email": "owner@acme.test", "password": "wrong password"})
    key = create_key(client, owner.headers)["key"]
    client.post(VERIFY, headers=key_headers(key))
    served = {name for name, _ in scrape(metrics_app)}
    text = client.get("/metrics").get_data(as_text=True)
    declared = set(re.findall(r"^# TYPE (\S+) (\w+)", text, re.M))
    for name, kind in declared:  # a family with no sample yet still names its series
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(kind, [""])
        served |= {name + suffix for suffix in suffixes} | {name}
    missing = dashboard_metric_names() - served
    assert not missing, missing


def test_latencies_land_in_their_buckets_once_written(metrics_app):
    """The request path only adds up in memory; flush() (and /metrics, which calls it) writes
    the counts and the histogram's buckets and sum into prometheus_client."""
    before = scrape(metrics_app)
    for seconds in (0.003, 0.003, 0.2, 9.0):
        metrics.request_finished("test.Endpoint", "GET", 200, seconds)
    metrics.flush()
    after = scrape(metrics_app)

    def delta(le: str) -> float:
        name = "outter_auth_http_request_duration_seconds_bucket"
        return value(after, name, endpoint="test.Endpoint", le=le) - value(
            before, name, endpoint="test.Endpoint", le=le
        )

    assert (delta("0.0025"), delta("0.005"), delta("0.25"), delta("5.0"), delta("+Inf")) == (0, 2, 3, 3, 4)
    total = "outter_auth_http_request_duration_seconds_sum"
    assert value(after, total, endpoint="test.Endpoint") - value(
        before, total, endpoint="test.Endpoint"
    ) == pytest.approx(9.206)
    counted = "outter_auth_http_requests_total"
    labels = {"endpoint": "test.Endpoint", "method": "GET", "status": "200"}
    assert value(after, counted, **labels) - value(before, counted, **labels) == 4
