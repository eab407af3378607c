"""Login, token and caller-identity schemas."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import Secret, Text


class LoginSchema(Schema):
    email = Text(required=True, validate=validate.Length(1, 320))
    password = Secret(required=True, validate=validate.Length(1, 1024), load_only=True)
    tenant = Text(
        validate=validate.Length(1, 64),
        metadata={"description": "Tenant slug or id; needed only when the user belongs to several tenants."},
    )


class RefreshSchema(Schema):
    refresh_token = Secret(required=True, validate=validate.Length(1, 512), load_only=True)


class TokenResponseSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True)
    refresh_token = fields.String(required=True)
    scope = fields.String(required=True)


class PrincipalSchema(Schema):
    type = fields.String(required=True, metadata={"enum": ["user", "api_key", "client"]})
    id = fields.String(required=True)
    tenant_id = fields.String(required=True)
    roles = fields.List(fields.String(), required=True)
    scopes = fields.Method("sorted_scopes", required=True)
    # Each kind of caller has some of these and not others: the rest are null.
    email = fields.String(allow_none=True, metadata={"description": "Users"})
    client_id = fields.String(allow_none=True, metadata={"description": "Users and clients"})
    session_id = fields.String(allow_none=True, metadata={"description": "Users"})
    environment = fields.String(allow_none=True, metadata={"description": "API keys: live or test"})
    project_id = fields.String(allow_none=True, metadata={"description": "API keys bound to one project"})

    def sorted_scopes(self, principal: object) -> list[str]:
        return sorted(getattr(principal, "scopes", ()))
