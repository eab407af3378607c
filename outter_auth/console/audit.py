"""The tenant's audit trail (SPEC §8, §12), read only: newest first, 50 a page, filtered by
type and by UTC days. The events are those of ``GET /api/auth/audit-events``: the same query
(``services.audit.events_query``, the caller's tenant only, never platform events) and the
same paging."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import Response, request, url_for
from flask_smorest.pagination import PaginationParameters
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError

from outter_auth.api.paging import paginate
from outter_auth.auth import current_principal
from outter_auth.console.access import signed_in
from outter_auth.console.audit_words import describe, detail_lines, headline
from outter_auth.console.blueprint import blp
from outter_auth.console.render import page
from outter_auth.extensions import db
from outter_auth.models import AuditEvent, Membership
from outter_auth.services import audit, users

PAGE_SIZE = 50


class AuditFilters(FlaskForm):  # type: ignore[misc]
    """The filters, in the query string (a GET changes nothing, so no CSRF token)."""

    class Meta:
        csrf = False

    type = SelectField(
        "Event type",
        default="",
        choices=[SelectChoice("", "All events")]
        + [SelectChoice(name, f"{describe(name)} ({name})") for name in audit.TENANT_EVENT_TYPES],
    )
    since = DateField("From (UTC)", validators=[Optional()], render_kw={"aria-describedby": "dates-hint"})
    until = DateField("To (UTC)", validators=[Optional()], render_kw={"aria-describedby": "dates-hint"})

    def validate_until(self, field: DateField) -> None:
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The “To” date is before the “From” date.")


@blp.get("/audit", endpoint="audit")
@signed_in()
def audit_log() -> Response:
    filters = AuditFilters(formdata=request.args)
    if not filters.validate():
        errors = [
            (message, getattr(filters, name).id) for name, messages in filters.errors.items() for message in messages
        ]
        return page("console/audit.html", 422, filters=filters, errors=errors, events=[], paging=None)
    params = PaginationParameters(_page_number(), PAGE_SIZE)
    query = audit.events_query(
        current_principal.tenant_id,
        type=filters.type.data or None,
        since=_start_of(filters.since.data),
        until=_start_of(filters.until.data + timedelta(days=1)) if filters.until.data else None,
    )
    events = paginate(query, params)
    return page(
        "console/audit.html",
        filters=filters,
        errors=[],
        events=[_row(event) for event in events],
        people=_people({event.actor for event in events} | {event.subject for event in events}),
        paging=_paging(params),
        filtered=bool(filters.type.data or filters.since.data or filters.until.data),
    )


def _page_number() -> int:
    number = request.args.get("page", default=1, type=int) or 1
    return max(1, min(number, 10**6))


def _start_of(day: date | None) -> datetime | None:
    """A date from the form as the start of that UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


def _row(event: AuditEvent) -> dict[str, Any]:
    return {"event": event, "words": describe(event.type), "headline": headline(event), "details": detail_lines(event)}


def _people(ids: set[str | None]) -> dict[str, str]:
    """The emails of the tenant's members among ``ids`` (actors and subjects are ids)."""
    wanted = {value for value in ids if value}
    if not wanted:
        return {}
    query = users.members_query(current_principal.tenant_id).where(Membership.user_id.in_(wanted))
    return {membership.user_id: membership.user.email for membership in db.session.scalars(query).unique()}


def _paging(params: PaginationParameters) -> dict[str, Any]:
    total = params.item_count or 0
    pages = max(1, -(-total // PAGE_SIZE))
    kept = {name: value for name, value in request.args.items() if name != "page" and value}

    def link(number: int) -> str:
        return url_for(".audit", **kept, page=number) if number > 1 else url_for(".audit", **kept)

    first = min(params.first_item + 1, total)
    return {
        "page": params.page,
        "pages": pages,
        "total": total,
        "first": first,
        "last": min(params.first_item + PAGE_SIZE, total),
        "newer": link(params.page - 1) if params.page > 1 else None,
        "older": link(params.page + 1) if params.page < pages else None,
        "beyond": params.page > pages,
        "first_page": link(1),
    }
