"""URL converters: ids are checked by shape before they reach a query."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    """An opaque id such as ``prj_…``; anything else is a plain 404 (no NUL bytes or
    megabyte strings are ever sent to the database)."""

    regex = r"[A-Za-z0-9_-]{1,64}"


def id_schema(converter: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{IdConverter.regex}$"}
