"""The attack suite: every response is checked by ``safety.assert_safe``, and crashes are
answered as a client would see them (``PROPAGATE_EXCEPTIONS`` off), so a server error
shows up as the 500 it is rather than as a Python exception in the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

import tests.conftest as root_conftest
from outter_auth.extensions import db
from outter_auth.models import Base
from tests.attacks.safety import SafeClient


@pytest.fixture(autouse=True)
def _every_response_is_checked(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(app, "test_client_class", SafeClient)


@pytest.fixture(scope="package", autouse=True)
def _commits_without_fsync(app: Flask) -> Iterator[None]:
    """The suite commits thousands of times into a throwaway database: without waiting for
    the disk (SQLite ``synchronous=OFF``, PostgreSQL ``synchronous_commit=off``) it runs
    several times faster. Nothing here tests durability; other packages get the default back."""
    with app.app_context():
        engine = db.engine
    statement = "SET synchronous_commit TO OFF" if engine.dialect.name == "postgresql" else "PRAGMA synchronous=OFF"

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(statement)
        cursor.close()
        if engine.dialect.name == "postgresql":
            dbapi_connection.commit()

    event.listen(engine, "connect", on_connect)
    engine.dispose()
    yield
    event.remove(engine, "connect", on_connect)
    engine.dispose()


@pytest.fixture(scope="package", autouse=True)
def _rows_deleted_not_truncated(app: Flask) -> Iterator[None]:
    """On PostgreSQL the root conftest empties the tables after every test with one
    TRUNCATE, which costs about 0.2 s even on empty tables; this suite has over a
    thousand tests, each leaving a handful of rows, and DELETE is what SQLite gets anyway."""
    with app.app_context():
        dialect = db.engine.dialect.name
    original = root_conftest._delete_all_rows
    if dialect == "postgresql":

        def delete_all_rows() -> None:
            db.session.rollback()
            for table in reversed(Base.metadata.sorted_tables):
                db.session.execute(table.delete())
            db.session.commit()

        root_conftest._delete_all_rows = delete_all_rows
    yield
    root_conftest._delete_all_rows = original
