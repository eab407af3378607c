"""The application factory: config → extensions → blueprints → error handlers → CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from outter_auth import __version__, outages
from outter_auth.config import ConfigError, Settings, load_settings
from outter_auth.cors import init_cors
from outter_auth.extensions import api, db, migrate
from outter_auth.metrics import init_metrics
from outter_auth.rate_limits import init_rate_limits, key_limiter
from outter_auth.request_log import init_request_logging
from outter_auth.runtime import Runtime
from outter_auth.services import sessions
from outter_auth.services.api_keys import Peppers, find_by_raw
from outter_auth.services.cache import GuardedCache, StalePolicy
from outter_auth.services.changes import tag
from outter_auth.services.client_tokens import ClientTokenReuse, RevokedTokens
from outter_auth.services.clients import ClientInfo
from outter_auth.services.digests import secret_digest
from outter_auth.services.gateway_tokens import VerifiedTokens
from outter_auth.services.invalidation import InvalidationBus
from outter_auth.services.issuance import TokenIssuer
from outter_auth.services.key_cache import KeySnapshot, KeyVerifier
from outter_auth.services.key_usage import KeyUsageRecorder, UsageBatch, write_usage
from outter_auth.services.leaks import ScannerKeys
from outter_auth.services.lockout import LockoutPolicy
from outter_auth.services.signing_keys import KeyStore
from outter_auth.services.token_state import TokenState
from outter_auth.services.tokens import TokenSettings

log = logging.getLogger(__name__)


def migrations_dir() -> str:
    """``migrations/`` of a source checkout, or the copy ``pip install .`` packs in."""
    source = Path(__file__).resolve().parent.parent / "migrations"
    return str(source if source.is_dir() else Path(__file__).resolve().parent / "_migrations")


def create_app(config: Mapping[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """Build the app. ``config`` overrides settings by field name (see ``config.Settings``).

    ``serving=False`` is for the CLI: it may run before any signing key exists
    (``keys generate``, ``db upgrade``), so the key is neither demanded nor, outside
    production, generated then: only a server's first start makes a development key
    (``outter-auth run`` builds its app with ``serving=True``), so a command run with
    another keys dir cannot leave a second key behind.
    """
    app = Flask("outter_auth", instance_relative_config=True)
    settings = load_settings(config, instance_path=app.instance_path)
    settings.check_production()
    _configure_flask(app, settings)
    if settings.trusted_proxies:
        # Client IPs (rate limits, audit) and https (HSTS) as the trusted proxies saw them.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n)  # type: ignore[method-assign]

    app.extensions["outter_auth"] = _runtime(app, settings)
    _ensure_signing_key(settings, app.extensions["outter_auth"].keystore, serving)

    db.init_app(app)
    migrate.init_app(app, db, directory=migrations_dir())
    _register_api(app)
    init_request_logging(app, settings)
    init_metrics(app, settings)
    init_cors(app, settings)
    app.extensions["outter_auth"].rate_limits = init_rate_limits(app, settings)

    from outter_auth.cli import register_cli
    from outter_auth.errors import register_error_handlers

    register_error_handlers(app)
    register_cli(app)
    if settings.env == "development" and serving:
        _hint_first_steps(app)
    return app


def _hint_first_steps(app: Flask) -> None:
    """On a laptop, say what to do next when the database is new (development only)."""
    from sqlalchemy import inspect, select

    from outter_auth.models import User

    with app.app_context():
        try:
            if not inspect(db.engine).has_table(User.__tablename__):
                log.warning("the database has no tables yet: run `outter-auth db upgrade`")
            elif db.session.scalar(select(User.id).limit(1)) is None:
                log.warning(
                    "no users yet: create the first owner with `outter-auth tenants create SLUG` and "
                    "`outter-auth users create EMAIL --tenant SLUG --role owner`"
                )
        except SQLAlchemyError as error:
            log.warning("database not reachable at start-up: %s", type(error).__name__)


# The database is unreachable: what a cache may then answer from entries past their TTL.
DATABASE_DOWN = (OperationalError, InterfaceError)


def _runtime(app: Flask, settings: Settings) -> Runtime:
    keystore = KeyStore(settings.keys_dir, timedelta(seconds=settings.access_token_ttl + settings.jwt_leeway))
    token_settings = TokenSettings(
        issuer=settings.issuer, audience=settings.audience, ttl=settings.access_token_ttl, leeway=settings.jwt_leeway
    )
    peppers = Peppers(settings.api_key_pepper, settings.api_key_old_peppers, naming_key=settings.secret_key)
    key_usage = KeyUsageRecorder(partial(_write_usage, app), background=not settings.is_testing)
    ttl = settings.api_key_cache_ttl
    stale = StalePolicy(settings.api_key_stale_ttl, DATABASE_DOWN, outages.database_failed)
    lifetime = settings.access_token_ttl + settings.jwt_leeway
    revoked_tokens = RevokedTokens(settings.redis_url, lifetime) if settings.redis_url else None
    client_tokens = ClientTokenReuse(settings.client_token_reuse, revoked_tokens)
    return Runtime(
        settings=settings,
        keystore=keystore,
        token_settings=token_settings,
        peppers=peppers,
        key_usage=key_usage,
        key_verifier=KeyVerifier(peppers, ttl, partial(_load_api_key, peppers, key_usage), stale=stale),
        key_limiter=key_limiter(settings),
        clients=GuardedCache(ttl, 10_000, _client_tags, stale=stale),
        client_tokens=client_tokens,
        issuer=TokenIssuer(keystore, token_settings, client_tokens),
        token_state=TokenState(ttl, _session_member, _is_revoked, stale=stale),
        verified_tokens=VerifiedTokens(token_settings),
        invalidation=InvalidationBus(settings.redis_url, _forget_in(app), _forget_all_in(app)),
        lockout=LockoutPolicy(
            settings.lockout_threshold,
            settings.lockout_base_seconds,
            settings.lockout_max_seconds,
            account_threshold=settings.lockout_account_threshold,
            ipv6_prefix=settings.rate_limit_ipv6_prefix,
        ),
        scanner_keys=ScannerKeys(settings.secret_scanning_keys_file) if settings.secret_scanning_keys_file else None,
        revoked_tokens=revoked_tokens,
    )


def _client_tags(client_id: str, info: ClientInfo | None) -> tuple[str, ...]:
    return (tag("client", client_id),)


def _forget_in(app: Flask) -> Callable[[str], None]:
    return lambda changed: app.extensions["outter_auth"].forget(changed)


def _forget_all_in(app: Flask) -> Callable[[], None]:
    return lambda: app.extensions["outter_auth"].forget_all()


def _load_api_key(peppers: Peppers, key_usage: KeyUsageRecorder, raw: str) -> KeySnapshot | None:
    found = find_by_raw(db.session, raw, peppers)
    if found is None:
        return None
    if found.stale_digest:  # written off the request path: the gateway's miss path reads only
        key_usage.redigest(found.key.id, secret_digest(raw, peppers.current), peppers.current_id)
    return KeySnapshot.of(found.key)


def _session_member(session_id: str, user_id: str, tenant_id: str) -> tuple[str, str] | None:
    return sessions.session_member(db.session, session_id, user_id, tenant_id)


def _is_revoked(jti: str) -> bool:
    return sessions.is_access_token_revoked(db.session, jti)


def _write_usage(app: Flask, batch: UsageBatch) -> None:
    with app.app_context():
        write_usage(db.session, batch)


def _configure_flask(app: Flask, settings: Settings) -> None:
    from outter_auth.api.docs import ASSETS_URL

    if settings.database_url.startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.is_testing,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        MAX_CONTENT_LENGTH=64 * 1024,
        API_TITLE="Outter Auth",
        API_VERSION=__version__,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL=ASSETS_URL,
        # Swagger UI would send the document's URL to validator.swagger.io on a non-local host.
        OPENAPI_SWAGGER_UI_CONFIG={"validatorUrl": None},
        # Flask's own session cookie holds only the pages' CSRF token (Flask-WTF); the sign-in
        # itself is the browser-session cookie (pages/browser.py). Same rules for both.
        SESSION_COOKIE_NAME="__Host-outter_csrf" if settings.https else "outter_csrf",
        SESSION_COOKIE_SECURE=settings.https,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        WTF_CSRF_TIME_LIMIT=3600,
    )


def _ensure_signing_key(settings: Settings, keystore: KeyStore, serving: bool) -> None:
    if keystore.ring().active_key() is not None:
        return
    if not serving:
        return
    if settings.is_production:
        raise ConfigError(f"no active signing key in {settings.keys_dir}: run `outter-auth keys generate`")
    record = keystore.generate(only_if_none_active=True)
    if record is not None:
        log.warning("generated a development signing key kid=%s in %s", record.kid, settings.keys_dir)


def _register_api(app: Flask) -> None:
    from outter_auth.api import (
        api_keys,
        audit,
        clients,
        consents,
        docs,
        gateway,
        health,
        leak_reports,
        oauth,
        projects,
        sessions,
        tenant,
        users,
        wellknown,
    )
    from outter_auth.api.converters import IdConverter, id_schema
    from outter_auth.auth import API_KEY_SECURITY, BEARER_SECURITY
    from outter_auth.console.routes import blp as console
    from outter_auth.oauth import config_oauth
    from outter_auth.pages.views import blp as pages
    from outter_auth.scopes import MANAGEMENT_SCOPE_DESCRIPTIONS, OIDC_SCOPE_DESCRIPTIONS

    app.url_map.converters["id"] = IdConverter
    api.init_app(app)
    api.register_converter(IdConverter, id_schema)
    api.spec.components.security_scheme(BEARER_SECURITY, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    api.spec.components.security_scheme(API_KEY_SECURITY, {"type": "apiKey", "in": "header", "name": "X-API-Key"})
    api.spec.components.security_scheme("clientBasic", {"type": "http", "scheme": "basic"})
    # Where bearer tokens come from (RFC 6749 at /oauth/token), with the scopes of SPEC §3.
    flow = {"tokenUrl": "/oauth/token", "scopes": MANAGEMENT_SCOPE_DESCRIPTIONS}
    browser = {
        "authorizationUrl": "/oauth/authorize",
        "tokenUrl": "/oauth/token",
        "scopes": {**OIDC_SCOPE_DESCRIPTIONS, **MANAGEMENT_SCOPE_DESCRIPTIONS},
    }
    oauth2 = {"type": "oauth2", "flows": {"authorizationCode": browser, "clientCredentials": flow, "password": flow}}
    api.spec.components.security_scheme("oauth2", oauth2)
    config_oauth(app)
    app.register_blueprint(docs.blp)
    app.register_blueprint(pages)
    app.register_blueprint(console)
    modules = (
        health,
        wellknown,
        gateway,
        leak_reports,
        oauth,
        sessions,
        consents,
        tenant,
        projects,
        users,
        clients,
        api_keys,
        audit,
    )
    for module in modules:
        api.register_blueprint(module.blp)
