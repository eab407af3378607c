"""The browser sign-in, step by step, with Flask's test client as the browser (fast, exact).

``Flow`` is one authorization request of a client app (PKCE verifier, state, nonce); a
``Browser`` follows the pages as a person would: the forms are read from the HTML (their
action and CSRF token), never built by hand. The browser tests (Chromium) do the same for
real; these are for the many protocol and attack cases.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from flask.testing import FlaskClient

from tests.factories import PASSWORD
from tests.oauth_helpers import basic_auth

ISSUER = "https://auth.outter.test"
REDIRECT = "https://app.example/callback"


def s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()


@dataclass
class Flow:
    """One authorization request of a client app."""

    client_id: str
    redirect_uri: str = REDIRECT
    scope: str | None = "openid email"
    secret: str | None = None
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def params(self, **extra: str | None) -> dict[str, str]:
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": s256(self.verifier),
            "code_challenge_method": "S256",
            **extra,
        }
        return {name: value for name, value in params.items() if value is not None}

    def url(self, **extra: str | None) -> str:
        return "/oauth/authorize?" + urlencode(self.params(**extra))

    def token_form(self, code: str, **extra: str) -> tuple[dict[str, str], dict[str, str]]:
        """(form, headers) of the token request that trades ``code``."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        form["code_verifier"] = self.verifier
        form.update(extra)
        if self.secret is None:
            return {**form, "client_id": self.client_id}, {}
        return form, basic_auth(self.client_id, self.secret)

    def redeem(self, client: FlaskClient, code: str, **extra: str) -> Any:
        form, headers = self.token_form(code, **extra)
        return client.post("/oauth/token", data=form, headers=headers)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.forms.append({"action": attributes.get("action", ""), "fields": {}, "buttons": []})
        elif tag == "input" and self.forms and attributes.get("name"):
            if attributes.get("type") != "radio":
                self.forms[-1]["fields"][attributes["name"]] = attributes.get("value", "")
        elif tag == "button" and self.forms and attributes.get("name"):
            self.forms[-1]["buttons"].append((attributes["name"], attributes.get("value", "")))


def forms(response: Any) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(response.get_data(as_text=True))
    return parser.forms


def location(response: Any) -> str:
    assert response.status_code in (302, 303), (response.status_code, response.get_data(as_text=True)[:500])
    return str(response.headers["Location"])


def query(url: str) -> dict[str, str]:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in values.values()), values
    return {name: v[0] for name, v in values.items()}


def is_page(response: Any, status: int) -> bool:
    """An HTML page with ``status``, never a redirect."""
    return response.status_code == status and response.mimetype == "text/html" and "Location" not in response.headers


class Browser:
    """Flask's test client, following the pages (its cookie jar is the browser's)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def get(self, url: str) -> Any:
        return self.client.get(url)

    def follow(self, response: Any, until: str = REDIRECT) -> Any:
        """Follow our own redirects; stop at the client's (``until``) or at a page."""
        while response.status_code in (302, 303):
            target = location(response)
            if not target.startswith("/"):
                assert target.startswith(until) or until == "", target
                return response
            response = self.client.get(target)
        return response

    def submit(self, page: Any, _form: int = 0, _button: tuple[str, str] | None = None, **values: str) -> Any:
        """Submit a form of ``page`` as shown (hidden fields and CSRF token included)."""
        form = forms(page)[_form]
        data = {**form["fields"], **values}
        if _button is not None:
            data[_button[0]] = _button[1]
        return self.client.post(form["action"], data=data)

    def sign_in(self, page: Any, email: str, password: str = PASSWORD) -> Any:
        return self.submit(page, email=email, password=password)

    def decide(self, page: Any, decision: str) -> Any:
        return self.submit(page, _button=("decision", decision))

    def cookie(self, name: str) -> str | None:
        found = self.client.get_cookie(name)
        return found.value if found is not None else None

    def code(self, flow: Flow, email: str, password: str = PASSWORD, allow: bool = True, **extra: str) -> str:
        """Sign in (and allow, when asked) until the client gets its code; returns it."""
        response = self.follow(self.get(flow.url(**extra)), flow.redirect_uri)
        if response.status_code == 200 and forms(response) and "password" in forms(response)[0]["fields"]:
            response = self.follow(self.sign_in(response, email, password), flow.redirect_uri)
        if response.status_code == 200 and "decision" in response.get_data(as_text=True):
            response = self.follow(self.decide(response, "allow" if allow else "deny"), flow.redirect_uri)
        params = query(location(response))
        assert params.get("state") == flow.state, params
        assert "code" in params, params
        return params["code"]


@dataclass(frozen=True)
class App:
    """A client registered with the CLI; ``flow()`` starts one of its authorization requests."""

    client_id: str
    secret: str | None
    redirect_uri: str
    scope: str

    def flow(self, scope: str | None = None, redirect_uri: str | None = None) -> Flow:
        return Flow(self.client_id, redirect_uri or self.redirect_uri, scope or self.scope, self.secret)


def register_app(
    app: Any,
    name: str = "Acme Reports",
    *,
    tenant: str = "acme",
    scope: str = "openid email offline_access content:generate users:read",
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    logout_uris: tuple[str, ...] = ("https://app.example/signed-out",),
    public: bool = False,
    first_party: bool = False,
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
) -> App:
    args = ["clients", "create", name, "--tenant", tenant, "--scope", scope, "--json"]
    for grant in grant_types:
        args += ["--grant-type", grant]
    for uri in redirect_uris:
        args += ["--redirect-uri", uri]
    for uri in logout_uris:
        args += ["--post-logout-redirect-uri", uri]
    if public:
        args.append("--public")
    if first_party:
        args.append("--first-party")
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    return App(created["client_id"], created["client_secret"], redirect_uris[0] if redirect_uris else "", scope)
