"""The console's API-key forms, and how their answers become what the REST API takes.

The scope checkboxes offer what the caller may grant (their role's management scopes, and the
platform scopes of ``OUTTER_SCOPES``; without a catalogue, platform scopes are typed). The
checkboxes do not refuse other values: whatever is sent goes to the service, which refuses
what lies beyond the caller with the API's own message (SPEC §3), so a crafted POST learns
exactly what a REST call would.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from outter_auth import clock
from outter_auth.console.once import SentOnce
from outter_auth.errors import STATUS_BY_ERROR
from outter_auth.models.api_keys import MAX_RATE_LIMIT, RateLimit
from outter_auth.scopes import MANAGEMENT_SCOPES, OIDC_SCOPES
from outter_auth.services.ceilings import GrantCeiling
from outter_auth.services.exceptions import DomainError, InvalidInput

DAY = 86_400


def options(*pairs: tuple[str, str]) -> list[SelectChoice]:
    """WTForms choices from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


EXPIRY_CHOICES = options(
    ("never", "Never"),
    ("7", "In 7 days"),
    ("30", "In 30 days"),
    ("90", "In 90 days"),
    ("365", "In a year"),
    ("date", "On a date"),
)
WINDOWS = {1: "second", 60: "minute", 3600: "hour", DAY: "day"}
GRACE_CHOICES = options(
    ("0", "No grace: the old key stops working now"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
)


class ScopeChecks(SelectMultipleField):  # type: ignore[misc]
    """Checkboxes; any value is taken (the service decides, see the module's docstring)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form: Any) -> None:
        pass


class ScopesMixin:
    scopes = ScopeChecks("Scopes", coerce=str, validate_choice=False)
    other_scopes = StringField(
        "Other scopes", validators=[Optional(), Length(max=2000)], filters=[lambda v: v.strip() if v else v]
    )

    def chosen_scopes(self) -> list[str]:
        typed = (self.other_scopes.data or "").replace(",", " ").split()  # type: ignore[attr-defined]
        return list(dict.fromkeys([*(self.scopes.data or []), *typed]))  # type: ignore[attr-defined]


class RateLimitMixin:
    rate_limit = IntegerField(
        "Requests",
        validators=[Optional(), NumberRange(1, MAX_RATE_LIMIT, f"Enter a number from 1 to {MAX_RATE_LIMIT:,}")],
    )
    rate_window = SelectField("In each", choices=options(*((str(s), w) for s, w in WINDOWS.items())), default="60")

    def chosen_rate_limit(self) -> RateLimit | None:
        if self.rate_limit.data is None:  # type: ignore[attr-defined]
            return None
        return RateLimit(self.rate_limit.data, int(self.rate_window.data))  # type: ignore[attr-defined]

    def show_rate_limit(self, current: RateLimit | None) -> None:
        """Fill the fields with a key's limit (a window set through the API is offered as is)."""
        if current is None:
            return
        self.rate_limit.data = current.limit  # type: ignore[attr-defined]
        if current.window_seconds not in WINDOWS:
            window = self.rate_window  # type: ignore[attr-defined]
            window.choices = [
                *window.choices,
                *options((str(current.window_seconds), f"{current.window_seconds} seconds")),
            ]
        self.rate_window.data = str(current.window_seconds)  # type: ignore[attr-defined]


class NewKeyForm(SentOnce, ScopesMixin, RateLimitMixin, FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired("Enter a name for the key"), Length(max=200)])
    environment = RadioField(
        "Environment", choices=options(("live", "Live"), ("test", "Test")), default="live", validators=[DataRequired()]
    )
    project_id = SelectField("Project", choices=options(("", "No project: the whole organisation")), default="")
    expiry = SelectField("Expires", choices=EXPIRY_CHOICES, default="never")
    expires_on = DateField("Expiry date", validators=[Optional()])

    def validate(self, extra_validators: Any = None) -> bool:
        valid = bool(super().validate(extra_validators))
        # Optional() ends the date's own checks when it is empty, so the pair is checked here.
        if self.expiry.data == "date" and self.expires_on.data is None and not self.expires_on.errors:
            self.expires_on.errors = [*self.expires_on.errors, "Enter the date the key stops working"]
            valid = False
        return valid

    def chosen_expiry(self) -> datetime | None:
        """When the key stops working: as ``expires_in`` does it for a number of days; a date
        means the key works through that whole day (UTC)."""
        if self.expiry.data == "never":
            return None
        if self.expiry.data == "date":
            return datetime.combine(self.expires_on.data + timedelta(days=1), time(), clock.now().tzinfo)
        return clock.now() + timedelta(seconds=int(self.expiry.data) * DAY)


class EditKeyForm(ScopesMixin, RateLimitMixin, FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[DataRequired("Enter a name for the key"), Length(max=200)])


class RotateForm(SentOnce, FlaskForm):  # type: ignore[misc]
    grace = RadioField("How long should the old key keep working?", choices=GRACE_CHOICES, default="0")


def grantable_scopes(ceiling: GrantCeiling, catalogue: tuple[str, ...]) -> list[str]:
    """The scopes to offer as checkboxes: the caller's management scopes, then the platform
    scopes of the catalogue (open to every role, SPEC §3)."""
    held = ceiling.scopes if ceiling.scopes is not None else frozenset(MANAGEMENT_SCOPES)
    management = [s for s in MANAGEMENT_SCOPES if s in held]
    platform = sorted(s for s in catalogue if s not in MANAGEMENT_SCOPES and s not in OIDC_SCOPES)
    return platform + management


def offer_scopes(form: ScopesMixin, offered: list[str], current: list[str] = ()) -> None:  # type: ignore[assignment]
    """Checkboxes for ``offered`` and for any scope the key already holds."""
    names = list(dict.fromkeys([*offered, *current]))
    form.scopes.choices = options(*((s, s) for s in names))  # type: ignore[attr-defined]


# -- errors, in the form and in the API's words -------------------------------------------------

# Where a service's complaint about a REST field points in these forms.
FIELD_OF = {
    "name": "name",
    "scopes": "scopes",
    "environment": "environment",
    "project_id": "project_id",
    "expires_at": "expiry",
    "rate_limit": "rate_limit",
    "grace_period_seconds": "grace",
}


def csrf_failed(form: FlaskForm) -> bool:
    """A POST without this browser's token (expired, or sent from another site)."""
    return "csrf_token" in form.errors


def form_errors(form: FlaskForm) -> list[tuple[str, str | None]]:
    """(message, field id) of each field's first error, for the error summary."""
    return [(errors[0], form[name].id) for name, errors in form.errors.items() if name != "csrf_token" and errors]


def service_error(form: FlaskForm, error: DomainError) -> tuple[int, list[tuple[str, str | None]]]:
    """The status the API answers ``error`` with, and the error (the API's message) put on
    its field when it names one."""
    message = str(error)
    message = message[:1].upper() + message[1:]
    target = FIELD_OF.get(getattr(error, "field", None) or "")
    if target is not None:
        form[target].errors = [*form[target].errors, message]
    return api_status(error), [(message, form[target].id if target else None)]


def api_status(error: DomainError) -> int:
    if isinstance(error, InvalidInput):
        return 422
    for kind, status in STATUS_BY_ERROR.items():
        if isinstance(error, kind):
            return status
    return 400
