"""API key schemas (SPEC §6 fields)."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from outter_auth.models.api_keys import MAX_RATE_LIMIT, MAX_RATE_WINDOW, RateLimit
from outter_auth.schemas.fields import Text, UtcDateTime, scope_field
from outter_auth.services.key_usage import MAX_USAGE_DAYS

MAX_SCOPES = 100
MAX_EXPIRES_IN = 10 * 365 * 24 * 3600


class RateLimitSchema(Schema):
    """At most ``limit`` verifications per fixed window of ``window_seconds`` (SPEC §14)."""

    limit = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_RATE_LIMIT))
    window_seconds = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_RATE_WINDOW))

    @post_load
    def make(self, data: dict[str, Any], **kwargs: Any) -> RateLimit:
        return RateLimit(data["limit"], data["window_seconds"])


RATE_LIMIT_HELP = (
    "Verify and check answer 429 once the key has been verified `limit` times in a window of "
    "`window_seconds` (windows aligned on the epoch)"
)


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
    rate_limit = fields.Nested(RateLimitSchema, dump_only=True, allow_none=True)


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
    rate_limit = fields.Nested(
        RateLimitSchema, load_default=None, allow_none=True, metadata={"description": RATE_LIMIT_HELP}
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
    rate_limit = fields.Nested(
        RateLimitSchema, allow_none=True, metadata={"description": RATE_LIMIT_HELP + "; null removes the limit"}
    )


class ApiKeyRotateSchema(Schema):
    grace_period_seconds = fields.Integer(strict=True, load_default=0, validate=validate.Range(0, 30 * 24 * 3600))


class ApiKeyListArgs(Schema):
    environment = fields.String(validate=validate.OneOf(["live", "test"]))
    project_id = Text(validate=validate.Length(1, 40))
    include_revoked = fields.Boolean(load_default=False)


class UsageArgs(Schema):
    days = fields.Integer(
        load_default=30,
        validate=validate.Range(1, MAX_USAGE_DAYS),
        metadata={"description": "How many UTC days, today included"},
    )


class DayUsageSchema(Schema):
    date = fields.Date(dump_only=True, metadata={"description": "A UTC day"})
    verified = fields.Integer(dump_only=True, metadata={"description": "Verify and check answers that let it in"})
    refused = fields.Integer(
        dump_only=True, metadata={"description": "Refusals of it: revoked, expired, a scope missing, rate limited"}
    )
