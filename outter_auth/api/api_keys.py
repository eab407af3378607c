"""API keys of the caller's tenant: create (shown once), list, get, update, rotate, revoke, usage."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth import clock
from outter_auth.api.base import Blueprint, ShownOnce
from outter_auth.api.paging import paginate
from outter_auth.auth import current_caller, require_scopes
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.runtime import runtime
from outter_auth.schemas.api_keys import (
    ApiKeyCreateSchema,
    ApiKeyListArgs,
    ApiKeyRotateSchema,
    ApiKeySchema,
    ApiKeyUpdateSchema,
    ApiKeyWithSecretSchema,
    DayUsageSchema,
    UsageArgs,
)
from outter_auth.scopes import API_KEYS_READ, API_KEYS_WRITE
from outter_auth.services import api_keys, key_usage

blp = Blueprint("api_keys", __name__, url_prefix="/api/auth/api-keys", description="API keys of the tenant")
# Not an id: the routes beside /{key_id} (this module's generate, the gateway's verify, the
# secret scanners' leaks).
KEY_ID = '<id("generate", "verify", "leaks"):key_id>'


def _create(body: dict[str, Any]) -> ShownOnce:
    state = runtime()
    expires_at = body["expires_at"]
    if body["expires_in"] is not None:
        expires_at = clock.now() + timedelta(seconds=body["expires_in"])
    draft = api_keys.KeyDraft(
        body["name"], body["scopes"], body["environment"], body["project_id"], expires_at, body["rate_limit"]
    )
    key, raw = api_keys.create_key(
        db.session, current_caller(), draft, peppers=state.peppers, catalogue=state.settings.scopes
    )
    return ShownOnce(key, key=raw)


@blp.route("")
class ApiKeys(MethodView):
    @require_scopes(API_KEYS_READ)
    @blp.arguments(ApiKeyListArgs, location="query")
    @blp.response(200, ApiKeySchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> list[ApiKey]:
        """List API keys

        Revoked keys are left out unless ``include_revoked=true``. A key bound to a
        project sees its project's keys of its environment only.
        """
        return paginate(api_keys.keys_query(current_caller(), **args), pagination_parameters)

    @require_scopes(API_KEYS_WRITE)
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyWithSecretSchema)
    @blp.alt_response(403, description="The key would have more power than the caller")
    def post(self, body: dict[str, Any]) -> ShownOnce:
        """Create an API key

        The response holds the full key in ``key``, this once; only a digest is stored.
        """
        return _create(body)


@blp.route("/generate")
class ApiKeysGenerate(MethodView):
    @require_scopes(API_KEYS_WRITE)
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyWithSecretSchema)
    @blp.alt_response(403, description="The key would have more power than the caller")
    def post(self, body: dict[str, Any]) -> ShownOnce:
        """Create an API key (alias of POST /api/auth/api-keys)"""
        return _create(body)


@blp.route(f"/{KEY_ID}")
class ApiKeysById(MethodView):
    @require_scopes(API_KEYS_READ)
    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, description="No such key in this tenant")
    def get(self, key_id: str) -> ApiKey:
        """Get an API key (never the key itself)"""
        return api_keys.get_key(db.session, current_caller(), key_id)

    @require_scopes(API_KEYS_WRITE)
    @blp.arguments(ApiKeyUpdateSchema)
    @blp.response(200, ApiKeySchema)
    @blp.alt_response(404, description="No such key in this tenant")
    def patch(self, body: dict[str, Any], key_id: str) -> ApiKey:
        """Update an API key's name, scopes, expiry or rate limit"""
        return api_keys.update_key(db.session, current_caller(), key_id, body, catalogue=runtime().settings.scopes)

    @require_scopes(API_KEYS_WRITE)
    @blp.response(204)
    @blp.alt_response(404, description="No such key in this tenant")
    def delete(self, key_id: str) -> None:
        """Revoke an API key (the record stays, with revoked_at)

        The keys it replaced by rotation stop working too, grace or not.
        """
        api_keys.revoke_key(db.session, current_caller(), key_id)


@blp.route(f"/{KEY_ID}/rotate")
class ApiKeyRotation(MethodView):
    @require_scopes(API_KEYS_WRITE)
    @blp.arguments(ApiKeyRotateSchema)
    @blp.response(201, ApiKeyWithSecretSchema)
    @blp.alt_response(404, description="No such key in this tenant")
    def post(self, body: dict[str, Any], key_id: str) -> ShownOnce:
        """Rotate an API key

        Returns the new key once; the old key keeps working for
        ``grace_period_seconds`` (0 to 30 days, default 0), then fails.
        """
        key, raw = api_keys.rotate_key(
            db.session,
            current_caller(),
            key_id,
            grace_seconds=body["grace_period_seconds"],
            peppers=runtime().peppers,
        )
        return ShownOnce(key, key=raw)


@blp.route(f"/{KEY_ID}/usage")
class ApiKeyUsage(MethodView):
    @require_scopes(API_KEYS_READ)
    @blp.arguments(UsageArgs, location="query")
    @blp.response(200, DayUsageSchema(many=True))
    @blp.alt_response(404, description="No such key in this tenant")
    def get(self, args: dict[str, Any], key_id: str) -> list[key_usage.DayUsage]:
        """Usage of an API key per UTC day

        One entry per day of the last ``days`` (1 to 90, default 30, today included), oldest
        first, zeros included: ``verified`` counts the gateway answers (verify, check) that let
        the key in, ``refused`` those that did not (revoked, expired, a scope missing, over its
        rate limit). Counted in memory and written every few seconds, off the request path.
        """
        today = clock.now().date()
        return key_usage.usage(db.session, current_caller(), key_id, args["days"], today)
