"""Tenants and projects; every project query is scoped to one tenant."""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outter_auth import clock
from outter_auth.models import ApiKey, Project, Tenant
from outter_auth.services import api_keys, audit
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64].strip("-")


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidInput("slug must be 1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'", "slug")
    return slug


def create_tenant(db: Session, slug: str, name: str | None = None) -> Tenant:
    tenant = Tenant(slug=check_slug(slug), name=name or slug)
    db.add(tenant)
    _commit_unique(db, f"a tenant with slug {slug!r} exists already")
    return tenant


def find_tenant(db: Session, ref: str) -> Tenant | None:
    """A tenant by slug or id."""
    return db.scalars(select(Tenant).where((Tenant.slug == ref) | (Tenant.id == ref))).first()


def get_tenant(db: Session, tenant_id: str) -> Tenant:
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


def projects_query(caller: Caller) -> Select[Any]:
    """The tenant's live projects, as far as the caller sees (a project-bound key: its own)."""
    query = select(Project).where(Project.tenant_id == caller.tenant_id, Project.deleted_at.is_(None))
    if caller.ceiling.project_id is not None:
        query = query.where(Project.id == caller.ceiling.project_id)
    return query.order_by(Project.created_at, Project.id)


def live_key_counts(db: Session, caller: Caller) -> dict[str, int]:
    """How many live API keys each project holds, as far as the caller sees them (one
    grouped query over ``api_keys.keys_query``: what deleting a project would revoke)."""
    live = api_keys.keys_query(caller).where(ApiKey.project_id.is_not(None)).subquery()
    rows = db.execute(select(live.c.project_id, func.count()).group_by(live.c.project_id)).all()
    return {project_id: count for project_id, count in rows}


def create_project(db: Session, caller: Caller, name: str, slug: str | None = None, description: str = "") -> Project:
    if caller.ceiling.bound_to_project:
        raise PermissionDenied("a credential bound to a project cannot create projects")
    # A name with no Latin letters ("项目") slugifies to nothing: make one up rather than refuse.
    slug = check_slug(slug) if slug else (slugify(name) or f"project-{secrets.token_hex(3)}")
    project = Project(tenant_id=caller.tenant_id, name=name, slug=slug, description=description)
    db.add(project)
    _commit_unique(db, f"a project with slug {slug!r} exists already")
    return project


def get_project(db: Session, caller: Caller, project_id: str) -> Project:
    project = db.scalars(
        select(Project).where(
            Project.id == project_id, Project.tenant_id == caller.tenant_id, Project.deleted_at.is_(None)
        )
    ).first()
    if project is None or not caller.ceiling.sees_project(project.id):
        raise NotFound("project not found")
    return project


def find_project(db: Session, tenant_id: str, ref: str) -> Project | None:
    """A live project of the tenant by slug or id (the CLI's way)."""
    return db.scalars(
        select(Project).where(
            Project.tenant_id == tenant_id, Project.deleted_at.is_(None), (Project.slug == ref) | (Project.id == ref)
        )
    ).first()


def update_project(db: Session, caller: Caller, project_id: str, **changes: str) -> Project:
    project = get_project(db, caller, project_id)
    if "slug" in changes:
        check_slug(changes["slug"])
    for name, value in changes.items():
        setattr(project, name, value)
    _commit_unique(db, "a project with that slug exists already")
    return project


def delete_project(db: Session, caller: Caller, project_id: str, *, revoke_keys: bool = False) -> list[str]:
    """Delete a project; returns the ids of the keys this revoked.

    A project with live keys is kept (409) unless the caller asks to revoke them: keys
    are never deleted, their records stay for the audit trail (still pointing at the
    project, which stays as a deleted record). A caller can only revoke keys it could
    revoke one by one (a ``test`` key cannot end a project's ``live`` keys)."""
    project = get_project(db, caller, project_id)
    live = db.scalars(api_keys.keys_query(Caller(caller.tenant_id, caller.actor), project_id=project.id)).all()
    if live and not revoke_keys:
        raise Conflict(f"the project has {len(live)} live API key(s): revoke them first, or pass revoke_keys=true")
    if any(not caller.ceiling.sees(key.environment, key.project_id) for key in live):
        raise PermissionDenied("the project holds API keys beyond the caller's reach")
    revoked = api_keys.revoke_project_keys(db, caller, project.id)
    project.deleted_at = clock.now()
    audit.record(
        db,
        "project.deleted",
        tenant_id=caller.tenant_id,
        actor=caller.actor,
        subject=project.id,
        origin=caller.origin,
        details={"slug": project.slug, "revoked_keys": revoked},
        commit=False,
    )
    db.commit()
    return revoked


def _commit_unique(db: Session, message: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(message) from None
