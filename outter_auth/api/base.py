"""flask-smorest's ``Api`` and ``Blueprint`` as this service needs them (errors, JSON parsing)."""

from __future__ import annotations

import json
from typing import Any

import flask_smorest
from apispec import BasePlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask, request
from flask_smorest.pagination import PaginationMetadataSchema
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import HTTPException

from outter_auth.services.audit import Origin

GENERIC_500 = "internal server error"
# X-Pagination carries a JSON object. OpenAPI 3 describes a header serialized as JSON
# with ``content`` (§4.8.21.1); flask-smorest's ``schema`` would mean the ``simple``
# style (``total,3,total_pages,1``), which is not what clients receive.
PAGINATION_HEADER = {
    "description": "Pagination metadata, a JSON object",
    "content": {"application/json": {"schema": PaginationMetadataSchema}},
}


class ShownOnce:
    """A model plus the secret that is shown this once, for a response schema to dump."""

    def __init__(self, model: Any, **secrets: str | None) -> None:
        self._model = model
        self.__dict__.update(secrets)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def json_body() -> Any:
    """The request's JSON body, or None when it is absent or not JSON we can read.

    ``request.get_json(silent=True)`` still raises on a body nested past Python's
    recursion limit (``RecursionError`` is not a ``ValueError``): 60 KB of ``[`` is enough.
    """
    try:
        return request.get_json(silent=True)
    except RecursionError:
        return None


class SafeJsonParser(FlaskParser):
    """webargs' parser, answering 400 "invalid JSON" (not 500) to JSON Python cannot load:
    nesting past the recursion limit, integers past Python's 4300-digit limit."""

    def _raw_load_json(self, req: Any) -> Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise
        except (RecursionError, ValueError) as error:
            # A non-empty doc: webargs reads an empty one as "no body at all".
            raise json.JSONDecodeError(f"unreadable JSON ({type(error).__name__})", "<body>", 0) from None


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with :class:`SafeJsonParser`; every API module uses this one."""

    ARGUMENTS_PARSER = SafeJsonParser()


def request_origin() -> Origin:
    """Where the current request came from, for the audit trail."""
    return Origin(ip=request.remote_addr, user_agent=request.headers.get("User-Agent"))


class CommonResponses(BasePlugin):
    """Document the answers that shared code gives for every operation of a kind.

    ``errors._require_json_body`` answers 415 to any body sent to ``/api/`` that is not
    JSON, and webargs answers 400 to a JSON body that does not parse. Operations that
    already document the status (e.g. the gateway's own 400) keep their description.
    """

    def operation_helper(self, path: str | None = None, operations: dict[str, Any] | None = None, **_: Any) -> None:
        if not path or not path.startswith("/api/"):  # /oauth/* reads forms and answers RFC 6749 errors
            return
        for method, operation in (operations or {}).items():
            if method not in ("post", "put", "patch"):
                continue
            responses = operation.setdefault("responses", {})
            responses.setdefault("415", "UNSUPPORTED_MEDIA_TYPE")
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("400", "BAD_REQUEST")


class SchemaRules(BasePlugin):
    """Say in the document what a schema's ``@validates_schema`` rules enforce: a marshmallow
    schema's ``OPENAPI_RULES`` (JSON Schema keywords, e.g. ``not``) join its component."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        schema = kwargs.get("schema")
        rules = getattr(resolve_schema_cls(schema), "OPENAPI_RULES", None) if schema is not None else None
        return dict(rules) if rules else None


NULL_OBJECT = {"type": "object", "nullable": True}


def nullable_reference(self: Any, field: Any, ret: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """A nullable nested schema as ``allOf: [$ref], nullable: true``. apispec writes it as
    ``anyOf: [$ref, {"type": "object", "nullable": true}]``, whose second branch admits any
    object at all: a fuzzer then sends ``{}`` as valid data and rightly expects it accepted."""
    options = ret.get("anyOf")
    if isinstance(options, list) and NULL_OBJECT in options and len(options) == 2:
        (reference,) = [option for option in options if option != NULL_OBJECT]
        del ret["anyOf"]
        ret.update({"allOf": [reference], "nullable": True})
    return {}


class Api(flask_smorest.Api):
    """flask-smorest's Api, keeping the headers an HTTP error carries (and
    documenting the shared 400 and 415, and ``X-Pagination`` as the JSON it is).

    Upstream's JSON handler drops ``error.get_headers()``, so a 405 loses its
    ``Allow`` header and a 401 its ``WWW-Authenticate``; we merge them back
    (without the HTML ``Content-Type``). Every error also gets a ``message``,
    except that a 500 never describes what went wrong.
    """

    def handle_http_exception(self, error: HTTPException) -> tuple[dict[str, Any], int, dict[str, str]]:
        payload, status, headers = super().handle_http_exception(error)
        merged = {k: v for k, v in error.get_headers() if k.lower() != "content-type"}
        merged.update(headers or {})
        if status >= 500:
            payload["message"] = GENERIC_500 if status == 500 else payload.get("message", error.name)
            payload.pop("errors", None)
        elif "message" not in payload and error.description:
            payload["message"] = error.description
        return payload, status, merged

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        spec_kwargs = dict(spec_kwargs or {})
        spec_kwargs["extra_plugins"] = [*spec_kwargs.get("extra_plugins", ()), CommonResponses(), SchemaRules()]
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.ma_plugin.converter.add_attribute_function(nullable_reference)

    def _register_pagination_header(self) -> None:
        self.spec.components.header("PAGINATION", PAGINATION_HEADER, lazy=True)
