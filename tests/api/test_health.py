"""Probes: GET /healthz (process up, no I/O) and GET /readyz (database and signing key; 503 otherwise)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import OperationalError

from outter_auth.extensions import db
from outter_auth.services import signing_keys

UNREACHABLE_DATABASES = [
    pytest.param("sqlite:////nonexistent-dir/outter/x.db", id="sqlite-in-missing-directory"),
    pytest.param("postgresql+psycopg://u@127.0.0.1:1/x?connect_timeout=1", id="postgresql-closed-port"),
]


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_answers_ready_with_both_checks(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.get_json()
    assert body["checks"] == {"database": True, "signing_key": True}
    assert body["status"] == "ready"


def test_probes_need_no_credential(client):
    bad = {"Authorization": "Bearer not-a-token"}
    assert client.get("/healthz", headers=bad).status_code == 200
    assert client.get("/readyz", headers=bad).status_code == 200


# -- database unreachable ---------------------------------------------------------------


@pytest.mark.parametrize("unreachable_url", UNREACHABLE_DATABASES)
def test_readyz_is_503_when_the_database_is_unreachable(make_app, unreachable_url: str):
    broken = make_app(database_url=unreachable_url)

    response = broken.test_client().get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"]["database"] is False
    assert body["checks"]["signing_key"] is True
    assert body["status"] != "ready"
    assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("unreachable_url", UNREACHABLE_DATABASES)
def test_healthz_does_no_io_and_stays_ok_without_a_database(make_app, unreachable_url: str):
    broken = make_app(database_url=unreachable_url)

    response = broken.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_recovers_once_the_database_answers_again(client, monkeypatch):
    """A failed check must not poison the session for the next probe."""

    def database_down(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(db.session, "execute", database_down)
    down = client.get("/readyz")
    monkeypatch.undo()
    up = client.get("/readyz")

    assert down.status_code == 503
    assert down.get_json()["checks"] == {"database": False, "signing_key": True}
    assert up.status_code == 200
    assert up.get_json()["checks"] == {"database": True, "signing_key": True}


# -- no active signing key ---------------------------------------------------------------


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _write_manifest(keys_dir: Path, records: list[dict[str, Any]]) -> None:
    tmp = keys_dir / "keyring.json.new"
    tmp.write_text(json.dumps({"keys": records}))
    os.replace(tmp, keys_dir / "keyring.json")  # a new inode, as the CLI writes it


def _only_key_retired(keys_dir: Path, kid: str) -> None:
    now = datetime.now(UTC)
    _write_manifest(
        keys_dir,
        [{"kid": kid, "created_at": _iso(now - timedelta(hours=1)), "activates_at": _iso(now - timedelta(hours=1)),
          "retired_at": _iso(now - timedelta(seconds=5))}],
    )  # fmt: skip


def _only_key_pending(keys_dir: Path, kid: str) -> None:
    now = datetime.now(UTC)
    _write_manifest(
        keys_dir,
        [{"kid": kid, "created_at": _iso(now), "activates_at": _iso(now + timedelta(hours=1)), "retired_at": None}],
    )


def _manifest_removed(keys_dir: Path, kid: str) -> None:
    (keys_dir / "keyring.json").unlink()


def _manifest_corrupt(keys_dir: Path, kid: str) -> None:
    tmp = keys_dir / "keyring.json.new"
    tmp.write_text("{not json")
    os.replace(tmp, keys_dir / "keyring.json")


def _pem_missing(keys_dir: Path, kid: str) -> None:
    # A second key appears in the manifest without its PEM file: the ring cannot be loaded.
    now = datetime.now(UTC)
    records = json.loads((keys_dir / "keyring.json").read_text())["keys"]
    records.append({"kid": "missing-pem", "created_at": _iso(now), "activates_at": _iso(now), "retired_at": None})
    _write_manifest(keys_dir, records)


NO_ACTIVE_KEY = [
    pytest.param(_only_key_retired, id="only-key-retired"),
    pytest.param(_only_key_pending, id="only-key-pending"),
    pytest.param(_manifest_removed, id="manifest-removed"),
    pytest.param(_manifest_corrupt, id="manifest-corrupt"),
    pytest.param(_pem_missing, id="pem-file-missing"),
]


@pytest.mark.parametrize("break_keys", NO_ACTIVE_KEY)
def test_readyz_is_503_without_an_active_signing_key(
    make_app, tmp_path: Path, monkeypatch, break_keys: Callable[[Path, str], None]
):
    keys_dir = tmp_path / "keys"
    app = make_app(keys_dir=str(keys_dir))  # "testing" generates a first key, as development does
    client = app.test_client()
    assert client.get("/readyz").status_code == 200, "the fresh app starts ready"
    (kid,) = [record["kid"] for record in json.loads((keys_dir / "keyring.json").read_text())["keys"]]

    break_keys(keys_dir, kid)
    monkeypatch.setattr(signing_keys, "RELOAD_CHECK_SECONDS", 0.0)  # see the change now, not within 1 s

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["checks"] == {"database": True, "signing_key": False}
    assert body["status"] != "ready"


def test_readyz_is_503_when_the_keystore_ring_has_no_active_key(app: Flask, client, monkeypatch):
    """The same check without touching files: the keystore hands out an empty ring."""
    keystore = app.extensions["outter_auth"].keystore
    monkeypatch.setattr(keystore, "ring", lambda: signing_keys.KeyRing([], {}, timedelta(seconds=930)))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.get_json()["checks"] == {"database": True, "signing_key": False}
