"""Password login and the caller's identity."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint

from outter_auth.auth import current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.schemas.sessions import LoginSchema, PrincipalSchema, TokenResponseSchema
from outter_auth.services import sessions, tokens

blp = Blueprint("sessions", __name__, url_prefix="/api/auth", description="User sessions")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenResponseSchema)
    @blp.alt_response(400, description="The user belongs to several tenants and gave none")
    @blp.alt_response(401, description="Invalid email or password")
    @blp.alt_response(403, description="Account or membership deactivated")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Log in with email and password

        Starts a session for the first-party client and returns an access token
        and a refresh token. Unknown email and wrong password answer alike.
        """
        state = runtime()
        membership = sessions.authenticate_password(
            db.session, body["email"], body["password"], body.get("tenant"), state.settings.bcrypt_rounds
        )
        started = sessions.start_session(
            db.session, membership, state.settings.first_party_client_id, state.settings.refresh_token_ttl
        )
        return token_response(started), 200, NO_STORE


def token_response(started: sessions.StartedSession) -> dict[str, Any]:
    state = runtime()
    access_token, _ = tokens.issue_access_token(
        state.keystore.ring(),
        state.token_settings,
        subject=started.membership.user_id,
        client_id=started.session.client_id,
        scopes=started.scopes,
        tenant_id=started.membership.tenant_id,
        roles=[started.membership.role],
        session_id=started.session.id,
    )
    return {
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": state.token_settings.ttl,
        "refresh_token": started.refresh_token,
        "scope": " ".join(started.scopes),
    }


@blp.route("/me")
class Me(MethodView):
    @require_scopes()
    @blp.response(200, PrincipalSchema)
    def get(self) -> Any:
        """Who is calling

        Describes the user, client or API key behind the credential.
        """
        return current_principal
