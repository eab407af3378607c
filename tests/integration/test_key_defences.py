"""API keys that defend themselves (issue 15, SPEC §14) across two real instances.

Two gunicorn instances (one worker each) on one PostgreSQL database and one Redis, as in
``test_two_instances.py`` (whose fixtures and helpers these tests reuse), with a key cache
of 300 s: once instance B has served a key, only the Redis invalidation can make it refuse
the key within the bound. Here a leak report taken by instance A revokes the key, and a
per-key rate limit is spent through both instances at once.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.factories import PASSWORD
from tests.integration.servers import REDIS_URL, gunicorn, outter_cli, service_env
from tests.integration.test_two_instances import (  # noqa: F401 - postgres_url is a fixture
    CACHE_TTL,
    EMAIL,
    VERIFY,
    Pair,
    assert_refused_within,
    login,
    postgres_url,
)

LEAKS = "/api/auth/api-keys/leaks"
SCANNER_KEY_ID = "test-scanner-key"


@pytest.fixture
def scanner_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def pair(
    postgres_url: str,  # noqa: F811 - the fixture imported above
    keys_dir: Path,
    tmp_path: Path,
    scanner_key: ec.EllipticCurvePrivateKey,
) -> Iterator[Pair]:
    public = scanner_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys_file = tmp_path / "secret_scanning.json"
    document = {"public_keys": [{"key_identifier": SCANNER_KEY_ID, "key": public.decode(), "is_current": True}]}
    keys_file.write_text(json.dumps(document))
    env = service_env(
        postgres_url,
        keys_dir,
        OUTTER_REDIS_URL=REDIS_URL,
        OUTTER_API_KEY_CACHE_TTL=CACHE_TTL,
        OUTTER_SECRET_SCANNING_KEYS_FILE=str(keys_file),
    )
    outter_cli(env, "tenants", "create", "acme")
    outter_cli(env, "users", "create", EMAIL, "--tenant", "acme", "--role", "owner", "--password-stdin", stdin=PASSWORD)
    with (
        gunicorn(env, tmp_path / "a", name="instance-a", workers=1) as a,
        gunicorn(env, tmp_path / "b", name="instance-b", workers=1) as b,
    ):
        yield Pair(a, b, env, postgres_url)


def test_a_key_reported_leaked_through_instance_a_is_refused_by_instance_b_within_1s(
    pair: Pair, scanner_key: ec.EllipticCurvePrivateKey
):
    key = pair.create_key("leaked")
    for instance in (pair.b, pair.a, pair.b):  # B has served it (and cached it) before
        assert pair.verify(instance, key["key"]).status_code == 200

    body = json.dumps([{"token": key["key"], "type": "outter_api_key", "url": "https://x.test/a", "source": "content"}])
    signature = base64.b64encode(scanner_key.sign(body.encode(), ec.ECDSA(hashes.SHA256()))).decode()
    headers = {
        "Content-Type": "application/json",
        "Github-Public-Key-Identifier": SCANNER_KEY_ID,
        "Github-Public-Key-Signature": signature,
    }
    reported = requests.post(pair.a.base + LEAKS, data=body, headers=headers, timeout=10)
    reported_at = time.monotonic()

    assert reported.status_code == 200, reported.text
    assert reported.json()[0]["label"] == "true_positive"
    assert pair.verify(pair.a, key["key"]).json() == {"valid": False, "code": "revoked"}  # at once where reported
    assert_refused_within(pair, pair.b, key["key"], reported_at)


def test_a_keys_rate_limit_is_counted_across_instances(pair: Pair):
    owner = login(pair.a)
    body = {"name": "limited", "scopes": ["content:read"], "rate_limit": {"limit": 4, "window_seconds": 86_400}}
    created = requests.post(pair.a.base + "/api/auth/api-keys", json=body, headers=owner, timeout=10)
    assert created.status_code == 201, created.text
    raw = created.json()["key"]

    def verify(instance) -> requests.Response:
        return requests.post(instance.base + VERIFY, headers={"X-API-Key": raw}, timeout=10)

    answers = [verify(instance) for instance in (pair.a, pair.b, pair.a, pair.b)]
    assert [r.status_code for r in answers] == [200] * 4
    assert [r.headers["X-RateLimit-Remaining"] for r in answers] == ["3", "2", "1", "0"]
    for instance in (pair.a, pair.b):
        refused = verify(instance)
        assert refused.status_code == 429
        assert refused.json() == {"valid": False, "code": "rate_limited"}
        assert int(refused.headers["Retry-After"]) >= 1
        checked = requests.get(instance.base + "/api/auth/gateway/check", headers={"X-API-Key": raw}, timeout=10)
        assert checked.status_code == 429 and checked.content == b""
