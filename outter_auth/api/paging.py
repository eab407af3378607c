"""Pagination of SQLAlchemy selects in flask-smorest's convention (X-Pagination)."""

from __future__ import annotations

from typing import Any

from flask_smorest.pagination import PaginationParameters
from sqlalchemy import Select, func, select

from outter_auth.extensions import db


def paginate(query: Select[Any], params: PaginationParameters) -> list[Any]:
    """One page of ``query``; sets the item count flask-smorest puts in ``X-Pagination``."""
    params.item_count = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    if params.first_item >= params.item_count:
        return []  # past the end; also keeps absurd page numbers out of SQL OFFSET
    page = query.limit(params.page_size).offset(params.first_item)
    return list(db.session.scalars(page).unique())
