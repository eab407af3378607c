"""Fixtures: one migrated database and one app per test session, clean rows per test.

The database is SQLite in a temporary folder unless ``OUTTER_DATABASE_URL`` names
another (CI sets a PostgreSQL one; each pytest-xdist worker then gets a database of its own,
made next to it and dropped afterwards). The schema always comes from the Alembic
migrations, never from ``create_all``, so every run also tests the migrations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, make_url, text

from outter_auth import clock
from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import Base
from tests import factories
from tests.apps import extra_app
from tests.browsers import browser_context, chromium, live, page, site  # noqa: F401  (fixtures)
from tests.oauth_helpers import OAuthClient, create_client
from tests.oidc.steps import App, Browser, register_app


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[str]:
    url = os.environ.get("OUTTER_DATABASE_URL")
    if not url:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'outter_auth_test.db'}"
    elif worker_id == "master" or make_url(url).get_backend_name() != "postgresql":
        yield url
    else:
        # pytest-xdist (setup.cfg: -n auto): every worker migrates its database and empties it
        # after each test, so each gets a database of its own next to the one named.
        with worker_database(url, worker_id) as own:
            yield own


@contextmanager
def worker_database(url: str, worker_id: str) -> Iterator[str]:
    base = make_url(url)
    own = base.set(database=f"{base.database}_{worker_id}")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    drop = text(f'DROP DATABASE IF EXISTS "{own.database}" WITH (FORCE)')
    try:
        with admin.connect() as connection:
            connection.execute(drop)
            connection.execute(text(f'CREATE DATABASE "{own.database}"'))
        yield own.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(drop)
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def scanner_keys_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A secret scanner's public keys (GitHub's document), so that the test app takes leak
    reports and the attack and fuzz suites reach the endpoint. Nobody holds the private
    key: reports sent to the test app are refused for their signature
    (tests/api/test_leak_reports.py signs its own, with apps of its own)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("scanner") / "secret_scanning.json"
    document = {"public_keys": [{"key_identifier": "test-scanner", "key": pem.decode(), "is_current": True}]}
    path.write_text(json.dumps(document))
    return path


@pytest.fixture(scope="session")
def base_config(database_url: str, keys_dir: Path, scanner_keys_file: Path) -> dict[str, object]:
    return {
        "env": "testing",
        "database_url": database_url,
        "keys_dir": str(keys_dir),
        "issuer": "https://auth.outter.test",
        "bcrypt_rounds": 4,
        "secret_scanning_keys_file": str(scanner_keys_file),
    }


@pytest.fixture(scope="session")
def app(base_config: dict[str, object]) -> Iterator[Flask]:
    app = create_app(base_config)
    with app.app_context():
        flask_migrate.upgrade()
    yield app
    with app.app_context():
        flask_migrate.downgrade(revision="base")
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    clock.unfreeze()
    if "app" in request.fixturenames:
        app: Flask = request.getfixturevalue("app")
        with app.app_context():
            _delete_all_rows()


def _delete_all_rows() -> None:
    db.session.rollback()
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
    else:
        for table in tables:
            db.session.execute(text(f"DELETE FROM {table}"))
    db.session.commit()


@pytest.fixture
def make_app(app: Flask, base_config: dict[str, object]) -> Iterator[Callable[..., Flask]]:
    """``make_app(**settings)``: another app on the test database, with ``settings`` over the
    test configuration; closed after the test (rows are cleaned as for ``app``)."""
    with ExitStack() as stack:
        yield lambda **settings: stack.enter_context(extra_app({**base_config, **settings}))


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    """An app context for calling services directly."""
    with app.app_context():
        yield


@pytest.fixture
def make(app: Flask) -> factories.Factory:
    return factories.Factory(app)


@pytest.fixture
def owner(make: factories.Factory) -> factories.Actor:
    """An owner of tenant ``acme``, logged in."""
    return make.actor("acme", "owner@acme.test", "owner")


@pytest.fixture
def other_owner(make: factories.Factory) -> factories.Actor:
    """An owner of another tenant, ``globex``: its ids must be invisible to ``acme``."""
    return make.actor("globex", "owner@globex.test", "owner")


@pytest.fixture
def admin(make: factories.Factory) -> factories.Actor:
    """An admin of tenant ``acme``, logged in."""
    return make.actor("acme", "admin@acme.test", "admin")


@pytest.fixture
def member(make: factories.Factory) -> factories.Actor:
    """A plain member of tenant ``acme``, logged in."""
    return make.actor("acme", "max@acme.test", "member")


# --- OAuth clients of acme (and one of globex), made by the operator's CLI -----------------


@pytest.fixture
def machine(app: Flask, owner: factories.Actor) -> OAuthClient:
    """acme's confidential machine client: client_credentials only (the usual introspection
    and revocation caller)."""
    return create_client(app, "Billing", "client_credentials", scope="users:read content:generate")


@pytest.fixture
def web_app(app: Flask, owner: factories.Actor) -> OAuthClient:
    """acme's own confidential first-party app: password and refresh_token."""
    return create_client(app, "Acme web", "password", "refresh_token", scope="users:read users:write", first_party=True)


@pytest.fixture
def mobile(app: Flask, owner: factories.Actor) -> OAuthClient:
    """acme's own public first-party app (no secret): password and refresh_token."""
    return create_client(app, "Acme mobile", "password", "refresh_token", first_party=True, public=True)


@pytest.fixture
def globex_machine(app: Flask, other_owner: factories.Actor) -> OAuthClient:
    """globex's confidential machine client: its tokens and questions are another tenant's."""
    return create_client(app, "Globex billing", "client_credentials", tenant="globex", scope="users:read")


# -- browser sign-in (SPEC §11): tests/oidc and tests/attacks -------------------------------


@pytest.fixture
def ada(make: factories.Factory) -> str:
    """A member of acme."""
    return make.user("acme", "ada@acme.test", "member")


@pytest.fixture
def third_party(app: Flask, make: factories.Factory) -> App:
    """A confidential client of acme that is not first-party (consent is asked)."""
    make.tenant("acme")
    return register_app(app)


@pytest.fixture
def browser(app: Flask) -> Browser:
    """Flask's test client as a browser (tests/oidc/steps.py)."""
    return Browser(app.test_client())
