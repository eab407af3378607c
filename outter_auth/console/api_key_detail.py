"""One API key in the console: its facts, its usage over the last 30 days (as
``GET /api/auth/api-keys/{id}/usage``) and a change of name, scopes or rate limit through
``PATCH``'s service call (``api_keys.update_key``). Another tenant's key is a 404 page
(``get_key`` raises NotFound, the blueprint answers it)."""

from __future__ import annotations

from typing import Any

from flask import Response, redirect, url_for

from outter_auth import clock
from outter_auth.auth import current_caller, current_principal
from outter_auth.console.access import signed_in
from outter_auth.console.api_key_forms import (
    EditKeyForm,
    csrf_failed,
    form_errors,
    grantable_scopes,
    offer_scopes,
    service_error,
)
from outter_auth.console.api_keys import EXPIRED_FORM, project_names
from outter_auth.console.blueprint import blp
from outter_auth.console.render import done, page, problem_page
from outter_auth.console.usage_chart import chart
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.runtime import runtime
from outter_auth.scopes import MANAGEMENT_SCOPE_DESCRIPTIONS
from outter_auth.services import api_keys, key_usage
from outter_auth.services.exceptions import DomainError, NotFound

USAGE_DAYS = 30
CHANGEABLE = ("active", "rotating")


@blp.get("/api-keys/<key_id>", endpoint="api_keys_detail")
@signed_in()
def api_key_detail(key_id: str) -> Response:
    key = api_keys.get_key(db.session, current_caller(), key_id)
    form = EditKeyForm(name=key.name, scopes=list(key.scopes))
    form.show_rate_limit(key.rate_limit)
    return _detail_page(key, form)


@blp.post("/api-keys/<key_id>", endpoint="api_keys_edit")
@signed_in()
def api_key_edit(key_id: str) -> Response:
    key = api_keys.get_key(db.session, current_caller(), key_id)
    form = EditKeyForm()
    if not form.validate():
        if csrf_failed(form):
            return problem_page(400, "This form has expired", EXPIRED_FORM)
        return _detail_page(key, form, 422, form_errors(form))
    wanted = _changes(key, form)
    if not wanted:
        done(f"Nothing to change: '{key.name}' stays as it was.")
        return redirect(url_for(".api_keys_detail", key_id=key.id))
    try:
        api_keys.update_key(db.session, current_caller(), key.id, wanted, catalogue=runtime().settings.scopes)
    except NotFound:
        raise
    except DomainError as error:
        db.session.rollback()
        key = api_keys.get_key(db.session, current_caller(), key_id)
        status, errors = service_error(form, error)
        return _detail_page(key, form, status, errors)
    done(f"Key '{key.name}' saved. Its new settings apply to requests from now on.")
    return redirect(url_for(".api_keys_detail", key_id=key.id))


def _changes(key: ApiKey, form: EditKeyForm) -> dict[str, Any]:
    """What the form changes, as PATCH's body would say it (only what differs)."""
    after = {"name": form.name.data, "scopes": form.chosen_scopes(), "rate_limit": form.chosen_rate_limit()}
    before = {"name": key.name, "scopes": list(key.scopes), "rate_limit": key.rate_limit}
    return {name: value for name, value in after.items() if value != before[name]}


def _detail_page(key: ApiKey, form: EditKeyForm, status: int = 200, errors: list[Any] | None = None) -> Response:
    state = runtime()
    offer_scopes(form, grantable_scopes(current_principal.ceiling, state.settings.scopes), list(key.scopes))
    now = clock.now()
    days = key_usage.usage(db.session, current_caller(), key.id, USAGE_DAYS, now.date())
    key_state = api_keys.key_state(key, now)
    return page(
        "console/api_keys_detail.html",
        status,
        key=key,
        state=key_state,
        project_name=project_names().get(key.project_id or ""),
        usage=chart(days),
        form=form if key_state in CHANGEABLE else None,
        errors=errors or [],
        descriptions=MANAGEMENT_SCOPE_DESCRIPTIONS,
        typed_scopes=not state.settings.scopes,
    )
