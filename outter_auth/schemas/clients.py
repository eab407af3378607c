"""OAuth client schemas."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import StrictBoolean, Text, scope_field
from outter_auth.services.grant_types import GRANT_TYPES

SCOPE = scope_field()
# An absolute http(s) URI without a fragment (RFC 6749 §3.1.2): a host name or IP literal,
# an optional port, then printable ASCII but space and '#'. A pattern rather than a URL
# validator, so that the OpenAPI document says exactly what is accepted.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]{{2,45}}\])"
REDIRECT_URI_PATTERN = rf"^https?://{_HOST}(?::[0-9]{{1,5}})?(?:[/?][\x21\x22\x24-\x7E]*)?$"
REDIRECT_URI = Text(
    validate=[
        validate.Length(1, 2000),
        validate.Regexp(REDIRECT_URI_PATTERN, error="must be an http(s) URL without a fragment or spaces"),
    ]
)
ADMIN_GRANTS = [name for name, grant in GRANT_TYPES.items() if not grant.first_party_only]  # the CLI makes those
CONFIDENTIAL_GRANTS = [name for name, grant in GRANT_TYPES.items() if grant.confidential_only]


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
    # services.grant_types' rule, said in the document: a public client has no secret, so
    # none of the grants that need one ("grant_types contains X", in OpenAPI 3.0's words).
    OPENAPI_RULES: ClassVar[dict[str, Any]] = {
        "not": {
            "required": ["public", "grant_types"],
            "properties": {
                "public": {"enum": [True]},
                "grant_types": {"not": {"items": {"not": {"enum": CONFIDENTIAL_GRANTS}}}},
            },
        }
    }

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


class OperatorClientCreateSchema(ClientCreateSchema):
    """An operator's registration (``outter-auth clients create``): the same fields and rules,
    and also first-party clients with the grants only they may use (the password grant)."""

    grant_types = fields.List(
        fields.String(validate=validate.OneOf(list(GRANT_TYPES))),
        required=True,
        validate=validate.Length(1, len(GRANT_TYPES)),
    )
    first_party = StrictBoolean(load_default=False)
