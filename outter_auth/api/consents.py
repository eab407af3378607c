"""The caller's consents to client apps (SPEC §11): list them, withdraw one."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters
from sqlalchemy import func, select

from outter_auth.api.base import Blueprint, request_origin
from outter_auth.auth import InsufficientScope, Principal, current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.schemas.consents import ConsentSchema
from outter_auth.services import consents

blp = Blueprint("consents", __name__, url_prefix="/api/auth/consents", description="Apps the user has allowed")

FIRST_PARTY_ONLY = "A user's own token from a first-party app (consents are the user's business, not an app's)"


def _user() -> Principal:
    """The signed-in user behind a token of a first-party client: which other apps a user
    allowed, and withdrawing them, is not for a third-party app (nor for keys or machines)."""
    principal = current_principal
    client = runtime().client(principal.client_id) if principal.client_id else None
    if principal.type != "user" or client is None or not client.is_first_party:
        raise InsufficientScope("only a user, through a first-party app, manages their consents")
    return principal


@blp.route("")
class Consents(MethodView):
    @require_scopes()
    @blp.response(200, ConsentSchema(many=True))
    @blp.alt_response(403, description=FIRST_PARTY_ONLY)
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[dict[str, Any]]:
        """List the caller's consents

        The apps (not first-party) the user allowed, with the scopes allowed to each.
        """
        query = consents.consents_query(_user().id)
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
    @require_scopes()
    @blp.response(204)
    @blp.alt_response(403, description=FIRST_PARTY_ONLY)
    @blp.alt_response(404, description="The caller has no consent for that client")
    def delete(self, client_id: str) -> None:
        """Withdraw a consent

        The app's refresh tokens for this user stop working at once, and this service refuses
        its access tokens; the next sign-in through it asks for consent again.
        """
        consents.revoke(db.session, _user().id, client_id, request_origin())
