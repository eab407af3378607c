"""Liveness and readiness probes."""

from __future__ import annotations

import logging
from typing import Any

from flask.views import MethodView
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from outter_auth.api.base import Blueprint
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services.signing_keys import SigningKeyError

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Operations probes")


@blp.route("/healthz")
class Healthz(MethodView):
    @blp.response(200, description="The process is up")
    def get(self) -> dict[str, str]:
        """Liveness: the process answers (no I/O)"""
        return {"status": "ok"}


@blp.route("/readyz")
class Readyz(MethodView):
    @blp.response(200, description="Ready to serve")
    @blp.alt_response(503, description="Database unreachable or no active signing key")
    def get(self) -> tuple[dict[str, Any], int]:
        """Readiness: database reachable and a signing key active"""
        checks = {"database": _database_ok(), "signing_key": _signing_key_ok()}
        ready = all(checks.values())
        return {"status": "ready" if ready else "unavailable", "checks": checks}, 200 if ready else 503


def _database_ok() -> bool:
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError as error:
        log.warning("readiness: database unreachable: %s", type(error).__name__)
        db.session.rollback()
        return False


def _signing_key_ok() -> bool:
    try:
        return runtime().keystore.ring().active_key() is not None
    except SigningKeyError as error:
        log.warning("readiness: %s", error)
        return False
