"""The tenant's audit trail (SPEC §8), read-only."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint
from outter_auth.api.paging import paginate
from outter_auth.auth import current_principal, require_scopes
from outter_auth.models import AuditEvent
from outter_auth.schemas.audit import AuditEventSchema, AuditQueryArgs
from outter_auth.scopes import AUDIT_READ
from outter_auth.services import audit

blp = Blueprint("audit", __name__, url_prefix="/api/auth/audit-events", description="Audit trail of the tenant")


@blp.route("")
class AuditEvents(MethodView):
    @require_scopes(AUDIT_READ, tenant_wide=True)
    @blp.arguments(AuditQueryArgs, location="query")
    @blp.response(200, AuditEventSchema(many=True))
    @blp.paginate()
    def get(self, args: dict[str, Any], pagination_parameters: PaginationParameters) -> list[AuditEvent]:
        """List audit events

        Newest first; filter by ``type``, ``actor`` and a time range (``since`` ≤ t < ``until``).
        """
        return paginate(audit.events_query(current_principal.tenant_id, **args), pagination_parameters)
