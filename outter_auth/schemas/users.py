"""Schemas for the users of a tenant (a user seen through their membership)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from outter_auth.models import ROLES
from outter_auth.schemas.fields import Secret, StrictBoolean, Text, max_utf8_bytes
from outter_auth.services.passwords import MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS

# The WHATWG HTML rule for a valid email address (what browsers' type=email forms accept): a
# pattern rather than a validator of our own, so that the OpenAPI document says exactly it.
_LABEL = "[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
EMAIL_PATTERN = rf"^[a-zA-Z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})*$"


class MemberSchema(Schema):
    id = fields.String(attribute="user_id", dump_only=True)
    email = fields.String(attribute="user.email", dump_only=True)
    role = fields.String(dump_only=True)
    is_active = fields.Boolean(dump_only=True, metadata={"description": "Active in this tenant."})
    created_at = fields.AwareDateTime(dump_only=True)


class MemberCreateSchema(Schema):
    email = Text(
        required=True,
        validate=[validate.Length(3, 320), validate.Regexp(EMAIL_PATTERN, error="Not a valid email address.")],
        metadata={"description": "An email address as HTML's <input type=email> accepts it."},
    )
    password = Secret(
        required=True,
        load_only=True,
        validate=[validate.Length(MIN_PASSWORD_CHARS, MAX_PASSWORD_BYTES), max_utf8_bytes(MAX_PASSWORD_BYTES)],
        # JSON Schema counts characters; bcrypt reads bytes: the description says the rest.
        metadata={"description": "Initial password: 8 characters to 72 bytes in UTF-8.", "format": "password"},
    )
    role = fields.String(load_default="member", validate=validate.OneOf(ROLES))


class MemberUpdateSchema(Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
    is_active = StrictBoolean()
