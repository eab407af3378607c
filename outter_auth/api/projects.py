"""Projects of the caller's tenant."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint
from outter_auth.api.paging import paginate
from outter_auth.auth import current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.models import Project
from outter_auth.runtime import runtime
from outter_auth.schemas.tenancy import ProjectCreateSchema, ProjectSchema, ProjectUpdateSchema
from outter_auth.scopes import PROJECTS_READ, PROJECTS_WRITE
from outter_auth.services import tenancy

blp = Blueprint("projects", __name__, url_prefix="/api/auth/projects", description="Projects of the tenant")


@blp.route("")
class Projects(MethodView):
    @require_scopes(PROJECTS_READ)
    @blp.response(200, ProjectSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[Project]:
        """List projects"""
        return paginate(tenancy.projects_query(current_principal.tenant_id), pagination_parameters)

    @require_scopes(PROJECTS_WRITE)
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    @blp.alt_response(409, description="Slug taken")
    def post(self, body: dict[str, Any]) -> Project:
        """Create a project"""
        return tenancy.create_project(db.session, current_principal.tenant_id, **body)


@blp.route("/<id:project_id>")
class ProjectsById(MethodView):
    @require_scopes(PROJECTS_READ)
    @blp.response(200, ProjectSchema)
    @blp.alt_response(404, description="No such project in this tenant")
    def get(self, project_id: str) -> Project:
        """Get a project"""
        return tenancy.get_project(db.session, current_principal.tenant_id, project_id)

    @require_scopes(PROJECTS_WRITE)
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, ProjectSchema)
    @blp.alt_response(404, description="No such project in this tenant")
    @blp.alt_response(409, description="Slug taken")
    def patch(self, body: dict[str, Any], project_id: str) -> Project:
        """Update a project"""
        return tenancy.update_project(db.session, current_principal.tenant_id, project_id, **body)

    @require_scopes(PROJECTS_WRITE)
    @blp.response(204)
    @blp.alt_response(404, description="No such project in this tenant")
    def delete(self, project_id: str) -> None:
        """Delete a project (and its API keys)"""
        for key_id in tenancy.delete_project(db.session, current_principal.tenant_id, project_id):
            runtime().api_key_changed(key_id)
