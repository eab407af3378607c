"""Extensions, created unbound and attached in ``create_app``."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.engine import Engine

from outter_auth.api.base import Api
from outter_auth.models.base import Base

db = SQLAlchemy(model_class=Base)
# Batch mode lets SQLite take ALTERs; compare_type lets `db check` catch type drift.
migrate = Migrate(render_as_batch=True, compare_type=True)
api = Api()


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection: object, connection_record: object) -> None:
    """SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked per connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
