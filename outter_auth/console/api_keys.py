"""API keys in the console (SPEC §12, the heart of it): the tenant's keys, filtered and paged,
and a new key, shown once in the answer to the POST that made it.

Every read goes through ``services.api_keys.keys_query`` and every write through the same
service call as ``POST /api/auth/api-keys`` (``create_key`` with a ``KeyDraft``, the
runtime's peppers and catalogue), so the console gets the API's checks, ceilings, audit
events and cache invalidation, and its error messages. The key's detail page is in
``api_key_detail``, rotation and revocation in ``api_key_actions``.
"""

from __future__ import annotations

from math import ceil
from typing import Any

from flask import Response, redirect, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import SelectField

from outter_auth import clock
from outter_auth.auth import current_caller, current_principal
from outter_auth.console.access import signed_in
from outter_auth.console.api_key_forms import (
    NewKeyForm,
    csrf_failed,
    form_errors,
    grantable_scopes,
    offer_scopes,
    options,
    service_error,
)
from outter_auth.console.blueprint import blp
from outter_auth.console.once import already_sent, mark_sent
from outter_auth.console.render import done, page, problem_page
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.runtime import runtime
from outter_auth.scopes import MANAGEMENT_SCOPE_DESCRIPTIONS
from outter_auth.services import api_keys, tenancy
from outter_auth.services.exceptions import DomainError, NotFound

PAGE_SIZE = 50
EXPIRED_FORM = "The page was open too long, or the form was sent from somewhere else. Go back and try again."


class KeyFilters(FlaskForm):  # type: ignore[misc]
    """The list's filters: a GET form (nothing changes, so no CSRF token)."""

    class Meta:
        csrf = False

    environment = SelectField(
        "Environment", choices=options(("", "All"), ("live", "Live"), ("test", "Test")), default=""
    )
    project = SelectField("Project", choices=options(("", "All projects"), ("none", "No project")), default="")
    status = SelectField(
        "Status",
        choices=options(
            ("", "Not revoked"),
            ("active", "Active"),
            ("rotating", "Rotating"),
            ("expired", "Expired"),
            ("revoked", "Revoked"),
            ("all", "All, revoked too"),
        ),
        default="",
    )

    def chosen(self, name: str) -> str:
        """A filter's value, or "" when it is not one of its choices (a stale or edited URL)."""
        field = self[name]
        return field.data if field.data in {choice.value for choice in field.choices} else ""


def project_names() -> dict[str, str]:
    """The tenant's projects the caller sees, id -> name, in their order."""
    return {p.id: p.name for p in db.session.scalars(tenancy.projects_query(current_caller()))}


@blp.get("/api-keys", endpoint="api_keys")
@signed_in()
def api_keys_list() -> Response:
    projects = project_names()
    filters = KeyFilters(request.args)
    filters.project.choices = [*filters.project.choices, *options(*projects.items())]
    environment, project, status = (filters.chosen(n) for n in ("environment", "project", "status"))
    query = api_keys.keys_query(
        current_caller(),
        environment=environment or None,
        project_id=project if project not in ("", "none") else None,
        include_revoked=status == "all",
        state=status if status in api_keys.STATES else None,
    )
    if project == "none":
        query = query.where(ApiKey.project_id.is_(None))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(ceil(total / PAGE_SIZE), 1)
    number = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    newest_first = query.order_by(None).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    keys = db.session.scalars(newest_first.limit(PAGE_SIZE).offset((number - 1) * PAGE_SIZE)).all()
    now = clock.now()
    return page(
        "console/api_keys.html",
        rows=[(key, api_keys.key_state(key, now)) for key in keys],
        projects=projects,
        filters=filters,
        filtered=any((environment, project, status)),
        total=total,
        paging=_paging(number, pages),
    )


def _paging(number: int, pages: int) -> dict[str, Any]:
    """The page links keep the filters."""
    args = {k: v for k, v in request.args.items() if k != "page"}
    return {
        "number": number,
        "pages": pages,
        "previous": {**args, "page": number - 1} if number > 1 else None,
        "next": {**args, "page": number + 1} if number < pages else None,
    }


@blp.route("/api-keys/new", methods=["GET", "POST"], endpoint="api_keys_new")
@signed_in()
def api_keys_new() -> Response:
    state = runtime()
    projects = project_names()
    form = NewKeyForm()
    form.project_id.choices = [*form.project_id.choices, *options(*projects.items())]
    offer_scopes(form, grantable_scopes(current_principal.ceiling, state.settings.scopes))
    if request.method == "GET":
        form.fresh_token()
        return _new_key_page(form)
    if already_sent(form.once.data):
        return _sent_before()
    if not form.validate():
        if csrf_failed(form):
            return problem_page(400, "This form has expired", EXPIRED_FORM)
        return _new_key_page(form, 422, form_errors(form))
    draft = api_keys.KeyDraft(
        form.name.data,
        form.chosen_scopes(),
        form.environment.data,
        form.project_id.data or None,
        form.chosen_expiry(),
        form.chosen_rate_limit(),
    )
    try:
        key, raw = api_keys.create_key(
            db.session, current_caller(), draft, peppers=state.peppers, catalogue=state.settings.scopes
        )
    except NotFound:
        raise
    except DomainError as error:
        status, errors = service_error(form, error)
        return _new_key_page(form, status, errors)
    mark_sent(form.once.data)
    # The one time the key exists: in this answer (no-store), never in a redirect or a flash.
    return page(
        "console/api_keys_secret.html",
        201,
        key=key,
        raw=raw,
        state=api_keys.key_state(key, clock.now()),
        project_name=projects.get(key.project_id or ""),
        title="API key created",
        lead=f"'{key.name}' works from now on. Store the key where your service reads its secrets.",
    )


def _sent_before() -> Response:
    """The answer to a form sent again (a reload of the page that showed a new key)."""
    done(SENT_BEFORE)
    return redirect(url_for(".api_keys"))


SENT_BEFORE = (
    "That form was already sent: its key was made then and was shown that once. "
    "If it was not copied, revoke it and make another."
)


def _new_key_page(form: NewKeyForm, status: int = 200, errors: list[Any] | None = None) -> Response:
    return page(
        "console/api_keys_new.html",
        status,
        form=form,
        errors=errors or [],
        descriptions=MANAGEMENT_SCOPE_DESCRIPTIONS,
        typed_scopes=not runtime().settings.scopes,
    )
