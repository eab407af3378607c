"""The console signs in as a first-party client of this service (SPEC §12 → §11).

``/console/signin`` sends the browser to ``/oauth/authorize`` for the built-in client with
PKCE and a ``state`` kept in the signed session cookie; the hosted login page, the tenant
choice and single sign-on all happen there. ``/console/signed-in`` is the redirect URI: it
checks ``state`` and ``iss`` (RFC 9207), then spends the code with its PKCE verifier. Nothing
is issued for the code: what the console needs is the browser session the code proves, and
the code is spent so it can never be used elsewhere.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlencode

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Response, redirect, request, session, url_for

from outter_auth.console.access import safe_next
from outter_auth.console.blueprint import blp
from outter_auth.console.render import problem_page
from outter_auth.extensions import db
from outter_auth.pages import browser
from outter_auth.runtime import runtime
from outter_auth.services import authorization_codes
from outter_auth.services.authorization_codes import CodeRefused

PENDING = "console_signin"


@blp.get("/signin", endpoint="sign_in")
def sign_in() -> Response:
    settings = runtime().settings
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session[PENDING] = {"state": state, "verifier": verifier, "next": safe_next(request.args.get("next"))}
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.first_party_client_id,
            "redirect_uri": settings.console_redirect_uri,
            "scope": "openid",
            "state": state,
            "code_challenge": create_s256_code_challenge(verifier),
            "code_challenge_method": "S256",
        }
    )
    return redirect(f"{url_for('oauth.AuthorizationEndpoint')}?{query}")


@blp.get("/signed-in", endpoint="signed_in")
def signed_in() -> Response:
    settings = runtime().settings
    pending = session.pop(PENDING, None)
    state = request.args.get("state", "")
    if not isinstance(pending, dict) or not hmac.compare_digest(str(pending.get("state", "")), state):
        return _start_again(f"Open the console at {settings.issuer}/console to sign in.")
    if request.args.get("iss") != settings.issuer:
        return _start_again("The sign-in came back from another server.")
    if "error" in request.args:
        return _start_again("The sign-in was not completed.")
    if not _spend(request.args.get("code", ""), str(pending.get("verifier", ""))):
        return _start_again("This sign-in link was already used or has expired.")
    return redirect(safe_next(str(pending.get("next", ""))))


def _spend(code: str, verifier: str) -> bool:
    """Spend the code if it is the console's, for this browser's session, with our verifier."""
    settings = runtime().settings
    signed_in = browser.current()
    try:
        record = authorization_codes.find(db.session, code, settings.first_party_client_id)
    except CodeRefused:  # a replay: what the code issued (nothing, for the console) is revoked
        return False
    if (
        record is None
        or signed_in is None
        or record.browser_session_id != signed_in.id
        or record.redirect_uri != settings.console_redirect_uri
        or not hmac.compare_digest(record.code_challenge, create_s256_code_challenge(verifier))
    ):
        return False
    return authorization_codes.spend(db.session, record)


def _start_again(message: str) -> Response:
    return problem_page(400, "You are not signed in to the console", message, link=("Sign in", url_for(".sign_in")))
