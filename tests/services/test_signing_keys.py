"""Signing-key store: files, kid, loading once, cross-process reload, lifecycle states."""

from __future__ import annotations

import base64
import hashlib
import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from cryptography.hazmat.primitives import serialization

from outter_auth.services import signing_keys
from outter_auth.services.signing_keys import KeyRecord, KeyStore, SigningKeyError, key_states

LIFETIME = timedelta(seconds=930)  # access-token TTL + leeway
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def store(path) -> KeyStore:
    return KeyStore(path, LIFETIME)


def rfc7638_thumbprint(pem: bytes) -> str:
    """Computed here from the PEM with `cryptography`, independently of joserfc."""
    numbers = serialization.load_pem_private_key(pem, password=None).public_key().public_numbers()

    def b64(n: int) -> str:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps({"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def test_generate_writes_a_0600_rsa_2048_pem_named_by_its_thumbprint(tmp_path):
    record = store(tmp_path).generate()

    pem_path = tmp_path / f"{record.kid}.pem"
    assert pem_path.stat().st_mode & 0o777 == 0o600
    pem = pem_path.read_bytes()
    assert serialization.load_pem_private_key(pem, password=None).key_size == 2048
    assert record.kid == rfc7638_thumbprint(pem)
    assert json.loads((tmp_path / "keyring.json").read_text())["keys"][0]["kid"] == record.kid


def test_generate_refuses_when_a_key_is_active(tmp_path):
    keys = store(tmp_path)
    keys.generate()
    with pytest.raises(SigningKeyError, match="keys rotate"):
        keys.generate()
    assert keys.generate(only_if_none_active=True) is None
    assert len(list(tmp_path.glob("*.pem"))) == 1


def test_each_pem_is_parsed_once_per_process(tmp_path):
    keys = store(tmp_path)
    keys.generate()
    with mock.patch.object(signing_keys.RSAKey, "import_key", wraps=signing_keys.RSAKey.import_key) as parse:
        fresh = store(tmp_path)
        for _ in range(50):
            fresh.ring().active_key()
            fresh.reload()
    assert parse.call_count == 1


def _generate_in_other_process(path: str) -> None:
    KeyStore(path, LIFETIME).generate()


def test_a_process_that_did_not_write_sees_the_change(tmp_path, monkeypatch):
    reader = store(tmp_path)
    assert reader.ring().active_key() is None

    process = multiprocessing.get_context("spawn").Process(target=_generate_in_other_process, args=(str(tmp_path),))
    process.start()
    process.join(30)
    assert process.exitcode == 0

    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)
    assert reader.ring().active_key() is not None


def test_a_corrupt_manifest_is_a_clear_error(tmp_path):
    (tmp_path / "keyring.json").write_text("{not json")
    with pytest.raises(SigningKeyError, match="cannot read"):
        store(tmp_path).ring()


def test_a_pem_that_does_not_match_its_kid_is_refused(tmp_path):
    keys = store(tmp_path)
    first = keys.generate()
    other = store(tmp_path / "other").generate()
    (tmp_path / f"{first.kid}.pem").write_bytes((tmp_path / "other" / f"{other.kid}.pem").read_bytes())
    with pytest.raises(SigningKeyError, match="thumbprint"):
        store(tmp_path).ring()


def test_jwks_holds_public_parts_only(tmp_path):
    keys = store(tmp_path)
    keys.generate()
    (jwk,) = keys.ring().published_jwks()["keys"]
    assert set(jwk) == {"kty", "kid", "use", "alg", "n", "e"}


# -- lifecycle, derived from timestamps ------------------------------------------------


def rec(kid: str, activates: int, retired: int | None = None) -> KeyRecord:
    """A key published at T0 - 1 h, activating ``activates`` minutes after T0."""
    return KeyRecord(
        kid=kid,
        created_at=T0 - timedelta(hours=1),
        activates_at=T0 + timedelta(minutes=activates),
        retired_at=T0 + timedelta(minutes=retired) if retired is not None else None,
    )


def statuses(records: list[KeyRecord], minutes: float) -> dict[str, str]:
    return {s.record.kid: s.status for s in key_states(records, LIFETIME, T0 + timedelta(minutes=minutes))}


def test_a_pending_key_does_not_sign_until_it_activates():
    records = [rec("old", -60), rec("new", 5)]
    assert statuses(records, 0) == {"old": "active", "new": "pending"}
    assert statuses(records, 5) == {"old": "retired", "new": "active"}


def test_a_superseded_key_stays_published_until_its_tokens_expired():
    records = [rec("old", -60), rec("new", 5)]
    # superseded at minute 5; its tokens live at most 15.5 min (TTL + leeway)
    assert statuses(records, 5 + 15)["old"] == "retired"
    assert statuses(records, 5 + 15.6)["old"] == "expired"
    published = [s.record.kid for s in key_states(records, LIFETIME, T0 + timedelta(minutes=21)) if s.published]
    assert published == ["new"]


def test_exactly_one_key_is_active_at_any_time():
    records = [rec("a", -120), rec("b", -60), rec("c", 10), rec("d", 30)]
    for minutes in range(-200, 200, 7):
        active = [k for k, s in statuses(records, minutes).items() if s == "active"]
        assert len(active) == (1 if minutes >= -120 else 0)


def test_retiring_the_active_key_does_not_revive_its_predecessor():
    records = [rec("a", -120), rec("b", -60, retired=1)]
    # "a" was superseded an hour ago: long expired, and it must not sign again.
    assert statuses(records, 2) == {"a": "expired", "b": "retired"}


def test_a_key_retired_while_pending_never_signs():
    records = [rec("a", -60), rec("b", 10, retired=1)]
    assert statuses(records, 11) == {"a": "active", "b": "retired"}


def test_the_ring_signs_with_the_active_key_and_verifies_with_every_published_one(tmp_path):
    keys = store(tmp_path)
    first = keys.generate()
    ring = keys.ring()
    assert ring.active_key().kid == first.kid
    assert ring.verification_key(first.kid) is not None
    assert ring.verification_key("unknown-kid") is None
