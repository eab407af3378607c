"""Projects of the tenant (SPEC §12): list, create, rename, delete.

Each action is the REST API's (``api/projects.py``): the same schema, the same
``services.tenancy`` call, so its checks, audit events and messages are the API's.
Deleting a project revokes its live API keys: the confirmation says how many, and the
form asks for it (``revoke_keys``) only when the page showed keys, so a key made after the
page was shown meets the API's 409 instead of being revoked unseen.
"""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField
from wtforms.validators import InputRequired

from outter_auth.auth import current_caller
from outter_auth.console import refusals
from outter_auth.console.access import signed_in
from outter_auth.console.blueprint import blp
from outter_auth.console.render import done, page
from outter_auth.extensions import db
from outter_auth.models import Project
from outter_auth.schemas.tenancy import ProjectCreateSchema, ProjectUpdateSchema
from outter_auth.services import tenancy
from outter_auth.services.exceptions import Conflict, DomainError

SLUG_RULE = "Lower-case letters, digits and '-', up to 64 characters."
SLUG_HINT = {"new": f"{SLUG_RULE} Leave it empty to make one from the name.", "edit": f"{SLUG_RULE} Empty keeps it."}


class ProjectForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[InputRequired("Enter a name for the project.")])
    slug = StringField("Slug")
    description = TextAreaField("Description (optional)")

    def body(self) -> dict[str, Any]:
        """The JSON body the API would get: an empty slug is left out (made from the name)."""
        body = {"name": self.name.data or "", "description": self.description.data or ""}
        if self.slug.data:
            body["slug"] = self.slug.data
        return body


class DeleteProjectForm(FlaskForm):  # type: ignore[misc]
    revoke_keys = HiddenField()


@blp.get("/projects", endpoint="projects")
@signed_in()
def projects() -> Response:
    caller = current_caller()
    rows = db.session.scalars(tenancy.projects_query(caller)).all()
    return page("console/projects.html", projects=rows, key_counts=tenancy.live_key_counts(db.session, caller))


@blp.route("/projects/new", methods=["GET", "POST"], endpoint="projects_new")
@signed_in()
def projects_new() -> Response:
    form = ProjectForm()
    if request.method == "GET":
        return _form(form)
    if not form.validate_on_submit():
        return refusals.expired() if refusals.csrf_failed(form) else _form(form, refusals.UNPROCESSABLE)
    body = refusals.load(ProjectCreateSchema(), form, form.body())
    if body is None:
        return _form(form, refusals.UNPROCESSABLE)
    try:
        project = tenancy.create_project(db.session, current_caller(), **body)
    except DomainError as error:
        return _form(form, refusals.refuse(form, error, "slug" if isinstance(error, Conflict) else None))
    done(f"Project {project.name} was created (slug {project.slug}). API keys can now be bound to it.")
    return redirect(url_for(".projects"))


@blp.route("/projects/<project_id>/edit", methods=["GET", "POST"], endpoint="projects_edit")
@signed_in()
def projects_edit(project_id: str) -> Response:
    project = tenancy.get_project(db.session, current_caller(), project_id)  # NotFound: the 404 page
    form = ProjectForm(obj=project)
    if request.method == "GET":
        return _form(form, project=project)
    if not form.validate_on_submit():
        return refusals.expired() if refusals.csrf_failed(form) else _form(form, refusals.UNPROCESSABLE, project)
    body = refusals.load(ProjectUpdateSchema(), form, form.body())
    if body is None:
        return _form(form, refusals.UNPROCESSABLE, project)
    before = project.name
    try:
        project = tenancy.update_project(db.session, current_caller(), project_id, **body)
    except DomainError as error:
        db.session.rollback()
        return _form(form, refusals.refuse(form, error, "slug" if isinstance(error, Conflict) else None), project)
    renamed = f"{before} is now {project.name}" if before != project.name else f"{project.name} was saved"
    done(f"Project {renamed} (slug {project.slug}).")
    return redirect(url_for(".projects"))


@blp.route("/projects/<project_id>/delete", methods=["GET", "POST"], endpoint="projects_delete")
@signed_in()
def projects_delete(project_id: str) -> Response:
    caller = current_caller()
    project = tenancy.get_project(db.session, caller, project_id)
    form = DeleteProjectForm()
    if request.method == "GET":
        return _confirm(form, project)
    if not form.validate_on_submit():
        return refusals.expired()
    name = project.name
    try:
        revoked = tenancy.delete_project(db.session, caller, project_id, revoke_keys=form.revoke_keys.data == "yes")
    except DomainError as error:
        db.session.rollback()
        refusals.add_error(form, None, refusals.sentence(str(error)))
        return _confirm(form, tenancy.get_project(db.session, caller, project_id), refusals.status_of(error))
    keys = f" Its {_keys(len(revoked))} {'was' if len(revoked) == 1 else 'were'} revoked." if revoked else ""
    done(f"Project {name} was deleted.{keys}")
    return redirect(url_for(".projects"))


def _form(form: ProjectForm, status: int = 200, project: Project | None = None) -> Response:
    return page(
        "console/projects_form.html",
        status,
        form=form,
        project=project,
        errors=refusals.summary(form),
        hint=SLUG_HINT["edit" if project else "new"],
    )


def _confirm(form: DeleteProjectForm, project: Project, status: int = 200) -> Response:
    live = tenancy.live_key_counts(db.session, current_caller()).get(project.id, 0)
    form.revoke_keys.data = "yes" if live else ""
    return page(
        "console/projects_delete.html",
        status,
        form=form,
        project=project,
        live=live,
        live_words=_keys(live),
        errors=refusals.summary(form),
    )


def _keys(count: int) -> str:
    return f"{count} live API key{'' if count == 1 else 's'}"
