"""The authorization endpoint's decisions (SPEC §11): answer the client now, or ask the user.

A request to ``/oauth/authorize`` is validated by Authlib (client, redirect URI, response
type, scope, PKCE, nonce, prompt). An error before the redirect URI is trusted is our error
page, never a redirect (no open redirector); every later one goes back to the client with
``error``, ``state`` and ``iss``. Then one of four steps:

- **sign in**: no browser session; ``prompt=login`` and the session signed in before this
  request; ``max_age`` passed; or the session acts in another tenant than the client's (or
  than ``tenant`` asks for);
- **choose a tenant**: signed in, but a user of several tenants has not picked one yet;
- **consent**: a client that is not first-party, whose scopes the user has not allowed yet
  (or ``prompt=consent`` and they were allowed before this request);
- **answer**: a code, through Authlib (which adds ``code`` and ``state``; ``iss`` too).

``prompt=none`` turns the first three into ``login_required``, ``account_selection_required``
and ``consent_required``. The request travels through the pages as its own query string,
signed (``?r=``) with the time it reached us: that time is what "signed in before this
request" is measured against, so nothing about it is kept in the browser or the database.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc6749.errors import OAuth2Error
from authlib.oidc.core.errors import AccountSelectionRequiredError, ConsentRequiredError, LoginRequiredError
from flask import Response, current_app, redirect, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.oauth.clients import Client
from outter_auth.oauth.code_grant import granted_scopes
from outter_auth.oauth.server import AuthorizationRequest, OutterAuthorizationServer, authorization_server
from outter_auth.pages import browser
from outter_auth.pages.render import error_page, with_page_headers
from outter_auth.services import consents
from outter_auth.services.browser_sessions import SignedIn

SALT = "outter-auth.authorization-request"
MAX_QUERY = 4096  # bytes of an authorization request's query string
PENDING_FOR = 1800  # seconds a user has to get through sign-in and consent


class Step(enum.Enum):
    SIGN_IN = "pages.sign_in_form"
    CHOOSE_TENANT = "pages.choose_tenant_form"
    CONSENT = "pages.consent_form"
    ANSWER = None


NONE_ERRORS: dict[Step, type[OAuth2Error]] = {
    Step.SIGN_IN: LoginRequiredError,
    Step.CHOOSE_TENANT: AccountSelectionRequiredError,
    Step.CONSENT: ConsentRequiredError,
}


@dataclass(frozen=True)
class Pending:
    """An authorization request being answered: its query string and when it reached us."""

    query: str
    started_at: float  # seconds since the epoch

    @property
    def token(self) -> str:
        return _serializer().dumps([self.query, self.started_at])

    @classmethod
    def arrived(cls, query: str) -> Pending:
        return cls(query, clock.now().timestamp())

    @classmethod
    def carried(cls, token: str | None) -> Pending | None:
        """The request a page carries in ``?r=``, if it is ours and not too old."""
        try:
            query, started_at = _serializer().loads(token or "")
        except (BadSignature, ValueError, TypeError):
            return None
        if not isinstance(query, str) or not isinstance(started_at, int | float):
            return None
        if not 0 <= clock.now().timestamp() - started_at <= PENDING_FOR:
            return None
        return cls(query, started_at)

    def oauth_request(self) -> AuthorizationRequest:
        return AuthorizationRequest(self.query, f"{request.host_url}oauth/authorize?{self.query}")


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key or "", salt=SALT)


@dataclass
class Validated:
    """A valid authorization request and what it asks for."""

    pending: Pending
    request: AuthorizationRequest
    grant: Any  # the AuthorizationCodeGrant Authlib made for it

    @property
    def client(self) -> Client:
        client: Client = self.grant.request.client
        return client

    @property
    def params(self) -> Any:
        return self.request.payload.data

    @property
    def prompts(self) -> list[str]:
        return str(self.params.get("prompt") or "").split()

    def scopes(self, signed_in: SignedIn) -> tuple[str, ...]:
        return granted_scopes(self.client, signed_in, self.params.get("scope"))

    def step_url(self, step: Step) -> str:
        return url_for(str(step.value), r=self.pending.token)


class Refused(Exception):
    """The request cannot go on; ``response`` says so (our page, or a redirect to the client)."""

    def __init__(self, response: Response) -> None:
        super().__init__("authorization request refused")
        self.response = response


def validate(pending: Pending | None, signed_in: SignedIn | None) -> Validated:
    """Authlib's validation of the request (raises :class:`Refused` with the answer)."""
    if pending is None:
        raise Refused(expired_page())
    if len(pending.query) > MAX_QUERY:
        raise Refused(_page_for(None))
    server = authorization_server()
    try:
        oauth_request = pending.oauth_request()
    except ValueError:  # more parameters than any client sends
        raise Refused(_page_for(None)) from None
    try:
        grant = server.get_consent_grant(oauth_request, end_user=signed_in)
    except OAuth2Error as error:
        raise Refused(error_answer(server, oauth_request, error)) from None
    except ValueError:  # Authlib refuses to repeat an unprintable value in an error description
        raise Refused(_page_for(None)) from None
    return Validated(pending, oauth_request, grant)


def error_answer(
    server: OutterAuthorizationServer, oauth_request: AuthorizationRequest, error: OAuth2Error
) -> Response:
    """A redirect to the client once its redirect URI is trusted; our error page before."""
    if not error.redirect_uri:
        return _page_for(error)
    return with_page_headers(server.authorization_error_response(oauth_request, error))


def refuse(validated: Validated, error: OAuth2Error) -> Response:
    """Send an error back to the (trusted) redirect URI of a validated request."""
    error.redirect_uri = validated.grant.redirect_uri
    return error_answer(authorization_server(), validated.request, error)


def proceed(pending: Pending | None) -> Response:
    """Answer the client if nothing is missing, else send the user to the step that is."""
    signed_in = browser.current()
    try:
        validated = validate(pending, signed_in)
    except Refused as refused:
        return refused.response
    step = next_step(validated, signed_in)
    if step is not Step.ANSWER:
        if "none" in validated.prompts:
            return refuse(validated, NONE_ERRORS[step]())
        return with_page_headers(redirect(validated.step_url(step)))
    return answer(validated, signed_in)


def answer(validated: Validated, grant_user: SignedIn | None) -> Response:
    """The code (``grant_user``), or ``access_denied`` (None), through Authlib."""
    response: Response = authorization_server().create_authorization_response(
        request=validated.request, grant_user=grant_user, grant=validated.grant
    )
    return with_page_headers(response)


def next_step(validated: Validated, signed_in: SignedIn | None) -> Step:
    if signed_in is None or needs_sign_in(validated, signed_in):
        return Step.SIGN_IN
    if signed_in.tenant_id is None:
        return Step.CHOOSE_TENANT
    if needs_consent(validated, signed_in):
        return Step.CONSENT
    return Step.ANSWER


def needs_sign_in(validated: Validated, signed_in: SignedIn) -> bool:
    """Whether this browser session cannot answer the request (see the module doc)."""
    auth_time = signed_in.auth_time.timestamp()
    if "login" in validated.prompts and auth_time < validated.pending.started_at:
        return True
    max_age = validated.params.get("max_age")
    if max_age is not None and clock.now().timestamp() - auth_time > int(max_age):
        return True
    if signed_in.tenant_id is None:
        return False  # the tenant is chosen next, among those the client allows
    client_tenant = validated.client.info.tenant_id
    if client_tenant is not None and signed_in.tenant_id != client_tenant:
        return True
    wanted = validated.params.get("tenant")
    return bool(wanted) and not signed_in.in_tenant(wanted)


def needs_consent(validated: Validated, signed_in: SignedIn) -> bool:
    client = validated.client
    if client.info.is_first_party:
        return False
    remembered = consents.granted(db.session, signed_in.user_id, client.get_client_id())
    if remembered is None:
        return True
    allowed, granted_at = remembered
    if not set(validated.scopes(signed_in)) <= allowed:
        return True
    return "consent" in validated.prompts and granted_at.timestamp() < validated.pending.started_at


# -- pages for requests that cannot be answered to the client ---------------------------------

PAGE_ERRORS: dict[str, tuple[str, str]] = {
    "invalid_client": (
        "This app isn't known to Outter",
        "The app that sent you here is not registered, so Outter can't sign you in to it.",
    ),
    "invalid_request": (
        "This sign-in link isn't valid",
        "The app that sent you here asked in a way Outter can't accept, "
        "for example with a return address that isn't registered for it.",
    ),
}


def _page_for(error: OAuth2Error | None) -> Response:
    title, message = PAGE_ERRORS.get(error.error if error else "", PAGE_ERRORS["invalid_request"])
    detail = f"{error.error}: {error.description}" if error is not None and error.description else None
    return error_page(400, title, message + " Go back to the app and try again.", detail)


def expired_page() -> Response:
    return error_page(
        400,
        "This sign-in has expired",
        "It was started too long ago, or the link is incomplete. Go back to the app and sign in again.",
    )
