"""Audit event schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import Text, UtcDateTime


class AuditEventSchema(Schema):
    id = fields.String(dump_only=True)
    type = fields.String(dump_only=True)
    tenant_id = fields.String(dump_only=True, allow_none=True)
    actor = fields.String(dump_only=True, allow_none=True)
    subject = fields.String(dump_only=True, allow_none=True)
    ip = fields.String(dump_only=True, allow_none=True)
    user_agent = fields.String(dump_only=True, allow_none=True)
    created_at = fields.AwareDateTime(dump_only=True)
    details = fields.Dict(dump_only=True)


class AuditQueryArgs(Schema):
    type = Text(validate=validate.Length(1, 64), metadata={"description": "e.g. login.failed"})
    actor = Text(validate=validate.Length(1, 64), metadata={"description": "user, key or client id"})
    since = UtcDateTime(metadata={"description": "inclusive"})
    until = UtcDateTime(metadata={"description": "exclusive"})
