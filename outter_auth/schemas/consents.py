"""Consent schemas."""

from __future__ import annotations

from marshmallow import Schema, fields


class ConsentSchema(Schema):
    client_id = fields.String(required=True)
    client_name = fields.String(attribute="client.name", required=True)
    tenant_id = fields.String(required=True, metadata={"description": "The client's tenant"})
    scopes = fields.List(fields.String(), required=True, metadata={"description": "What the user allowed"})
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
