"""Extra apps on the test database, for settings the session ``app`` does not have."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from flask import Flask

from outter_auth.app import create_app
from outter_auth.extensions import db


@contextmanager
def extra_app(config: Mapping[str, Any]) -> Iterator[Flask]:
    """An app built from ``config`` (the database must be migrated already: depend on the
    session ``app``), closed afterwards: its connections and its invalidation thread."""
    built = create_app(config)
    try:
        yield built
    finally:
        built.extensions["outter_auth"].invalidation.stop()
        with built.app_context():
            db.session.remove()
            db.engine.dispose()
