"""The sign-in pages (SPEC §11): password, tenant choice, consent; and RP-Initiated Logout.

Each page carries the authorization request it serves in ``?r=`` (``flow.Pending``) and
validates it again: a page never acts on a request that is not valid now. The password is
checked by ``services.login`` exactly as ``POST /api/auth/login`` checks it (lockout, audit,
constant time), and the POST is under the same rate limits (``rate_limits.py``, which counts
the failures this module marks with :func:`_count_failed_password`).
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from flask import Blueprint, Response, g, redirect, request, session, url_for

from outter_auth.api.base import request_origin
from outter_auth.extensions import db
from outter_auth.models import Membership, User
from outter_auth.oauth.endpoints import LOGOUT_CONFIRMED
from outter_auth.oauth.server import authorization_server
from outter_auth.pages import browser, flow
from outter_auth.pages.flow import Pending, Refused, Step, Validated
from outter_auth.pages.forms import ALLOW, ConsentForm, LogoutForm, SignInForm, TenantForm
from outter_auth.pages.render import error_page, render, with_page_headers
from outter_auth.pages.words import in_reading_order
from outter_auth.runtime import runtime
from outter_auth.services import browser_sessions, consents, login
from outter_auth.services.browser_sessions import SignedIn
from outter_auth.services.exceptions import AccountDisabled, InvalidCredentials, TenantRequired
from outter_auth.services.lockout import AccountLocked

blp = Blueprint("pages", __name__)

PASSWORD_FAILED = "outter_auth.password_failed"
WRONG_PASSWORD = "Wrong email or password"
EXPIRED_FORM = "This page was open too long, or was sent from somewhere else. Try again."


@blp.after_request
def _page_headers(response: Response) -> Response:
    return with_page_headers(response)


def password_failed() -> bool:
    """Whether this request was a wrong email or password (the rate limits count it)."""
    return bool(g.get(PASSWORD_FAILED))


def _count_failed_password() -> None:
    setattr(g, PASSWORD_FAILED, True)


def _pending() -> Pending | None:
    return Pending.carried(request.args.get("r"))


def _resume(validated: Validated) -> Response:
    """Go on with the authorization request now that a step is done (no extra round trip: the
    answer to this POST is already the next page, or the redirect to the client)."""
    return flow.proceed(validated.pending)


# -- sign in ---------------------------------------------------------------------------------


@blp.get("/signin", endpoint="sign_in_form")
def sign_in_form() -> Response:
    try:
        validated = flow.validate(_pending(), browser.current())
    except Refused as refused:
        return refused.response
    form = SignInForm(formdata=None, email=validated.params.get("login_hint") or "")
    return _sign_in_page(validated, form)


@blp.post("/signin", endpoint="sign_in")
def sign_in() -> Response:
    try:
        validated = flow.validate(_pending(), browser.current())
    except Refused as refused:
        return refused.response
    form = SignInForm()
    if not form.validate_on_submit():
        return _sign_in_page(validated, form, status=400)
    state = runtime()
    try:
        user = login.verify_password(
            db.session, form.email.data, form.password.data, state.login_policy, origin=request_origin()
        )
    except InvalidCredentials:
        _count_failed_password()
        return _sign_in_page(validated, form, problem=WRONG_PASSWORD, status=400)
    except AccountLocked as locked:
        minutes = max(1, round(locked.retry_after / 60))
        problem = f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}."
        return _sign_in_page(validated, form, problem=problem, status=429, retry_after=locked.retry_after)
    try:
        tenant_id: str | None = login.choose_membership(
            user, validated.params.get("tenant"), validated.client.info.tenant_id
        ).tenant_id
    except TenantRequired:
        tenant_id = None  # chosen on the next page
    except AccountDisabled:
        problem = f"This account can't be used to sign in to {validated.client.info.name}."
        return _sign_in_page(validated, form, problem=problem, status=403)
    token, record = browser_sessions.start(
        db.session,
        user,
        tenant_id,
        state.settings.browser_session_ttl,
        replacing=browser.cookie_token(),
        origin=request_origin(),
    )
    session.pop("csrf_token", None)  # a new sign-in, a new CSRF token
    browser.signed_in_now(token)
    response = _resume(validated)
    browser.set_cookie(response, token, record.expires_at)
    return response


def _sign_in_page(
    validated: Validated,
    form: SignInForm,
    *,
    problem: str | None = None,
    status: int = 200,
    retry_after: int | None = None,
) -> Response:
    errors = [(problem, "password")] if problem else _form_errors(form)
    return render(
        "signin.html",
        status,
        headers={"Retry-After": str(retry_after)} if retry_after else None,
        form=form,
        client=validated.client.info,
        problem=problem,
        errors=errors,
        action=url_for("pages.sign_in", r=validated.pending.token),
    )


def _form_errors(form: Any) -> list[tuple[str, str | None]]:
    """(message, id of the field) for the error summary, in the form's order."""
    errors: list[tuple[str, str | None]] = []
    for name, messages in form.errors.items():
        if name == "csrf_token":
            errors.insert(0, (EXPIRED_FORM, None))
        elif messages:
            field = getattr(form, name)
            # A group of radios is reached through its first one.
            errors.append((messages[0], f"{field.id}-1" if field.type == "RadioField" else field.id))
    return errors


# -- choose a tenant ---------------------------------------------------------------------------


@blp.route("/signin/tenant", methods=["GET", "POST"], endpoint="choose_tenant_form")
def choose_tenant() -> Response:
    signed_in = browser.current()
    try:
        validated = flow.validate(_pending(), signed_in)
    except Refused as refused:
        return refused.response
    if signed_in is None:
        return redirect(validated.step_url(Step.SIGN_IN))
    if signed_in.tenant_id is not None:
        return _resume(validated)
    user = db.session.get(User, signed_in.user_id)
    options = _tenant_options(validated, user) if user is not None else []
    if not options:
        return error_page(
            403,
            "No organisation to continue with",
            f"Your account has no organisation that can use {validated.client.info.name}.",
        )
    form = TenantForm()
    form.tenant.choices = [(m.tenant_id, m.tenant.name) for m in options]
    if len(options) == 1 or form.validate_on_submit():
        chosen = options[0].tenant_id if len(options) == 1 else str(form.tenant.data)
        assert user is not None
        browser_sessions.choose_tenant(db.session, signed_in.id, user, chosen)
        browser.forget_current()
        return _resume(validated)
    return render(
        "tenant.html",
        400 if request.method == "POST" else 200,
        form=form,
        options=options,
        client=validated.client.info,
        signed_in=signed_in,
        errors=_form_errors(form) if request.method == "POST" else [],
        action=url_for("pages.choose_tenant_form", r=validated.pending.token),
    )


def _tenant_options(validated: Validated, user: User) -> list[Membership]:
    wanted = validated.params.get("tenant")
    try:
        memberships = login.active_memberships(user, validated.client.info.tenant_id)
    except AccountDisabled:
        return []
    chosen = [m for m in memberships if not wanted or wanted in (m.tenant_id, m.tenant.slug)]
    return sorted(chosen, key=lambda m: (m.tenant.name.casefold(), m.tenant.slug))


# -- consent -----------------------------------------------------------------------------------


@blp.route("/signin/consent", methods=["GET", "POST"], endpoint="consent_form")
def consent() -> Response:
    signed_in = browser.current()
    try:
        validated = flow.validate(_pending(), signed_in)
    except Refused as refused:
        return refused.response
    if signed_in is None or flow.needs_sign_in(validated, signed_in):
        return redirect(validated.step_url(Step.SIGN_IN))
    if signed_in.tenant_id is None:
        return redirect(validated.step_url(Step.CHOOSE_TENANT))
    client = validated.client.info
    if client.is_first_party or client.tenant_id is None:
        return _resume(validated)
    scopes = validated.scopes(signed_in)
    form = ConsentForm()
    if form.validate_on_submit():
        if form.decision.data != ALLOW:
            return flow.answer(validated, None)  # access_denied, to the client
        consents.grant(db.session, signed_in.user_id, client.id, client.tenant_id, scopes, request_origin())
        return _resume(validated)
    return _consent_page(validated, signed_in, scopes, form)


def _consent_page(validated: Validated, signed_in: SignedIn, scopes: tuple[str, ...], form: ConsentForm) -> Response:
    posted = request.method == "POST"
    return render(
        "consent.html",
        400 if posted else 200,
        form=form,
        client=validated.client.info,
        signed_in=signed_in,
        scopes=in_reading_order(scopes),
        errors=_form_errors(form) if posted else [],
        action=url_for("pages.consent_form", r=validated.pending.token),
    )


# -- logout (GET and POST /oauth/logout, registered in api/oauth.py) ---------------------------


def logout() -> Response:
    """OpenID Connect RP-Initiated Logout: end this browser's session (and every session its
    apps started from it), then go back to the client or show the signed-out page.

    Without an ``id_token_hint`` for this very session, the user confirms first: a logout
    link or form on another site must not sign anybody out. The confirmation is our page's
    form, a POST with its CSRF token; any other POST (RP-Initiated Logout allows the
    parameters in a form) is answered as the same request by GET would be.
    """
    server = authorization_server()
    signed_in = browser.current()
    confirmed = request.method == "POST" and "csrf_token" in request.form and LogoutForm().validate_on_submit()
    if confirmed:
        setattr(g, LOGOUT_CONFIRMED, True)
    try:
        end_request = server.validate_endpoint_request("end_session")
    except (OAuth2Error, ValueError) as error:  # ValueError: a description Authlib cannot repeat
        return error_page(
            400,
            "This sign-out link isn't valid",
            "The app that sent you here asked in a way Outter can't accept. You are still signed in.",
            f"{error.error}: {error.description}" if isinstance(error, OAuth2Error) else None,
        )
    hinted = end_request.id_token_claims or {}
    if signed_in is not None and not confirmed and hinted.get("sid") != signed_in.id:
        return _confirm_logout_page(signed_in, end_request)
    end_request.browser_session_id = signed_in.id if signed_in is not None else hinted.get("sid")
    response = server.create_endpoint_response("end_session", end_request) or render(
        "signed_out.html", client=end_request.client.info if end_request.client else None
    )
    browser.clear_cookie(response)
    return with_page_headers(response)


def _confirm_logout_page(signed_in: SignedIn, end_request: Any) -> Response:
    params = end_request.request.payload.data
    carried = {
        name: params[name]
        for name in ("client_id", "post_logout_redirect_uri", "state", "ui_locales")
        if params.get(name)
    }
    return render(
        "logout.html",
        form=LogoutForm(),
        signed_in=signed_in,
        client=end_request.client.info if end_request.client else None,
        carried=carried,
        action=url_for("oauth.EndSessionEndpoint"),
    )
