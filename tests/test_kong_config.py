"""`keys kong-config` (SPEC §5): Kong OSS declarative config that mirrors the published JWKS.

Parsed with PyYAML and checked against what Kong's declarative format and its ``jwt``
plugin accept; the public keys are checked with ``cryptography`` against the JWKS. The
rotation runs on its own keys directory (the session ``keys_dir`` keeps its single key).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from outter_auth import clock
from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.services import signing_keys
from tests import kong_schema

JWKS = "/.well-known/jwks.json"
MAX_AGE = 300
TOKEN_LIFETIME = 900 + 30
KONG_TOP_LEVEL = kong_schema.TOP_LEVEL
KONG_JWT_PLUGIN_FIELDS = kong_schema.JWT_PLUGIN_FIELDS
KONG_JWT_CREDENTIAL_FIELDS = kong_schema.JWT_CREDENTIAL_FIELDS


def b64url_uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


def cli(app: Flask, *args: str) -> Any:
    result = app.test_cli_runner().invoke(args=list(args))
    assert result.exit_code == 0, result.output
    return result


def kong_config(app: Flask) -> tuple[str, dict[str, Any]]:
    output = cli(app, "keys", "kong-config").output
    parsed = yaml.safe_load(output)
    assert isinstance(parsed, dict), output
    return output, parsed


def jwks_by_kid(app: Flask) -> dict[str, dict[str, str]]:
    return {key["kid"]: key for key in app.test_client().get(JWKS).get_json()["keys"]}


def jwt_secrets(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [secret for consumer in config["consumers"] for secret in consumer.get("jwt_secrets", [])]


@pytest.fixture
def t0(monkeypatch: pytest.MonkeyPatch) -> datetime:
    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)
    start = datetime.now(UTC).replace(microsecond=0)
    clock.freeze(start)
    return start


@pytest.fixture
def rot_app(app: Flask, base_config: dict[str, object], tmp_path: Path, t0: datetime) -> Iterator[Flask]:
    built = create_app({**base_config, "keys_dir": str(tmp_path / "keys")})
    yield built
    with built.app_context():
        db.engine.dispose()


def assert_kong_declarative_shape(config: dict[str, Any]) -> None:
    assert config["_format_version"] == "3.0"
    assert isinstance(config["_format_version"], str), "Kong wants the version as a string"
    assert set(config) <= KONG_TOP_LEVEL, f"unknown top-level keys: {set(config) - KONG_TOP_LEVEL}"
    assert isinstance(config.get("consumers"), list) and config["consumers"]
    for consumer in config["consumers"]:
        assert isinstance(consumer, dict)
        assert consumer.get("username") or consumer.get("custom_id"), consumer
        for secret in consumer.get("jwt_secrets", []):
            assert set(secret) <= KONG_JWT_CREDENTIAL_FIELDS, secret
    assert isinstance(config.get("plugins"), list) and config["plugins"]
    for plugin in config["plugins"]:
        assert isinstance(plugin.get("name"), str) and plugin["name"]
        assert isinstance(plugin.get("config"), dict)


def assert_secrets_match_the_jwks(output: str, config: dict[str, Any], jwks: dict[str, dict[str, str]]) -> None:
    secrets = jwt_secrets(config)
    assert sorted(s["key"] for s in secrets) == sorted(jwks), "one credential per published kid, no more"
    assert "PRIVATE" not in output
    for secret in secrets:
        assert secret["algorithm"] == "RS256"
        assert "secret" not in secret
        pem = secret["rsa_public_key"]
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
        assert pem.rstrip("\n").endswith("-----END PUBLIC KEY-----")
        public = serialization.load_pem_public_key(pem.encode())
        assert isinstance(public, rsa.RSAPublicKey)
        assert public.key_size == 2048
        numbers = public.public_numbers()
        assert numbers.n == b64url_uint(jwks[secret["key"]]["n"])
        assert numbers.e == b64url_uint(jwks[secret["key"]]["e"])


def test_kong_config_of_the_session_keys_is_declarative_and_matches_the_jwks(app: Flask):
    output, config = kong_config(app)

    assert_kong_declarative_shape(config)
    assert len(jwt_secrets(config)) == 1
    assert_secrets_match_the_jwks(output, config, jwks_by_kid(app))


def test_the_jwt_plugin_finds_credentials_by_kid(app: Flask):
    _, config = kong_config(app)

    (plugin,) = [p for p in config["plugins"] if p["name"] == "jwt"]
    assert plugin["config"]["key_claim_name"] == "kid"
    assert set(plugin["config"]) <= KONG_JWT_PLUGIN_FIELDS, plugin["config"]
    assert set(plugin["config"].get("claims_to_verify", [])) <= {"exp", "nbf"}
    assert "exp" in plugin["config"]["claims_to_verify"]


def test_after_rotate_kong_gets_the_pending_key_before_it_signs(rot_app: Flask, t0: datetime):
    (old,) = jwks_by_kid(rot_app)
    new = json.loads(cli(rot_app, "keys", "rotate", "--json").output)["kid"]

    output, config = kong_config(rot_app)

    assert_kong_declarative_shape(config)
    assert sorted(s["key"] for s in jwt_secrets(config)) == sorted([old, new])
    assert_secrets_match_the_jwks(output, config, jwks_by_kid(rot_app))
    states = {row["kid"]: row["status"] for row in json.loads(cli(rot_app, "keys", "list", "--json").output)}
    assert states == {old: "active", new: "pending"}


def test_kong_config_follows_the_jwks_through_the_whole_rotation(rot_app: Flask, t0: datetime):
    (old,) = jwks_by_kid(rot_app)
    cli(rot_app, "keys", "rotate")

    for seconds, published in [
        (0, 2),  # active + pending
        (MAX_AGE, 2),  # new active, old retired but its tokens still live
        (MAX_AGE + TOKEN_LIFETIME - 1, 2),
        (MAX_AGE + TOKEN_LIFETIME, 1),  # the old key left the JWKS
    ]:
        clock.freeze(t0 + timedelta(seconds=seconds))
        jwks = jwks_by_kid(rot_app)
        assert len(jwks) == published, f"+{seconds}s"
        output, config = kong_config(rot_app)
        assert_kong_declarative_shape(config)
        assert_secrets_match_the_jwks(output, config, jwks)
    assert old not in {s["key"] for s in jwt_secrets(config)}
