"""bcrypt hashing with the policy around it."""

from __future__ import annotations

import pytest

from outter_auth.services import passwords


def test_hash_and_verify():
    hashed = passwords.hash_password("correct horse", 4)
    assert hashed.startswith("$2b$04$")
    assert passwords.verify_password("correct horse", hashed)
    assert not passwords.verify_password("correct horsE", hashed)


def test_cost_comes_from_the_caller():
    assert passwords.hash_password("correct horse", 5).startswith("$2b$05$")


@pytest.mark.parametrize(
    ("password", "message"),
    [("short", "at least 8"), ("é" * 37, "at most 72 bytes"), ("x" * 73, "at most 72 bytes")],
)
def test_policy(password, message):
    with pytest.raises(passwords.WeakPassword, match=message):
        passwords.hash_password(password, 4)


def test_unicode_passwords_work():
    hashed = passwords.hash_password("pässwörd-🔑", 4)
    assert passwords.verify_password("pässwörd-🔑", hashed)


@pytest.mark.parametrize("attempt", ["x" * 200, "", "\x00abc"])
def test_odd_login_attempts_are_just_wrong(attempt):
    hashed = passwords.hash_password("correct horse", 4)
    assert passwords.verify_password(attempt, hashed) is False


def test_a_corrupt_stored_hash_is_a_failed_check_not_a_crash():
    assert passwords.verify_password("correct horse", "not-a-bcrypt-hash") is False
