"""Pagination of SQLAlchemy selects in flask-smorest's convention (X-Pagination)."""

from __future__ import annotations

from typing import Any, TypeVar

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select

from outter_auth.extensions import db

T = TypeVar("T")


def paginate(query: Select[Any], params: PaginationParameters) -> list[Any]:
    """One page of ``query``; sets the item count flask-smorest puts in ``X-Pagination``."""
    params.item_count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    page = query.limit(params.page_size).offset(params.first_item)
    return list(db.session.scalars(page).unique())
