"""URL converters: ids are checked by shape before they reach a query."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import BaseConverter, Map

ID = r"[A-Za-z0-9_-]{1,64}"


class IdConverter(BaseConverter):
    """An opaque id such as ``prj_…``; anything else is a plain 404 (no NUL bytes or
    megabyte strings are ever sent to the database).

    ``<id("verify"):key_id>`` reserves the names of the routes beside it: without that,
    ``/api-keys/verify`` would also match ``/api-keys/<key_id>``, and an ``OPTIONS`` (or a
    ``PATCH``) there would answer for a key called "verify" instead of ``405`` with the
    methods that path really has in ``Allow``.
    """

    def __init__(self, map: Map, *reserved: str) -> None:
        super().__init__(map)
        self.reserved = reserved
        self.regex = f"(?!(?:{'|'.join(reserved)})$){ID}" if reserved else ID


def id_schema(converter: Any) -> dict[str, Any]:
    return {"type": "string", "pattern": f"^{converter.regex}$"}
