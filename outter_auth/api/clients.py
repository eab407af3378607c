"""OAuth clients of the caller's tenant (owners and admins)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint, ShownOnce, request_origin
from outter_auth.api.paging import paginate
from outter_auth.auth import current_principal, require_admin
from outter_auth.extensions import db
from outter_auth.models import OAuthClient
from outter_auth.runtime import runtime
from outter_auth.schemas.clients import ClientCreateSchema, ClientSchema, ClientUpdateSchema, ClientWithSecretSchema
from outter_auth.services import audit, clients

blp = Blueprint("clients", __name__, url_prefix="/api/auth/clients", description="OAuth clients of the tenant")


def _with_secret(client: OAuthClient, secret: str | None) -> ShownOnce:
    return ShownOnce(client, client_secret=secret)


def _audit(event: str, client: OAuthClient, **details: Any) -> None:
    runtime().client_changed(client.id)
    audit.record(
        db.session,
        event,
        tenant_id=client.tenant_id,
        actor=current_principal.id,
        subject=client.id,
        origin=request_origin(),
        details=details,
    )


@blp.route("")
class Clients(MethodView):
    @require_admin()
    @blp.response(200, ClientSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[OAuthClient]:
        """List OAuth clients"""
        return paginate(clients.clients_query(current_principal.tenant_id), pagination_parameters)

    @require_admin()
    @blp.arguments(ClientCreateSchema)
    @blp.response(201, ClientWithSecretSchema)
    def post(self, body: dict[str, Any]) -> ShownOnce:
        """Register an OAuth client

        The response holds ``client_secret`` once; only its digest is stored.
        """
        settings = runtime().settings
        client, secret = clients.create_client(
            db.session,
            current_principal.tenant_id,
            body["name"],
            body["grant_types"],
            body["scopes"],
            pepper=settings.api_key_pepper,
            catalogue=settings.scopes,
            public=body["public"],
            redirect_uris=body["redirect_uris"],
        )
        _audit("client.created", client, grant_types=client.grant_types, scopes=client.scopes)
        return _with_secret(client, secret)


@blp.route("/<id:client_id>")
class ClientsById(MethodView):
    @require_admin()
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, description="No such client in this tenant")
    def get(self, client_id: str) -> OAuthClient:
        """Get an OAuth client"""
        return clients.get_client(db.session, current_principal.tenant_id, client_id)

    @require_admin()
    @blp.arguments(ClientUpdateSchema)
    @blp.response(200, ClientSchema)
    @blp.alt_response(404, description="No such client in this tenant")
    def patch(self, body: dict[str, Any], client_id: str) -> OAuthClient:
        """Update an OAuth client"""
        client = clients.update_client(
            db.session, current_principal.tenant_id, client_id, runtime().settings.scopes, **body
        )
        _audit("client.updated", client, changed=sorted(body))
        return client

    @require_admin()
    @blp.response(204)
    @blp.alt_response(404, description="No such client in this tenant")
    def delete(self, client_id: str) -> None:
        """Delete an OAuth client

        Its access tokens stay valid until they expire; its sessions cannot be refreshed.
        """
        client = clients.delete_client(db.session, current_principal.tenant_id, client_id)
        _audit("client.updated", client, deleted=True)


@blp.route("/<id:client_id>/rotate-secret")
class ClientSecretRotation(MethodView):
    @require_admin()
    @blp.response(201, ClientWithSecretSchema)
    @blp.alt_response(404, description="No such client in this tenant")
    def post(self, client_id: str) -> ShownOnce:
        """Rotate a client's secret

        The new secret is returned once; the old one stops working at once.
        """
        client, secret = clients.rotate_secret(
            db.session, current_principal.tenant_id, client_id, runtime().settings.api_key_pepper
        )
        _audit("client.updated", client, secret_rotated=True)
        return _with_secret(client, secret)
