"""Many requests at once: one test client per thread, all released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient


def race(app: Flask, racers: int, send: Callable[[FlaskClient], Any], name: str = "racer") -> list[Any]:
    """``send(client)`` from ``racers`` threads released by one barrier; each thread's
    response, or the exception it raised (to be reported with the others)."""
    barrier = threading.Barrier(racers)
    results: list[Any] = [None] * racers

    def racer(index: int) -> None:
        client = app.test_client()
        barrier.wait(timeout=30)
        try:
            results[index] = send(client)
        except Exception as error:  # noqa: BLE001 - reported by the caller, with the others
            results[index] = error

    threads = [threading.Thread(target=racer, args=(i,), name=f"{name}-{i}") for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), f"a {name} hung"
    return results
