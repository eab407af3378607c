"""A live service, a relying party built on a real OAuth client library, and independent checks.

The service runs under werkzeug's threaded server on loopback with its issuer set to its own
address, so the discovery document's URLs are the ones a browser and a client really use.
The relying party is Authlib's requests ``OAuth2Session`` (authorization URL with PKCE,
``state`` checked on the way back, code exchange); its redirect URIs are served by a small
HTTP server on loopback (``servers.echo_upstream``), which is where the browser lands. ID
tokens are verified with PyJWT against the served JWKS, never with the service's own code.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask
from werkzeug.serving import make_server

from tests.factories import PASSWORD, Factory
from tests.oidc.steps import register_app

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PUBLIC_REDIRECT = "http://127.0.0.1/callback"  # a native app: any port (RFC 8252 §7.3)


@dataclass
class Live:
    base: str
    app: Flask
    metadata: dict[str, Any]

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.base + path, timeout=10, allow_redirects=False, **kwargs)

    def jwks(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(self.metadata["jwks_uri"], cache_jwk_set=True, lifespan=60, timeout=10)


class _LateApp:
    """The WSGI app of a server whose port must be known before the app is made (the issuer)."""

    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)


@contextmanager
def serve(make_app: Callable[..., Flask], site: str, **settings: Any) -> Iterator[Live]:
    """The service on a free loopback port, its issuer its own address; the built-in client
    ``outter-app`` may send the browser back to ``site``/app."""
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    late.app = make_app(issuer=base, **{"first_party_redirect_uris": (f"{site}/app",), **settings})
    thread = threading.Thread(target=server.serve_forever, name="oidc-live", daemon=True)
    thread.start()
    try:
        metadata = requests.get(base + "/.well-known/openid-configuration", timeout=10).json()
        yield Live(base, late.app, metadata)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# -- clients and users ------------------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    client_id: str
    secret: str | None
    redirect_uri: str
    scope: str


def outter_app(site: str) -> Registered:
    """The built-in first-party client, as the live service configures it."""
    return Registered("outter-app", None, f"{site}/app", "openid email offline_access users:read")


def register(
    app: Flask,
    name: str,
    site: str,
    *,
    tenant: str = "acme",
    scope: str = "openid email offline_access content:generate users:read",
    path: str = "/callback",
    redirect_uri: str | None = None,
    public: bool = False,
    first_party: bool = False,
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
) -> Registered:
    """A client registered with the CLI, as an operator would: it comes back to ``site`` +
    ``path`` and may be sent to ``site``/signed-out after logout."""
    redirect_uri = redirect_uri or site + path
    registered = register_app(
        app,
        name,
        tenant=tenant,
        scope=scope,
        redirect_uris=(redirect_uri,),
        logout_uris=(f"{site}/signed-out",),
        public=public,
        first_party=first_party,
        grant_types=grant_types,
    )
    return Registered(registered.client_id, registered.secret, redirect_uri, scope)


def user(make: Factory, email: str = "ada@acme.test", role: str = "member", tenant: str = "acme") -> str:
    return make.user(tenant, email, role, PASSWORD)


# -- the relying party --------------------------------------------------------------------------


@dataclass
class RelyingParty:
    """One sign-in attempt of a client app, through Authlib's OAuth2Session."""

    live: Live
    client: Registered
    redirect_uri: str
    session: OAuth2Session = field(init=False)
    state: str = ""
    nonce: str = ""
    verifier: str = ""

    def __post_init__(self) -> None:
        self.session = OAuth2Session(
            self.client.client_id,
            self.client.secret,
            scope=self.client.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.client.secret else "none",
        )

    def authorization_url(self, **extra: str) -> str:
        self.verifier = secrets.token_urlsafe(48)
        self.nonce = secrets.token_urlsafe(16)
        url, self.state = self.session.create_authorization_url(
            self.live.metadata["authorization_endpoint"], code_verifier=self.verifier, nonce=self.nonce, **extra
        )
        return str(url)

    def exchange(self, callback_url: str) -> dict[str, Any]:
        """The client's half: check ``state`` and ``iss`` (RFC 9207), then trade the code."""
        params = callback(callback_url)
        assert params.get("iss") == self.live.metadata["issuer"], params
        token = self.session.fetch_token(
            self.live.metadata["token_endpoint"],
            authorization_response=callback_url,
            state=self.state,
            code_verifier=self.verifier,
        )
        return dict(token)


def callback(url: str) -> dict[str, str]:
    """The parameters the service sent back to the redirect URI (each exactly once)."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    assert all(len(values) == 1 for values in query.values()), query
    return {name: values[0] for name, values in query.items()}


# -- independent checks ---------------------------------------------------------------------------


def verify_id_token(live: Live, rp: RelyingParty, token: dict[str, Any]) -> dict[str, Any]:
    """OpenID Connect Core §3.1.3.7, checked with PyJWT: signature by the served JWKS, RS256,
    the header's typ and kid, iss, aud, azp, exp, iat, nonce, auth_time and at_hash."""
    id_token = token["id_token"]
    header = jwt.get_unverified_header(id_token)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": header["kid"]}, header
    key = live.jwks().get_signing_key_from_jwt(id_token)
    claims = jwt.decode(
        id_token,
        key.key,
        algorithms=["RS256"],
        audience=rp.client.client_id,
        issuer=live.metadata["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time", "at_hash", "sid"]},
    )
    assert claims["azp"] == rp.client.client_id
    assert claims["nonce"] == rp.nonce
    assert claims["auth_time"] <= claims["iat"] < claims["exp"]
    digest = hashlib.sha256(token["access_token"].encode("ascii")).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    return dict(claims)


def bearer(token: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token['access_token']}"}


@contextmanager
def html_site(body: str) -> Iterator[str]:
    """Another site on loopback that serves one HTML page at every path; yields its base URL."""

    def page(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [body.encode()]

    server = make_server("127.0.0.1", 0, page, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="html-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
