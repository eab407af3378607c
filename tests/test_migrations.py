"""The Alembic migrations match the models and run both ways."""

from __future__ import annotations

import flask_migrate
import pytest
from sqlalchemy import inspect

from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import Base


def test_migrations_match_the_models(app):
    with app.app_context():
        flask_migrate.check()  # raises (exit 1) when autogenerate would find a difference


@pytest.fixture
def scratch_app(base_config, tmp_path):
    """An app on its own empty SQLite file (CI does the same on PostgreSQL in .ci/run)."""
    app = create_app({**base_config, "database_url": f"sqlite:///{tmp_path / 'scratch.db'}"})
    yield app
    with app.app_context():
        db.engine.dispose()


def test_upgrade_downgrade_upgrade(scratch_app):
    expected = {t.name for t in Base.metadata.sorted_tables}
    with scratch_app.app_context():
        flask_migrate.upgrade()
        assert expected <= set(inspect(db.engine).get_table_names())
        flask_migrate.downgrade(revision="base")
        db.engine.dispose()
        assert not expected & set(inspect(db.engine).get_table_names())
        flask_migrate.upgrade()
        assert expected <= set(inspect(db.engine).get_table_names())
