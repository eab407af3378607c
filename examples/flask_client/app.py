"""A client app that signs its users in through Outter and calls the API for them.

Authorization code + PKCE (S256) and OpenID Connect, with Authlib's Flask client: it reads
the discovery document, sends the browser to Outter, checks ``state`` and the ID token
(signature from the JWKS, issuer, audience, nonce), trades the code with the PKCE verifier,
and signs out through Outter's end-session endpoint. See README.md, "Sign users in".

    export OUTTER_URL=http://localhost:5000 CLIENT_ID=cli_... CLIENT_SECRET=ocs_...
    flask --app examples/flask_client/app.py run --port 5001
"""

import os
import secrets

import requests
from authlib.integrations.flask_client import OAuth
from flask import Flask, abort, redirect, request, session, url_for
from markupsafe import escape

OUTTER = os.environ.get("OUTTER_URL", "http://localhost:5000").rstrip("/")

app = Flask(__name__)
app.secret_key = os.environ.get("APP_SECRET_KEY") or secrets.token_urlsafe(32)
oauth = OAuth(app)
oauth.register(
    "outter",
    client_id=os.environ["CLIENT_ID"],
    client_secret=os.environ.get("CLIENT_SECRET"),  # none for a public client
    server_metadata_url=f"{OUTTER}/.well-known/openid-configuration",
    client_kwargs={"scope": "openid email", "code_challenge_method": "S256"},
)


@app.get("/")
def home():
    if "access_token" not in session:
        return '<h1>Example app</h1><p>Not signed in. <a href="/login">Sign in with Outter</a></p>'
    me = requests.get(
        f"{OUTTER}/api/auth/me", headers={"Authorization": f"Bearer {session['access_token']}"}, timeout=10
    )
    return (
        f"<h1>Example app</h1><p>Signed in as {escape(session['email'])}.</p>"
        f"<p>GET /api/auth/me answered {me.status_code}:</p><pre>{escape(me.text)}</pre>"
        '<p><a href="/logout">Sign out</a></p>'
    )


@app.get("/login")
def login():
    return oauth.outter.authorize_redirect(url_for("callback", _external=True))


@app.get("/callback")
def callback():
    # RFC 9207: the answer names its issuer; anything else is a mix-up attack.
    if request.args.get("iss") != oauth.outter.load_server_metadata()["issuer"]:
        abort(400, "the answer does not come from Outter")
    token = oauth.outter.authorize_access_token()  # state, PKCE verifier, ID token checks
    # A real app keeps tokens on its server; a signed cookie keeps this example short.
    session.update(access_token=token["access_token"], id_token=token["id_token"], email=token["userinfo"]["email"])
    return redirect(url_for("home"))


@app.get("/logout")
def logout():
    id_token = session.get("id_token")
    session.clear()
    return oauth.outter.logout_redirect(
        post_logout_redirect_uri=url_for("home", _external=True), id_token_hint=id_token
    )
