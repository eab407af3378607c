"""Tenant and project schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import Text

SLUG = validate.Regexp(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$",
    error="1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'",
)


class TenantSchema(Schema):
    id = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class TenantCreateSchema(Schema):
    """A new tenant (the operator's: ``outter-auth tenants create``; no REST endpoint makes one)."""

    slug = Text(required=True, validate=SLUG)
    name = Text(load_default=None, validate=validate.Length(1, 200), metadata={"description": "Defaults to the slug."})


class ProjectSchema(Schema):
    id = fields.String(dump_only=True)
    tenant_id = fields.String(dump_only=True)
    slug = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    description = fields.String(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ProjectCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    slug = Text(validate=SLUG, metadata={"description": "Derived from the name when omitted."})
    description = Text(load_default="", multiline=True, validate=validate.Length(max=1000))


class ProjectUpdateSchema(Schema):
    name = Text(validate=validate.Length(1, 200))
    slug = Text(validate=SLUG)
    description = Text(multiline=True, validate=validate.Length(max=1000))


class ProjectDeleteArgs(Schema):
    revoke_keys = fields.Boolean(
        load_default=False,
        metadata={
            "description": "Revoke the project's live API keys (otherwise a project with live keys is kept: 409)"
        },
    )
