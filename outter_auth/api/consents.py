"""The caller's consents to client apps (SPEC §11): list them, withdraw one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import func, select

from outter_auth.api.base import Blueprint, request_origin
from outter_auth.auth import current_principal, require_user
from outter_auth.extensions import db
from outter_auth.schemas.consents import ConsentSchema
from outter_auth.services import consents

blp = Blueprint(
    "consents",
    __name__,
    url_prefix="/api/auth/consents",
    description="Apps the user has allowed (a user's token from a first-party app)",
)


@blp.route("")
class Consents(MethodView):
    @require_user(first_party_app=True)
    @blp.response(200, ConsentSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[dict[str, Any]]:
        """List the caller's consents

        The apps (not first-party) the user allowed, with the scopes allowed to each.
        """
        query = consents.consents_query(current_principal.id)
        pagination_parameters.item_count = db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        page = query.limit(pagination_parameters.page_size).offset(pagination_parameters.first_item)
        return [
            {
                "client_id": consent.client_id,
                "client_name": client.name,
                "tenant_id": consent.tenant_id,
                "scopes": consent.scopes,
                "created_at": consent.created_at,
                "updated_at": consent.updated_at,
            }
            for consent, client in db.session.execute(page)
        ]


@blp.route("/<id:client_id>")
class ConsentsById(MethodView):
    @require_user(first_party_app=True)
    @blp.response(204)
    @blp.alt_response(404, description="The caller has no consent for that client")
    def delete(self, client_id: str) -> None:
        """Withdraw a consent

        The app's refresh tokens for this user stop working at once, and this service refuses
        its access tokens; the next sign-in through it asks for consent again.
        """
        consents.revoke(db.session, current_principal.id, client_id, request_origin())
