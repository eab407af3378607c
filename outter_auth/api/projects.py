"""Projects of the caller's tenant."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest.pagination import PaginationParameters

from outter_auth.api.base import Blueprint
from outter_auth.api.paging import paginate
from outter_auth.auth import current_caller, require_scopes
from outter_auth.extensions import db
from outter_auth.models import Project
from outter_auth.schemas.tenancy import ProjectCreateSchema, ProjectDeleteArgs, ProjectSchema, ProjectUpdateSchema
from outter_auth.scopes import PROJECTS_READ, PROJECTS_WRITE
from outter_auth.services import tenancy

blp = Blueprint("projects", __name__, url_prefix="/api/auth/projects", description="Projects of the tenant")


@blp.route("")
class Projects(MethodView):
    @require_scopes(PROJECTS_READ)
    @blp.response(200, ProjectSchema(many=True))
    @blp.paginate()
    def get(self, pagination_parameters: PaginationParameters) -> list[Project]:
        """List projects

        A key bound to a project sees that project only.
        """
        return paginate(tenancy.projects_query(current_caller()), pagination_parameters)

    @require_scopes(PROJECTS_WRITE, tenant_wide=True)
    @blp.arguments(ProjectCreateSchema)
    @blp.response(201, ProjectSchema)
    @blp.alt_response(409, description="Slug taken")
    def post(self, body: dict[str, Any]) -> Project:
        """Create a project"""
        return tenancy.create_project(db.session, current_caller(), **body)


@blp.route("/<id:project_id>")
class ProjectsById(MethodView):
    @require_scopes(PROJECTS_READ)
    @blp.response(200, ProjectSchema)
    @blp.alt_response(404, description="No such project in this tenant")
    def get(self, project_id: str) -> Project:
        """Get a project"""
        return tenancy.get_project(db.session, current_caller(), project_id)

    @require_scopes(PROJECTS_WRITE)
    @blp.arguments(ProjectUpdateSchema)
    @blp.response(200, ProjectSchema)
    @blp.alt_response(404, description="No such project in this tenant")
    @blp.alt_response(409, description="Slug taken")
    def patch(self, body: dict[str, Any], project_id: str) -> Project:
        """Update a project"""
        return tenancy.update_project(db.session, current_caller(), project_id, **body)

    @require_scopes(PROJECTS_WRITE)
    @blp.arguments(ProjectDeleteArgs, location="query")
    @blp.response(204)
    @blp.alt_response(403, description="The project holds API keys beyond the caller's reach")
    @blp.alt_response(404, description="No such project in this tenant")
    @blp.alt_response(409, description="The project has live API keys and revoke_keys was not given")
    def delete(self, args: dict[str, Any], project_id: str) -> None:
        """Delete a project

        A project with live API keys is kept (409) unless ``revoke_keys=true``: then its
        keys are revoked (never deleted; their records stay) and the deletion is audited
        as ``project.deleted``.
        """
        tenancy.delete_project(db.session, current_caller(), project_id, revoke_keys=args["revoke_keys"])
