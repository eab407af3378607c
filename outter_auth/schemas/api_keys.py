"""API key schemas (SPEC §6 fields)."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from outter_auth.schemas.fields import Text, UtcDateTime, scope_field

MAX_SCOPES = 100
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600


class ApiKeySchema(Schema):
    id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    prefix = fields.String(dump_only=True)
    last4 = fields.String(dump_only=True)
    tenant_id = fields.String(dump_only=True)
    project_id = fields.String(dump_only=True, allow_none=True)
    environment = fields.String(dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    created_by = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    expires_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    last_used_at = fields.AwareDateTime(dump_only=True, allow_none=True)
    revoked_at = fields.AwareDateTime(dump_only=True, allow_none=True)


class ApiKeyWithSecretSchema(ApiKeySchema):
    key = fields.String(dump_only=True, metadata={"description": "The full key: shown this once, never again"})


class ApiKeyCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    scopes = fields.List(scope_field(), required=True, validate=validate.Length(max=MAX_SCOPES))
    environment = fields.String(load_default="live", validate=validate.OneOf(["live", "test"]))
    project_id = Text(load_default=None, allow_none=True, validate=validate.Length(1, 40))
    expires_at = UtcDateTime(load_default=None, allow_none=True)
    expires_in = fields.Integer(
        strict=True,
        load_default=None,
        allow_none=True,
        validate=validate.Range(60, MAX_EXPIRES_IN),
        metadata={"description": "Seconds from now; instead of expires_at"},
    )

    # one_expiry, said in the document: not both of them non-null.
    OPENAPI_RULES: ClassVar[dict[str, Any]] = {
        "not": {
            "required": ["expires_at", "expires_in"],
            "properties": {"expires_at": {"type": "string"}, "expires_in": {"type": "integer"}},
        }
    }

    @validates_schema
    def one_expiry(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("expires_at") is not None and data.get("expires_in") is not None:
            raise ValidationError("give expires_at or expires_in, not both", "expires_in")


class ApiKeyUpdateSchema(Schema):
    name = Text(validate=validate.Length(1, 200))
    scopes = fields.List(scope_field(), validate=validate.Length(max=MAX_SCOPES))
    expires_at = UtcDateTime(allow_none=True, metadata={"description": "null removes the expiry"})


class ApiKeyRotateSchema(Schema):
    grace_period_seconds = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 30 * 24 * 3600))


class ApiKeyListArgs(Schema):
    environment = fields.String(validate=validate.OneOf(["live", "test"]))
    project_id = Text(validate=validate.Length(1, 40))
    include_revoked = fields.Boolean(load_default=False)
