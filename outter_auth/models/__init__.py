"""Typed SQLAlchemy 2 models, one module per aggregate; no crypto in here."""

from outter_auth.models.api_keys import ApiKey, ApiKeyUsage, RateLimit
from outter_auth.models.audit import AuditEvent
from outter_auth.models.base import Base
from outter_auth.models.clients import OAuthClient
from outter_auth.models.lockouts import LoginFailures
from outter_auth.models.sessions import RefreshToken, RevokedAccessToken, Session
from outter_auth.models.signin import AuthorizationCode, BrowserSession, Consent
from outter_auth.models.tenancy import Project, Tenant
from outter_auth.models.users import ROLES, Membership, User

__all__ = [
    "ApiKey",
    "ApiKeyUsage",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "BrowserSession",
    "Consent",
    "LoginFailures",
    "Membership",
    "OAuthClient",
    "Project",
    "RateLimit",
    "ROLES",
    "RefreshToken",
    "RevokedAccessToken",
    "Session",
    "Tenant",
    "User",
]
