"""OAuth clients of the caller's tenant (``clients:read`` / ``clients:write``)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint, ShownOnce
from outter_auth.api.paging import paginate
from outter_auth.auth import current_caller, require_scopes
from outter_auth.extensions import db
from outter_auth.models import OAuthClient
from outter_auth.runtime import runtime
from outter_auth.schemas.clients import ClientCreateSchema, ClientSchema, ClientUpdateSchema, ClientWithSecretSchema
from outter_auth.scopes import CLIENTS_READ, CLIENTS_WRITE
from outter_auth.services import clients

blp = Blueprint("clients", __name__, url_prefix="/api/auth/clients", description="OAuth clients of the tenant")

BEYOND_CALLER = "The client would have more power than the caller (or the caller is bound to an environment, "
BEYOND_CALLER += "project or lifetime, which a client cannot be)"


@blp.route("")
class Clients(MethodView):
    @require_scopes(CLIENTS_READ, tenant_wide=True)
    @blp.response(200, ClientSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[OAuthClient]:
        """List OAuth clients"""
        return paginate(clients.clients_query(current_caller()), pagination_parameters)

    @require_scopes(CLIENTS_WRITE, tenant_wide=True)
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientWithSecretSchema)
    @blp.alt_response(403, description=BEYOND_CALLER)
    def post(self, body: dict[str, Any]) -> ShownOnce:
        """Register an OAuth client

        The response holds ``client_secret`` once; only its digest is stored. Its scopes
        must lie within the caller's own.
        """
        settings = runtime().settings
        draft = clients.ClientDraft(
            body["name"],
            body["grant_types"],
            body["scopes"],
            body["public"],
            redirect_uris=body["redirect_uris"],
            post_logout_redirect_uris=body["post_logout_redirect_uris"],
        )
        client, secret = clients.create_client(
            db.session, current_caller(), draft, pepper=settings.api_key_pepper, catalogue=settings.scopes
        )
        return ShownOnce(client, client_secret=secret)


@blp.route("/<id:client_id>")
class ClientsById(MethodView):
    @require_scopes(CLIENTS_READ, tenant_wide=True)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, description="No such client in this tenant")
    def get(self, client_id: str) -> OAuthClient:
        """Get an OAuth client"""
        return clients.get_client(db.session, current_caller(), client_id)

    @require_scopes(CLIENTS_WRITE, tenant_wide=True)
    @blp.arguments(ClientUpdateSchema)
    @blp.response(200, ClientSchema)
    @blp.alt_response(403, description=BEYOND_CALLER)
    @blp.alt_response(404, description="No such client in this tenant")
    @blp.alt_response(409, description="A grant type this client cannot have (a public client has no secret)")
    def patch(self, body: dict[str, Any], client_id: str) -> OAuthClient:
        """Update an OAuth client"""
        return clients.update_client(db.session, current_caller(), client_id, body, catalogue=runtime().settings.scopes)

    @require_scopes(CLIENTS_WRITE, tenant_wide=True)
    @blp.response(204)
    @blp.alt_response(403, description=BEYOND_CALLER)
    @blp.alt_response(404, description="No such client in this tenant")
    def delete(self, client_id: str) -> None:
        """Delete an OAuth client

        Its tokens are refused from then on; its sessions cannot be refreshed.
        """
        clients.delete_client(db.session, current_caller(), client_id)


@blp.route("/<id:client_id>/rotate-secret")
class ClientSecretRotation(MethodView):
    @require_scopes(CLIENTS_WRITE, tenant_wide=True)
    @blp.response(201, ClientWithSecretSchema)
    @blp.alt_response(403, description=BEYOND_CALLER)
    @blp.alt_response(404, description="No such client in this tenant")
    def post(self, client_id: str) -> ShownOnce:
        """Rotate a client's secret

        The new secret is returned once; the old one stops working at once.
        """
        client, secret = clients.rotate_secret(
            db.session, current_caller(), client_id, pepper=runtime().settings.api_key_pepper
        )
        return ShownOnce(client, client_secret=secret)
