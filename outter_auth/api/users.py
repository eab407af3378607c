"""Users of the caller's tenant, seen through their membership."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint
from outter_auth.api.paging import paginate
from outter_auth.auth import current_caller, current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.models import Membership
from outter_auth.runtime import runtime
from outter_auth.schemas.users import MemberCreateSchema, MemberSchema, MemberUpdateSchema
from outter_auth.scopes import USERS_READ, USERS_WRITE
from outter_auth.services import users

blp = Blueprint("users", __name__, url_prefix="/api/auth/users", description="Users of the tenant")


@blp.route("")
class Users(MethodView):
    @require_scopes(USERS_READ, tenant_wide=True)
    @blp.response(200, MemberSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[Membership]:
        """List users"""
        return paginate(users.members_query(current_principal.tenant_id), pagination_parameters)

    @require_scopes(USERS_WRITE, tenant_wide=True)
    @blp.arguments(MemberCreateSchema)
    @blp.response(201, MemberSchema)
    @blp.alt_response(409, description="Already a member of this tenant")
    def post(self, body: dict[str, Any]) -> Membership:
        """Add a user with an initial password

        An email known elsewhere gets the same answer; its user keeps their own password.
        """
        return users.create_member(
            db.session,
            current_caller(),
            body["email"],
            body["password"],
            body["role"],
            runtime().settings.bcrypt_rounds,
        )


@blp.route("/<id:user_id>")
class UsersById(MethodView):
    @require_scopes(USERS_READ, tenant_wide=True)
    @blp.response(200, MemberSchema)
    @blp.alt_response(404, description="No such user in this tenant")
    def get(self, user_id: str) -> Membership:
        """Get a user"""
        return users.get_member(db.session, current_principal.tenant_id, user_id)

    @require_scopes(USERS_WRITE, tenant_wide=True)
    @blp.arguments(MemberUpdateSchema)
    @blp.response(200, MemberSchema)
    @blp.alt_response(404, description="No such user in this tenant")
    @blp.alt_response(409, description="The tenant would lose its last owner")
    def patch(self, body: dict[str, Any], user_id: str) -> Membership:
        """Change a user's role, or deactivate/reactivate them"""
        return users.update_member(db.session, current_caller(), user_id, **body)

    @require_scopes(USERS_WRITE, tenant_wide=True)
    @blp.response(204)
    @blp.alt_response(404, description="No such user in this tenant")
    def delete(self, user_id: str) -> None:
        """Deactivate a user in this tenant (the record stays)"""
        users.update_member(db.session, current_caller(), user_id, is_active=False)


@blp.route("/<id:user_id>/unlock", methods=["POST"])
@require_scopes(USERS_WRITE, tenant_wide=True)
@blp.response(204)
@blp.alt_response(403, description="Owners are unlocked by owners; API keys and clients unlock members only")
@blp.alt_response(404, description="No such user in this tenant")
def unlock(user_id: str) -> None:
    """Lift a login lockout

    The user may log in again at once; their count of failed logins starts afresh.
    Recorded as ``account.unlocked``.
    """
    users.unlock_member(db.session, current_caller(), user_id)
