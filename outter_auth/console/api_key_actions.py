"""Rotating and revoking an API key (SPEC §12): a confirmation page, then a POST through the
REST API's service calls (``api_keys.rotate_key``, ``api_keys.revoke_key``). Rotation answers
with the new key, shown this once; revocation redirects to the list with what happened."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, redirect, url_for

from outter_auth import clock
from outter_auth.auth import current_caller
from outter_auth.console.access import signed_in
from outter_auth.console.api_key_forms import RotateForm, csrf_failed, form_errors
from outter_auth.console.api_keys import EXPIRED_FORM, SENT_BEFORE, project_names
from outter_auth.console.blueprint import blp
from outter_auth.console.forms import ActionForm
from outter_auth.console.once import already_sent, mark_sent
from outter_auth.console.render import done, page, problem_page
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.runtime import runtime
from outter_auth.services import api_keys


@blp.get("/api-keys/<key_id>/rotate", endpoint="api_keys_rotate")
@signed_in()
def rotate_confirmation(key_id: str) -> Response:
    key = api_keys.get_key(db.session, current_caller(), key_id)
    form = RotateForm()
    form.fresh_token()
    return _rotate_page(key, form)


@blp.post("/api-keys/<key_id>/rotate", endpoint="api_keys_rotate_post")
@signed_in()
def rotate(key_id: str) -> Response:
    key = api_keys.get_key(db.session, current_caller(), key_id)
    form = RotateForm()
    if already_sent(form.once.data):
        done(SENT_BEFORE)
        return redirect(url_for(".api_keys"))
    if not form.validate():
        if csrf_failed(form):
            return problem_page(400, "This form has expired", EXPIRED_FORM)
        return _rotate_page(key, form, 422, form_errors(form))
    grace = int(form.grace.data)
    new, raw = api_keys.rotate_key(db.session, current_caller(), key.id, grace_seconds=grace, peppers=runtime().peppers)
    mark_sent(form.once.data)
    return page(
        "console/api_keys_secret.html",
        201,
        key=new,
        raw=raw,
        state=api_keys.key_state(new, clock.now()),
        project_name=project_names().get(new.project_id or ""),
        title="API key rotated",
        lead=f"The new key for '{new.name}' works from now on.",
        old_key=key,
        grace_ends=clock.now() + timedelta(seconds=grace) if grace else None,
    )


def _rotate_page(
    key: ApiKey, form: RotateForm, status: int = 200, errors: list[tuple[str, str | None]] | None = None
) -> Response:
    return page("console/api_keys_rotate.html", status, key=key, form=form, errors=errors or [])


@blp.get("/api-keys/<key_id>/revoke", endpoint="api_keys_revoke")
@signed_in()
def revoke_confirmation(key_id: str) -> Response:
    key = api_keys.get_key(db.session, current_caller(), key_id)
    return page("console/api_keys_revoke.html", key=key, form=ActionForm())


@blp.post("/api-keys/<key_id>/revoke", endpoint="api_keys_revoke_post")
@signed_in()
def revoke(key_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        return problem_page(400, "This form has expired", EXPIRED_FORM)
    key = api_keys.revoke_key(db.session, current_caller(), key_id)
    done(f"Key '{key.name}' revoked. Requests with it are refused from now on.")
    return redirect(url_for(".api_keys"))
