"""The suite's own check (``safety.assert_safe``) sees what it must and nothing else, so a
green attack suite cannot come from a blind helper."""

from __future__ import annotations

import pytest
from werkzeug.wrappers import Response

from tests.attacks.safety import assert_safe, leaks

LEAKY = {
    "traceback": 'Traceback (most recent call last):\n  File "/app/x.py", line 3, in f',
    "file-line": 'File "/work/venv/lib/python3.11/site-packages/flask/app.py", line 880',
    "sqlalchemy": "(sqlalchemy.exc.IntegrityError) UNIQUE constraint failed",
    "psycopg": "psycopg.errors.UniqueViolation: duplicate key",
    "builtin-exception": '{"message": "KeyError: \'sub\'"}',
    "library-exception": '{"message": "joserfc raised BadSignatureError"}',
    "service-exception": '{"message": "InvalidToken"}',
}
CLEAN = {
    "spec-error": '{"code":401,"message":"malformed token","status":"Unauthorized"}',
    "conflict": '{"code":409,"message":"slug taken","status":"Conflict"}',
    "oauth-error": '{"error":"invalid_grant","error_description":"invalid email or password"}',
    "introspection": '{"active":false}',
    "key": '{"key":"outter_live_Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAB12cD"}',
}


@pytest.mark.parametrize("text", LEAKY.values(), ids=LEAKY.keys())
def test_leaks_are_found(text: str):
    assert leaks(text)
    with pytest.raises(AssertionError):
        assert_safe(Response(text, status=400))


@pytest.mark.parametrize("text", CLEAN.values(), ids=CLEAN.keys())
def test_clean_answers_pass(text: str):
    assert leaks(text) == []
    assert_safe(Response(text, status=400))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_fail(status: int):
    with pytest.raises(AssertionError):
        assert_safe(Response("", status=status))


def test_a_401_needs_a_challenge():
    with pytest.raises(AssertionError):
        assert_safe(Response('{"code":401}', status=401))
    assert_safe(Response('{"code":401}', status=401, headers={"WWW-Authenticate": 'Bearer realm="outter"'}))


def test_a_leak_in_a_header_is_found():
    with pytest.raises(AssertionError):
        assert_safe(Response("", status=401, headers={"WWW-Authenticate": 'Bearer error_description="ValueError"'}))
