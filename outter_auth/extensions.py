"""Extensions, created unbound and attached in ``create_app``."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from outter_auth.api.base import Api
from outter_auth.models.base import Base

db = SQLAlchemy(model_class=Base)
# Batch mode lets SQLite take ALTERs; compare_type lets `db check` catch type drift.
migrate = Migrate(render_as_batch=True, compare_type=True)
api = Api()
