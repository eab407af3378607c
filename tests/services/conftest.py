"""Fixtures for calling services directly (with ``ctx`` and the factories of the root conftest)."""

from __future__ import annotations

import pytest
from flask import Flask


@pytest.fixture
def heard(app: Flask, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tags this process's runtime hears of once changes commit, in order (its caches
    still drop them)."""
    tags: list[str] = []
    state = app.extensions["outter_auth"]
    original = state.forget
    monkeypatch.setattr(state, "forget", lambda tag: (tags.append(tag), original(tag)))
    return tags
