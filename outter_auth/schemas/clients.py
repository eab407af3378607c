"""OAuth client schemas."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import Schema, fields, validate

from outter_auth.schemas.fields import StrictBoolean, Text, scope_field
from outter_auth.services.grant_types import GRANT_TYPES

SCOPE = scope_field()
# What services.redirect_uris accepts, said as a pattern so that the OpenAPI document says
# exactly what is accepted (the service checks the same, for the CLI and the configuration
# too): an https URI with a host; http only on this machine's loopback; or a native app's
# private-use scheme, a reversed domain name (RFC 8252 §7.1). Never a fragment or a space.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_REST = rf"(?::{_PORT})?(?:[/?][\x21\x22\x24-\x7E]*)?"
_HTTPS = rf"https://(?:{_LABEL}(?:\.{_LABEL})*|\[::1\]){_REST}"  # IPv6 literals: loopback only
_LOOPBACK = rf"http://(?:127\.0\.0\.1|\[::1\]|localhost){_REST}"
_APP = r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)+:[\x21\x22\x24-\x7E]+"
REDIRECT_URI_PATTERN = rf"^(?:{_HTTPS}|{_LOOPBACK}|{_APP})$"
REDIRECT_URI = Text(
    validate=[
        validate.Length(1, 2000),
        validate.Regexp(
            REDIRECT_URI_PATTERN,
            error="must be an https URL, http on 127.0.0.1, [::1] or localhost, or an app's reversed-domain "
            "scheme (com.example.app:/callback), without a fragment or spaces",
        ),
    ],
    metadata={
        "description": "Matched exactly; for a public client a loopback IP URI matches on any port (RFC 8252 §7.3)"
    },
)
ADMIN_GRANTS = [name for name, grant in GRANT_TYPES.items() if not grant.first_party_only]  # the CLI makes those
CONFIDENTIAL_GRANTS = [name for name, grant in GRANT_TYPES.items() if grant.confidential_only]
REDIRECTING_GRANTS = [name for name, grant in GRANT_TYPES.items() if grant.redirects]


class ClientSchema(Schema):
    client_id = fields.String(attribute="id", dump_only=True)
    tenant_id = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    public = fields.Boolean(attribute="is_public", dump_only=True)
    first_party = fields.Boolean(attribute="is_first_party", dump_only=True)
    grant_types = fields.List(fields.String(), dump_only=True)
    scopes = fields.List(fields.String(), dump_only=True)
    redirect_uris = fields.List(fields.String(), dump_only=True)
    post_logout_redirect_uris = fields.List(fields.String(), dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)
    updated_at = fields.AwareDateTime(dump_only=True)


class ClientWithSecretSchema(ClientSchema):
    client_secret = fields.String(
        dump_only=True, allow_none=True, metadata={"description": "Shown once; null for public clients"}
    )


def _contains_any(names: list[str]) -> dict[str, Any]:
    """``grant_types contains one of names``, in OpenAPI 3.0's words."""
    return {"not": {"items": {"not": {"enum": names}}}}


class ClientCreateSchema(Schema):
    # services.grant_types' rules, said in the document: a public client has no secret, so
    # none of the grants that need one; a grant that redirects needs a redirect URI.
    OPENAPI_RULES: ClassVar[dict[str, Any]] = {
        "allOf": [
            {
                "not": {
                    "required": ["public", "grant_types"],
                    "properties": {"public": {"enum": [True]}, "grant_types": _contains_any(CONFIDENTIAL_GRANTS)},
                }
            },
            {
                "not": {
                    "required": ["grant_types"],
                    "properties": {
                        "grant_types": _contains_any(REDIRECTING_GRANTS),
                        "redirect_uris": {"maxItems": 0},  # absent or empty
                    },
                }
            },
        ]
    }

    name = Text(required=True, validate=validate.Length(1, 200))
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(ADMIN_GRANTS)),
        required=True,
        validate=validate.Length(1, len(ADMIN_GRANTS)),
    )
    scopes = fields.List(SCOPE, load_default=list, validate=validate.Length(max=100))
    public = StrictBoolean(load_default=False)
    redirect_uris = fields.List(REDIRECT_URI, load_default=list, validate=validate.Length(max=20))
    post_logout_redirect_uris = fields.List(
        REDIRECT_URI,
        load_default=list,
        validate=validate.Length(max=20),
        metadata={"description": "Where logout may send the browser back (exact match)"},
    )


class ClientUpdateSchema(Schema):
    name = Text(validate=validate.Length(1, 200))
    grant_types = fields.List(
        fields.String(validate=validate.OneOf(ADMIN_GRANTS)), validate=validate.Length(1, len(ADMIN_GRANTS))
    )
    scopes = fields.List(SCOPE, validate=validate.Length(max=100))
    redirect_uris = fields.List(REDIRECT_URI, validate=validate.Length(max=20))
    post_logout_redirect_uris = fields.List(REDIRECT_URI, validate=validate.Length(max=20))


class OperatorClientCreateSchema(ClientCreateSchema):
    """An operator's registration (``outter-auth clients create``): the same fields and rules,
    and also first-party clients with the grants only they may use (the password grant)."""

    grant_types = fields.List(
        fields.String(validate=validate.OneOf(list(GRANT_TYPES))),
        required=True,
        validate=validate.Length(1, len(GRANT_TYPES)),
    )
    first_party = StrictBoolean(load_default=False)
