"""How every page is answered: one layout, and the headers of SPEC §11's page rules."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template

# Everything from this origin, nothing inline, never framed (clickjacking on the login and
# consent pages). No form-action: Chromium applies it to the redirect that follows a form,
# and the consent form's answer redirects to the client.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",  # for browsers older than frame-ancestors
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    # The query of an authorization request goes to no other origin; same-origin posts keep a
    # Referer, which Flask-WTF's CSRF check wants on https.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


def with_page_headers(response: Response) -> Response:
    for name, value in PAGE_HEADERS.items():
        response.headers[name] = value
    return response


def render(template: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return with_page_headers(response)


def error_page(
    status: int, title: str, message: str, detail: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The error page; ``detail`` is for the app's developer (the OAuth error), shown folded."""
    return render("error.html", status, headers, title=title, message=message, detail=detail)
