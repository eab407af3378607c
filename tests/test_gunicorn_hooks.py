"""gunicorn hooks: a worker is not recycled while the database is failing (its stale-if-error
answers would go with it)."""

from __future__ import annotations

from types import SimpleNamespace

from outter_auth import gunicorn_hooks, outages


def worker(nr: int, max_requests: int) -> SimpleNamespace:
    return SimpleNamespace(nr=nr, max_requests=max_requests)


def test_recycling_goes_ahead_while_the_database_is_fine(monkeypatch):
    monkeypatch.setattr(outages, "_last_failure", float("-inf"))
    busy = worker(nr=9_999, max_requests=10_000)
    gunicorn_hooks.pre_request(busy, req=None)
    assert busy.max_requests == 10_000


def test_recycling_waits_while_the_database_fails(monkeypatch):
    monkeypatch.setattr(outages, "_last_failure", float("-inf"))
    outages.database_failed()
    busy = worker(nr=9_999, max_requests=10_000)
    gunicorn_hooks.pre_request(busy, req=None)
    assert busy.max_requests == 9_999 + gunicorn_hooks.POSTPONE_REQUESTS


def test_a_failure_counts_for_a_while_only(monkeypatch):
    monkeypatch.setattr(outages, "_last_failure", float("-inf"))
    outages.database_failed()
    assert outages.recently_failed()
    monkeypatch.setattr(outages, "_last_failure", outages._last_failure - outages.RECENT - 1)
    assert not outages.recently_failed()


def test_the_repo_gunicorn_config_installs_the_hook():
    namespace: dict[str, object] = {}
    with open("gunicorn.conf.py") as config:
        exec(compile(config.read(), "gunicorn.conf.py", "exec"), namespace)  # noqa: S102 - our own config
    assert namespace["pre_request"] is gunicorn_hooks.pre_request
