"""The caller's consents to client apps (SPEC §11): list them, withdraw one."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint, request_origin
from outter_auth.api.paging import paginate
from outter_auth.auth import InsufficientScope, current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.models import Consent
from outter_auth.runtime import runtime
from outter_auth.schemas.consents import ConsentSchema
from outter_auth.services import consents
from outter_auth.services.exceptions import NotFound

blp = Blueprint("consents", __name__, url_prefix="/api/auth/consents", description="Apps the user has allowed")

THIRD_PARTY = "A user's token from a third-party app (which other apps the user allowed is not its business)"


def _consenting_user() -> str | None:
    """The user whose consents these are: the caller, through a first-party app. An API key or
    a machine client has none (None); a third-party app may not look (403)."""
    principal = current_principal
    if principal.type != "user":
        return None
    client = runtime().client(principal.client_id or "")
    if client is None or not client.is_first_party:
        raise InsufficientScope("only the user, through a first-party app, manages their consents")
    return principal.id


@blp.route("")
class Consents(MethodView):
    @require_scopes()
    @blp.response(200, ConsentSchema(many=True))
    @blp.alt_response(403, description=THIRD_PARTY)
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[Consent]:
        """List the caller's consents

        The apps (not first-party) the user allowed, with the scopes allowed to each. API keys
        and machine clients have none.
        """
        user_id = _consenting_user()
        if user_id is None:
            pagination_parameters.item_count = 0
            return []
        return paginate(consents.consents_query(user_id), pagination_parameters)


@blp.route("/<id:client_id>")
class ConsentsById(MethodView):
    @require_scopes()
    @blp.response(204)
    @blp.alt_response(403, description=THIRD_PARTY)
    @blp.alt_response(404, description="The caller has no consent for that client")
    def delete(self, client_id: str) -> None:
        """Withdraw a consent

        The app's refresh tokens for this user stop working at once, and this service refuses
        its access tokens; the next sign-in through it asks for consent again.
        """
        user_id = _consenting_user()
        if user_id is None:
            raise NotFound("no consent for that client")
        consents.revoke(db.session, user_id, client_id, request_origin())
