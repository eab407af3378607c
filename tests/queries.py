"""Counting the SQL statements a request sends (hot paths promise none, or one)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


class QueryCounter:
    """Every statement ``engine`` sends while the ``with`` block runs."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[str] = []
        self.engine = engine

    def __enter__(self) -> QueryCounter:
        event.listen(self.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._count)

    def _count(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        self.statements.append(statement)
