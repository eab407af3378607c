"""Who is acting, and the most they may grant (SPEC §3: no credential can mint a
credential with more power than it has, on every path).

A credential's power has five parts: scopes, environment, project, lifetime and rate.
A caller's :class:`GrantCeiling` bounds each; the :class:`Shape` of a key or client it
makes or changes must lie within every one. ``None`` means unbounded: an owner's token
holds every environment and project, never expires and has no rate limit, and a client
is made for every environment and project, never expires and has no rate limit — so a
credential bound to one environment, one project, a lifetime or a rate can never make a
client (the client would escape the bound).

Rates (SPEC §14): a key limited to N requests per S seconds can only make or change
keys whose own limit allows at most N requests per window and at most N/S requests per
second on average (``RateLimit.within``); never a key without a limit. Otherwise a
limited key could mint an unlimited one and spend as it pleases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from outter_auth.models.api_keys import RateLimit
from outter_auth.scopes import MANAGEMENT_SCOPES, OIDC_SCOPES
from outter_auth.services import audit
from outter_auth.services.audit import Origin
from outter_auth.services.exceptions import PermissionDenied


class EscalationRefused(PermissionDenied):
    """The caller tried to make or change a credential with more power than it has itself."""


@dataclass(frozen=True)
class Shape:
    """The power of a credential being made or changed."""

    kind: str  # "API key" | "OAuth client": named in refusals
    scopes: frozenset[str]
    environment: str | None = None  # None: every environment
    project_id: str | None = None  # None: every project
    ends_at: datetime | None = None  # None: never ends
    rate_limit: RateLimit | None = None  # None: no rate limit


@dataclass(frozen=True)
class GrantCeiling:
    """The power of the caller; ``None`` parts are unbounded."""

    scopes: frozenset[str] | None = None
    environment: str | None = None
    project_id: str | None = None
    ends_at: datetime | None = None
    # Owners and admins hold every platform scope of their tenant, but their token may be
    # narrowed: then only the management scopes it carries bound what they can grant.
    platform_scopes_free: bool = False
    rate_limit: RateLimit | None = None

    @property
    def bound_to_project(self) -> bool:
        return self.project_id is not None

    def sees(self, environment: str | None, project_id: str | None) -> bool:
        """Whether an object of ``environment`` and ``project_id`` lies within the caller's
        reach (objects outside it are answered as if they did not exist)."""
        return (self.environment is None or environment == self.environment) and (
            self.project_id is None or project_id == self.project_id
        )

    def sees_project(self, project_id: str) -> bool:
        return self.project_id is None or project_id == self.project_id

    def refusal(self, shape: Shape) -> str | None:
        """Why ``shape`` exceeds the caller, or None if it lies within."""
        for check in (
            self._scopes_refusal,
            self._environment_refusal,
            self._project_refusal,
            self._lifetime_refusal,
            self._rate_refusal,
        ):
            reason = check(shape)
            if reason is not None:
                return reason
        return None

    def _scopes_refusal(self, shape: Shape) -> str | None:
        # OIDC scopes let a client ask users for their identity and for refresh tokens, which
        # each user allows on the consent page: no power over the tenant to escalate.
        scopes = shape.scopes - set(OIDC_SCOPES)
        scopes = scopes & set(MANAGEMENT_SCOPES) if self.platform_scopes_free else scopes
        if self.scopes is None or scopes <= self.scopes:
            return None
        return f"cannot grant scopes the caller does not hold: {' '.join(sorted(scopes - self.scopes))}"

    def _environment_refusal(self, shape: Shape) -> str | None:
        if self.environment is None or shape.environment == self.environment:
            return None
        if shape.environment is None:
            return f"an {shape.kind} is not bound to an environment; the caller holds only {self.environment}"
        return f"the caller may only manage {self.environment} credentials"

    def _project_refusal(self, shape: Shape) -> str | None:
        if self.project_id is None or shape.project_id == self.project_id:
            return None
        if shape.project_id is None:
            return f"an {shape.kind} is not bound to a project; the caller holds only its own project"
        return "the caller may only manage credentials of its own project"

    def _lifetime_refusal(self, shape: Shape) -> str | None:
        if self.ends_at is None or (shape.ends_at is not None and shape.ends_at <= self.ends_at):
            return None
        return f"an {shape.kind} cannot outlive the credential that manages it"

    def _rate_refusal(self, shape: Shape) -> str | None:
        if self.rate_limit is None or (shape.rate_limit is not None and shape.rate_limit.within(self.rate_limit)):
            return None
        if shape.rate_limit is None:
            return f"an {shape.kind} without a rate limit is beyond the caller's own ({self.rate_limit})"
        return f"a rate limit of {shape.rate_limit} is looser than the caller's own ({self.rate_limit})"


OPERATOR = None  # the role of the operator's CLI: above every tenant role
MACHINE = "machine"  # the role of API keys and OAuth clients: none at all


@dataclass(frozen=True)
class Caller:
    """Who is acting (REST, CLI, console): the tenant, the actor's id for the audit trail,
    its ceiling, its role in the tenant and where the request came from. The CLI is the
    operator: unbounded, with no role (``OPERATOR``)."""

    tenant_id: str
    actor: str
    ceiling: GrantCeiling = GrantCeiling()
    origin: Origin | None = None
    role: str | None = OPERATOR


def refuse_escalation(db: Session, caller: Caller, shape: Shape, *, event: str, subject: str | None) -> None:
    """Raise :class:`EscalationRefused` when ``shape`` exceeds the caller, after recording
    ``event`` (e.g. ``api_key.escalation_refused``) in a transaction of its own: whatever
    the caller had changed so far is rolled back, the attempt stays on record."""
    reason = caller.ceiling.refusal(shape)
    if reason is None:
        return
    db.rollback()
    audit.record(
        db,
        event,
        tenant_id=caller.tenant_id,
        actor=caller.actor,
        subject=subject,
        origin=caller.origin,
        details={
            "reason": reason,
            "scopes": sorted(shape.scopes),
            "environment": shape.environment,
            "project_id": shape.project_id,
            **({"rate_limit": shape.rate_limit and shape.rate_limit.as_dict()} if caller.ceiling.rate_limit else {}),
        },
    )
    raise EscalationRefused(reason)
