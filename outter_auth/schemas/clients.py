"""OAuth client schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import StrictBoolean, Text
from outter_auth.services.grant_types import GRANT_TYPES

SCOPE = Text(validate=validate.Length(1, 64))
REDIRECT_URI = Text(validate=[validate.Length(1, 2000), validate.URL(schemes={"https", "http"}, require_tld=False)])
ADMIN_GRANTS = [name for name, grant in GRANT_TYPES.items() if not grant.first_party_only]  # the CLI makes those


class ClientSchema(Schema):
    client_id = fields.String(attribute="id", dump_only=True)
    tenant_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    public = fields.Boolean(attribute="is_public", dump_only=True)
    first_party = fields.Boolean(attribute="is_first_party", dump_only=True)
    grant_types = fields.List(fields.String(), dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    redirect_uris = fields.List(fields.String(), dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ClientWithSecretSchema(ClientSchema):
    client_secret = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "Shown once; null for public clients"}
    )


class ClientCreateSchema(Schema):
    name = Text(required=True, validate=validate.Length(1, 200))
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(ADMIN_GRANTS)), required=True, validate=validate.Length(1, 3)
    )
    scopes = fields.List(SCOPE, load_default=list, validate=validate.Length(max=100))
    public = StrictBoolean(load_default=False)
    redirect_uris = fields.List(REDIRECT_URI, load_default=list, validate=validate.Length(max=20))


class ClientUpdateSchema(Schema):
    name = Text(validate=validate.Length(1, 200))
    grant_types = fields.List(fields.String(validate=validate.OneOf(ADMIN_GRANTS)), validate=validate.Length(1, 3))
    scopes = fields.List(SCOPE, validate=validate.Length(max=100))
    redirect_uris = fields.List(REDIRECT_URI, validate=validate.Length(max=20))
