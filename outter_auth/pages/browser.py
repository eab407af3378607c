"""The sign-in cookie of SPEC §11: ``HttpOnly``, ``SameSite=Lax``, and ``Secure`` with the
``__Host-`` prefix (no Domain, Path=/, https only) when the issuer is https.

``Lax`` and not ``Strict``: the browser comes back to ``/oauth/authorize`` from the client's
site by a top-level GET, which is exactly when single sign-on needs the cookie; no other
request from another site carries it (every state change here is a same-site POST).
"""

from __future__ import annotations

from datetime import datetime

from flask import Response, g, request

from outter_auth import clock
from outter_auth.config import Settings
from outter_auth.credentials import browser_sign_in
from outter_auth.runtime import runtime
from outter_auth.services.browser_sessions import SignedIn

_CURRENT = "outter_auth.browser_session"


def cookie_name(settings: Settings) -> str:
    return "__Host-outter_session" if settings.https else "outter_session"


def cookie_token() -> str | None:
    return request.cookies.get(cookie_name(runtime().settings))


def current() -> SignedIn | None:
    """The browser session of this request's cookie, read once per request."""
    if _CURRENT not in g:
        setattr(g, _CURRENT, browser_sign_in(runtime(), cookie_token()))
    signed_in: SignedIn | None = g.get(_CURRENT)
    return signed_in


def forget_current() -> None:
    g.pop(_CURRENT, None)


def signed_in_now(token: str) -> None:
    """This request has just signed the browser in with ``token`` (its cookie is set on the way out)."""
    setattr(g, _CURRENT, browser_sign_in(runtime(), token))


def set_cookie(response: Response, token: str, expires_at: datetime) -> None:
    settings = runtime().settings
    response.set_cookie(
        cookie_name(settings),
        token,
        max_age=max(0, int((expires_at - clock.now()).total_seconds())),
        path="/",
        secure=settings.https,
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response) -> None:
    settings = runtime().settings
    response.delete_cookie(cookie_name(settings), path="/", secure=settings.https, httponly=True, samesite="Lax")
