"""The caller's own tenant."""

from __future__ import annotations

from flask.views import MethodView

from outter_auth.api.base import Blueprint
from outter_auth.auth import current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.models import Tenant
from outter_auth.schemas.tenancy import TenantSchema
from outter_auth.scopes import PROJECTS_READ
from outter_auth.services import tenancy

blp = Blueprint("tenant", __name__, url_prefix="/api/auth", description="The caller's tenant")


@blp.route("/tenant")
class CurrentTenant(MethodView):
    @require_scopes(PROJECTS_READ)
    @blp.response(200, TenantSchema)
    def get(self) -> Tenant:
        """Read the caller's tenant"""
        return tenancy.get_tenant(db.session, current_principal.tenant_id)
