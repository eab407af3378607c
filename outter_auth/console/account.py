"""The console's home, and the caller's own account: who they are and the apps they allowed
(consents, SPEC §11), which every member of a tenant may see and withdraw."""

from __future__ import annotations

from flask import Response, redirect, url_for

from outter_auth.api.base import request_origin
from outter_auth.auth import current_principal
from outter_auth.console.access import signed_in
from outter_auth.console.blueprint import blp
from outter_auth.console.forms import ActionForm
from outter_auth.console.navigation import items_for
from outter_auth.console.render import done, page
from outter_auth.extensions import db
from outter_auth.pages.forms import LogoutForm
from outter_auth.pages.words import in_reading_order
from outter_auth.services import consents


@blp.get("", endpoint="home")
@signed_in(admins_only=False)
def home() -> Response:
    """The first page of the navigation this caller may open: owners and admins start at
    their API keys, members at their account."""
    _item, first, _here = items_for(current_principal)[0]
    return redirect(first)


@blp.get("/account", endpoint="account")
@signed_in(admins_only=False)
def account() -> Response:
    allowed = db.session.scalars(consents.consents_query(current_principal.id)).all()
    return page(
        "console/account.html",
        consents=[(consent, in_reading_order(tuple(consent.scopes))) for consent in allowed],
        withdraw_form=ActionForm(),
        sign_out_form=LogoutForm(),
    )


@blp.post("/account/consents/<client_id>/withdraw", endpoint="withdraw_consent")
@signed_in(admins_only=False)
def withdraw_consent(client_id: str) -> Response:
    if not ActionForm().validate_on_submit():
        return page("console/problem.html", 400, title="This form has expired", message=EXPIRED)
    consent = next(
        (c for c in db.session.scalars(consents.consents_query(current_principal.id)) if c.client_id == client_id),
        None,
    )
    name = consent.client.name if consent is not None else client_id
    consents.revoke(db.session, current_principal.id, client_id, request_origin())  # NotFound: 404 page
    done(f"{name} can no longer act for you. It will ask again the next time you sign in through it.")
    return redirect(url_for(".account"))


EXPIRED = "The page was open too long, or the form was sent from somewhere else. Go back and try again."
