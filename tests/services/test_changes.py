"""Changes (``services.changes``): announced in the transaction that makes them, heard by this
process's runtime once it commits, never for a rolled-back one. The bus that carries them to
other processes is tests/services/test_invalidation.py."""

from __future__ import annotations

import pytest

from outter_auth.extensions import db
from outter_auth.services import changes


def test_a_change_is_heard_once_its_transaction_commits(ctx, heard):
    changes.announce(db.session, "api_key", "key_1")
    changes.announce(db.session, "api_key", "key_1")  # announced twice, heard once
    assert heard == []  # not before the commit: the change might still be rolled back

    db.session.commit()

    assert heard == ["api_key:key_1"]


def test_a_rolled_back_change_is_never_heard(ctx, heard):
    changes.announce(db.session, "client", "cli_1")
    db.session.rollback()
    db.session.commit()  # a later commit must not carry the dropped announcement

    assert heard == []


def test_each_commit_carries_its_own_changes_in_order(ctx, heard):
    changes.announce(db.session, "session", "ses_1")
    changes.announce(db.session, "user", "usr_1")
    db.session.commit()
    changes.announce(db.session, "access_token", "jti_1")
    db.session.commit()

    assert heard == ["session:ses_1", "user:usr_1", "access_token:jti_1"]


def test_a_savepoints_rollback_leaves_the_outer_change_standing(ctx, heard):
    """``begin_nested`` (e.g. lockout's insert race) rolls back a part, not the transaction."""
    changes.announce(db.session, "api_key", "key_outer")
    savepoint = db.session.begin_nested()
    savepoint.rollback()

    db.session.commit()

    assert heard == ["api_key:key_outer"]


@pytest.mark.parametrize("kind", changes.KINDS)
def test_tags_name_the_kind_and_the_id(kind):
    assert changes.tag(kind, "x_1") == f"{kind}:x_1"


def test_an_unknown_kind_is_an_error_not_a_silent_tag(ctx, heard):
    with pytest.raises(ValueError, match="unknown kind"):
        changes.tag("apikey", "key_1")
    with pytest.raises(ValueError):
        changes.announce(db.session, "apikey", "key_1")
    db.session.commit()
    assert heard == []


def test_a_cache_entry_is_dropped_when_its_change_commits(app, ctx):
    state = app.extensions["outter_auth"]
    state.clients.get("cli_gone", lambda: None)
    assert "cli_gone" in state.clients._entries

    changes.announce(db.session, "client", "cli_gone")
    db.session.commit()

    assert "cli_gone" not in state.clients._entries
