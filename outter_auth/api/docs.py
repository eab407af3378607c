"""Swagger UI served from the ``swagger-ui-bundle`` package: /docs works offline."""

from __future__ import annotations

from flask import Blueprint, Response, redirect
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

blp = Blueprint("swagger_ui_assets", __name__, static_folder=str(swagger_ui_path), static_url_path="/docs/assets")


@blp.route("/docs/")
def docs_with_a_slash() -> Response:
    """The page is ``/docs`` (flask-smorest's rule); ``/docs/`` is how many people type it."""
    return redirect("/docs", code=308)
