"""The pages' forms (WTForms through Flask-WTF): validated server-side, each with a CSRF token."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, RadioField, StringField
from wtforms.validators import AnyOf, InputRequired, Length

ALLOW = "allow"
DENY = "deny"


class SignInForm(FlaskForm):  # type: ignore[misc]
    # No format check on the email: a malformed one is just a wrong email, and is answered as one.
    email = EmailField("Email address", validators=[InputRequired("Enter your email address"), Length(max=320)])
    password = PasswordField("Password", validators=[InputRequired("Enter your password"), Length(max=1024)])


class TenantForm(FlaskForm):  # type: ignore[misc]
    tenant = RadioField(
        "Organisation", choices=[], validate_choice=True, validators=[InputRequired("Choose an organisation")]
    )


class ConsentForm(FlaskForm):  # type: ignore[misc]
    decision = StringField(validators=[AnyOf([ALLOW, DENY], message="Choose Allow or Deny")])


class LogoutForm(FlaskForm):  # type: ignore[misc]
    """Only the CSRF token: signing out is one button."""
