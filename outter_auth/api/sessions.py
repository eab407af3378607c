"""Password login, token refresh, logout and the caller's identity (JSON)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from outter_auth import metrics
from outter_auth.api.base import Blueprint, request_origin
from outter_auth.auth import AuthenticationFailed, current_principal, require_scopes
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.schemas.sessions import LoginSchema, PrincipalSchema, RefreshSchema, TokenResponseSchema
from outter_auth.services import login, sessions

blp = Blueprint("sessions", __name__, url_prefix="/api/auth", description="User sessions")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@blp.route("/login")
class Login(MethodView):
    @blp.arguments(LoginSchema)
    @blp.response(200, TokenResponseSchema)
    @blp.alt_response(400, description="The user belongs to several tenants and gave none")
    @blp.alt_response(401, description="Invalid email or password")
    @blp.alt_response(403, description="Account or membership deactivated")
    @blp.alt_response(429, description="Too many attempts from this address or for this account (Retry-After)")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Log in with email and password

        Starts a session for the first-party client and returns an access token
        and a refresh token. Unknown email and wrong password answer alike. After
        repeated failures the email is locked for a while (429 with Retry-After),
        whether or not an account has it.
        """
        state = runtime()
        membership = login.authenticate_password(
            db.session,
            body["email"],
            body["password"],
            state.login_policy,
            tenant_ref=body.get("tenant"),
            origin=request_origin(),
        )
        settings = state.settings
        first_party = state.first_party_client()
        active = sessions.start_session(
            db.session,
            membership,
            first_party.id,
            settings.refresh_token_ttl,
            client_scopes=first_party.scopes,
            catalogue=settings.scopes,
            origin=request_origin(),
        )
        metrics.token_issued("login")
        return state.issuer.session_tokens(active), 200, NO_STORE


@blp.route("/token/refresh")
class Refresh(MethodView):
    @blp.arguments(RefreshSchema)
    @blp.response(200, TokenResponseSchema)
    @blp.alt_response(401, description="Unknown, spent, expired or revoked refresh token")
    def post(self, body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
        """Refresh a session

        Spends the refresh token and returns a new pair. Presenting a spent
        refresh token again ends the whole session.
        """
        state = runtime()
        settings, first_party = state.settings, state.first_party_client()
        try:
            active = sessions.rotate_refresh_token(
                db.session,
                body["refresh_token"],
                client_id=first_party.id,
                client_scopes=first_party.scopes,
                catalogue=settings.scopes,
                idle_timeout_seconds=settings.session_idle_timeout,
                origin=request_origin(),
            )
        except sessions.RefreshFailed as error:
            raise AuthenticationFailed(str(error), error="invalid_token") from None
        metrics.token_issued("refresh_token")
        return state.issuer.session_tokens(active), 200, NO_STORE


@blp.route("/logout")
class Logout(MethodView):
    @require_scopes()
    @blp.response(204)
    def post(self) -> None:
        """End the caller's session

        Its refresh tokens stop working, and this service refuses its access tokens.
        """
        principal = current_principal
        if principal.session_id is None:
            raise AuthenticationFailed("only a user session can log out", error="invalid_token")
        sessions.logout(db.session, principal.session_id, principal.tenant_id, principal.id, origin=request_origin())


@blp.route("/me")
class Me(MethodView):
    @require_scopes()
    @blp.response(200, PrincipalSchema)
    def get(self) -> Any:
        """Who is calling

        Describes the user, client or API key behind the credential.
        """
        return current_principal
