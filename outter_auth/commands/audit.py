"""``outter-auth audit``: the audit trail's retention."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from outter_auth import clock
from outter_auth.commands import emit, json_option
from outter_auth.extensions import db
from outter_auth.runtime import runtime
from outter_auth.services import audit, authorization_codes, browser_sessions, lockout, sessions

audit_cli = click.Group("audit", help="Keep the audit trail and other records to their retention.")


@audit_cli.command("prune")
@click.option(
    "--older-than-days", type=click.IntRange(min=1), help="Audit events older than this go (default: retention)."
)
@json_option
@with_appcontext
def audit_prune(older_than_days: int | None, as_json: bool) -> None:
    """Delete what is past its retention.

    Audit events older than OUTTER_AUDIT_RETENTION_DAYS, revoked-token records past their
    expiry, failed-login counters that neither lock nor count any more, and authorization
    codes and browser sessions that ended or expired more than a day ago.
    """
    days = older_than_days or runtime().settings.audit_retention_days
    now = clock.now()
    events = audit.prune(db.session, now - timedelta(days=days))
    jtis = sessions.prune_revoked_access_tokens(db.session)
    failures = lockout.prune(db.session, now)
    codes = authorization_codes.prune(db.session, now)
    browsers = browser_sessions.prune(db.session, now)
    emit(
        {
            "audit_events": events,
            "revoked_access_tokens": jtis,
            "login_failures": failures,
            "authorization_codes": codes,
            "browser_sessions": browsers,
        },
        as_json,
        f"pruned {events} audit events older than {days} days, {jtis} expired revoked-token records, "
        f"{failures} stale failed-login counters, {codes} old authorization codes and {browsers} old browser sessions",
    )
