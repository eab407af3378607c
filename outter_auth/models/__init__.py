"""Typed SQLAlchemy 2 models, one module per aggregate; no crypto in here."""

from outter_auth.models.base import Base
from outter_auth.models.sessions import RefreshToken, Session
from outter_auth.models.tenancy import Project, Tenant
from outter_auth.models.users import ROLES, Membership, User

__all__ = ["Base", "Membership", "Project", "ROLES", "RefreshToken", "Session", "Tenant", "User"]
