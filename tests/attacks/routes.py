"""The service's routes, read from a throwaway app's ``url_map`` and OpenAPI document, so
the attack tables grow by themselves when an endpoint is added.

The app is built once per test run, with ``serving=False`` (no signing key needed) and a
database URL it never connects to: only its routing and its OpenAPI document are read.
"""

from __future__ import annotations

import functools
import re
import tempfile
from dataclasses import dataclass
from typing import Any

from outter_auth.api.converters import IdConverter
from outter_auth.app import create_app

_ARGUMENT = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class Route:
    rule: str  # as in the url_map: "/api/auth/api-keys/<id:key_id>/rotate"
    method: str
    id_arg: str | None  # the path argument matched by the id converter, if any
    body: str | None  # "json" | "form" | None: what the OpenAPI document says the operation reads
    schema: dict[str, Any] | None  # the JSON body's schema (``$ref`` resolved)
    response_is_list: bool

    def path(self, id_value: str = "") -> str:
        return _ARGUMENT.sub(id_value, self.rule)

    @property
    def openapi_path(self) -> str:
        return _ARGUMENT.sub(lambda m: "{" + m.group(2) + "}", self.rule)

    @property
    def name(self) -> str:
        return f"{self.method} {self.openapi_path}"

    def __str__(self) -> str:
        return self.name


@functools.cache
def all_routes() -> tuple[Route, ...]:
    with tempfile.TemporaryDirectory() as scratch:
        app = create_app(
            {"env": "testing", "database_url": f"sqlite:///{scratch}/unused.db", "keys_dir": scratch},
            serving=False,
        )
        spec = app.test_client().get("/openapi.json").get_json()
    schemas = spec.get("components", {}).get("schemas", {})
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/oauth/")):
            continue
        id_args = [name for name, conv in rule._converters.items() if isinstance(conv, IdConverter)]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            route = Route(rule.rule, method, id_args[0] if id_args else None, None, None, False)
            operation = spec["paths"].get(route.openapi_path, {}).get(method.lower(), {})
            body, schema = _body_of(operation, schemas)
            ok = next((r for code, r in operation.get("responses", {}).items() if code.startswith("2")), {})
            listed = any(
                _resolve(c.get("schema", {}), schemas).get("type") == "array" for c in ok.get("content", {}).values()
            )
            routes.append(Route(rule.rule, method, route.id_arg, body, schema, listed))
    return tuple(sorted(routes, key=lambda r: (r.rule, r.method)))


def _resolve(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return dict(schemas[schema["$ref"].rsplit("/", 1)[-1]])
    return schema


def _body_of(operation: dict[str, Any], schemas: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" in content:
        return "json", _resolve(content["application/json"]["schema"], schemas)
    if "application/x-www-form-urlencoded" in content:
        return "form", _resolve(content["application/x-www-form-urlencoded"]["schema"], schemas)
    return None, None


def id_routes() -> list[Route]:
    """Every route that takes an object id in its path (the management API's by-id endpoints)."""
    return [r for r in all_routes() if r.id_arg is not None]


def body_routes(kind: str | None = None) -> list[Route]:
    """Every route that reads a request body (``kind``: only JSON or only form bodies)."""
    return [r for r in all_routes() if r.body is not None and (kind is None or r.body == kind)]


def list_routes() -> list[Route]:
    """Every route answering a JSON array of the tenant's objects (its collections; an
    array about one object, such as a key's usage, is that object's by-id route)."""
    return [r for r in all_routes() if r.method == "GET" and r.response_is_list and r.id_arg is None]
