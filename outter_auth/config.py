"""Settings: the only module that reads the environment.

Every setting has a default that works for a local run; ``production`` refuses
unsafe defaults with a one-line reason (:class:`ConfigError`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENVIRONMENTS = ("development", "production", "testing")
DEFAULT_SECRET_KEY = "dev-secret-key-change-me"
DEFAULT_API_KEY_PEPPER = ""  # empty: plain SHA-256 digests (allowed outside production)
MIN_SECRET_LENGTH = 32  # e.g. secrets.token_urlsafe(32) gives 43


class ConfigError(Exception):
    """A setting is missing, malformed or unsafe; the message is one line."""


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    database_url: str = ""
    issuer: str = ""
    audience: str = "outter-api"
    keys_dir: str = "keys"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 30 * 24 * 3600
    # Not in SPEC §9's list: a session unused this long ends (its refresh token stops working).
    session_idle_timeout: int = 7 * 24 * 3600
    bcrypt_rounds: int = 12
    api_key_pepper: str = DEFAULT_API_KEY_PEPPER
    # Not in SPEC §9's list: peppers retired by a pepper rotation, still accepted for
    # verification (keys are re-digested with the current pepper when next used).
    api_key_old_peppers: tuple[str, ...] = ()
    api_key_cache_ttl: int = 5
    # SPEC §7 "Outages": while the database is unreachable, a key verified within this many
    # seconds keeps verifying from the cache (stale-if-error); 0 turns it off.
    api_key_stale_ttl: int = 600
    jwks_max_age: int = 300
    scopes: tuple[str, ...] = ()
    secret_key: str = DEFAULT_SECRET_KEY
    redis_url: str = ""
    first_party_client_id: str = "outter-app"
    # SPEC §11: where the built-in first-party client may be sent back with a code (space separated).
    first_party_redirect_uris: tuple[str, ...] = ()
    # SPEC §11: how long a browser stays signed in (single sign-on), seconds.
    browser_session_ttl: int = 12 * 3600
    # Not in SPEC §9's list: seconds a client_credentials token is handed out again to the
    # same client for the same scopes (0: a new signature every time). See services/client_tokens.py.
    client_token_reuse: int = 0
    # Not in SPEC §9's list: days audit events are kept by `outter-auth audit prune`.
    audit_retention_days: int = 365
    # Not in SPEC §9's list: how far token clocks may drift (RFC 7519 §4.1.4 "leeway").
    jwt_leeway: int = 30
    # Not in SPEC §9's list, all from issue 6 (hardening). Rate limits are ``limits``
    # strings ("10/minute;100/hour"); OUTTER_RATE_LIMITS=false turns them all off.
    rate_limits: bool = True
    # Login and token budgets count failed guesses only (see rate_limits.py). Every request
    # reads each window of its endpoint's budgets once: the token endpoint, which is not
    # bcrypt-bound, keeps one window per budget.
    rate_limit_login_ip: str = "30/minute;300/hour"  # wrong passwords per client IP
    rate_limit_login_account: str = "10/minute;100/hour"  # wrong passwords per email
    rate_limit_token_ip: str = "60/minute"  # wrong passwords, secrets, grants per client IP
    rate_limit_token_account: str = "10/minute;100/hour"  # wrong passwords per username (password grant)
    # Refused keys/tokens per IP on verify and check: a flood guard (keys cannot be guessed),
    # generous because a gateway without OUTTER_TRUSTED_PROXIES is one address for everybody.
    rate_limit_refusals_ip: str = "600/minute"
    # Per-IP budgets count an IPv6 address as its network of this prefix length: one
    # subscriber usually holds a whole /64.
    rate_limit_ipv6_prefix: int = 64
    # Failed logins of one email from one client address (IPv6: its rate_limit_ipv6_prefix
    # network) before that address is locked out of it; 0 disables lockout. The lock lasts
    # lockout_base_seconds, doubling with every further failure, up to the maximum.
    lockout_threshold: int = 10  # the usual default (Auth0, Okta and Entra ID use 10)
    # Failed logins of one email from all addresses together before it locks for everybody
    # (credential stuffing from many addresses); 0: no account-wide lock. High enough that
    # nobody mistyping reaches it: a stranger's failures below it never lock the owner out.
    lockout_account_threshold: int = 100
    lockout_base_seconds: int = 60
    lockout_max_seconds: int = 3600
    # Proxies in front of us that set X-Forwarded-For/-Proto (werkzeug's ProxyFix);
    # 0 trusts none, so client IPs come from the socket.
    trusted_proxies: int = 0
    # Browser origins allowed to call the API (CORS); empty: CORS is off.
    cors_origins: tuple[str, ...] = ()
    # Request logs: "json" (one JSON object per line) or "text".
    log_format: str = "json"
    # Prometheus metrics at GET /metrics (SPEC §13); a Bearer token guards them when set.
    metrics: bool = False
    metrics_token: str = ""
    # SPEC §14: GitHub's secret scanning public keys ({"public_keys": [...]}, PEM), which sign
    # leak reports; empty (or no such file): POST /api/auth/api-keys/leaks answers 404. A
    # relative path is resolved where a relative OUTTER_KEYS_DIR is.
    secret_scanning_keys_file: str = ""
    # False when OUTTER_ISSUER was not given and the local default is in use.
    issuer_explicit: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_testing(self) -> bool:
        return self.env == "testing"

    @property
    def console_redirect_uri(self) -> str:
        """Where the console (SPEC §12, a first-party client) gets its sign-in back."""
        return f"{self.issuer}/console/signed-in"

    @property
    def first_party_browser_redirect_uris(self) -> tuple[str, ...]:
        """The built-in client's redirect URIs: the operator's, and the console's own."""
        return (*self.first_party_redirect_uris, self.console_redirect_uri)

    @property
    def https(self) -> bool:
        """Served over https (the issuer says so): browser cookies are then ``Secure`` and ``__Host-``."""
        return self.issuer.startswith("https://")

    def check_production(self) -> None:
        """Refuse the unsafe defaults that are fine on a laptop."""
        if not self.is_production:
            return
        if not self.issuer_explicit:
            raise ConfigError("OUTTER_ISSUER must be set in production")
        for name, value, default in (
            ("OUTTER_SECRET_KEY", self.secret_key, DEFAULT_SECRET_KEY),
            ("OUTTER_API_KEY_PEPPER", self.api_key_pepper, DEFAULT_API_KEY_PEPPER),
        ):
            if not value or value == default:
                raise ConfigError(f"{name} must be set to a non-default value in production")
            if len(value) < MIN_SECRET_LENGTH:
                raise ConfigError(f"{name} must be at least {MIN_SECRET_LENGTH} characters in production")
        if self.database_url.startswith("sqlite"):
            log.warning("production is running on SQLite; use PostgreSQL (OUTTER_DATABASE_URL)")
        if self.metrics and not self.metrics_token:
            log.warning("/metrics is open to anybody who can reach it: set OUTTER_METRICS_TOKEN")

    def unshared_state_warning(self, workers: int) -> str | None:
        """Why ``workers`` processes without Redis misbehave in production, or None if they do not.

        Without ``OUTTER_REDIS_URL`` rate-limit counters live in each worker (a budget is
        multiplied by the worker count) and a revoked key or client is dropped only by the
        worker that revoked it, the others serving it from cache until the TTL ends.
        """
        if not self.is_production or self.redis_url or workers <= 1:
            return None
        return (
            f"OUTTER_REDIS_URL is empty with {workers} workers: rate limits count per worker and other workers "
            f"see a revoked API key or client only after OUTTER_API_KEY_CACHE_TTL ({self.api_key_cache_ttl} s); "
            "set OUTTER_REDIS_URL"
        )


_INT_FIELDS = {
    "access_token_ttl": (1, None),
    "refresh_token_ttl": (1, None),
    "session_idle_timeout": (1, None),
    "browser_session_ttl": (60, 30 * 24 * 3600),
    "bcrypt_rounds": (4, 31),
    "api_key_cache_ttl": (0, None),
    "api_key_stale_ttl": (0, 86400),
    "jwks_max_age": (0, None),
    "jwt_leeway": (0, 30),
    "client_token_reuse": (0, 300),
    "audit_retention_days": (1, None),
    "lockout_threshold": (0, None),
    "lockout_account_threshold": (0, None),
    "lockout_base_seconds": (1, None),
    "lockout_max_seconds": (1, None),
    "trusted_proxies": (0, 10),
    "rate_limit_ipv6_prefix": (32, 128),
}
_RATE_LIMIT_FIELDS = (
    "rate_limit_login_ip",
    "rate_limit_login_account",
    "rate_limit_token_ip",
    "rate_limit_token_account",
    "rate_limit_refusals_ip",
)
LOG_FORMATS = ("json", "text")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _parse_int(name: str, raw: str | int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigError(f"OUTTER_{name.upper()} must be an integer, got {raw!r}") from None
    low, high = _INT_FIELDS[name]
    if value < low or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"OUTTER_{name.upper()} must be {bounds}, got {value}")
    return value


def _parse_bool(name: str, raw: str | bool) -> bool:
    if isinstance(raw, bool):
        return raw
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise ConfigError(f"OUTTER_{name.upper()} must be true or false, got {raw!r}")


def _parse_rate_limit(name: str, raw: str) -> str:
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise ConfigError(f"OUTTER_{name.upper()} is not a rate limit like '10/minute;100/hour', got {raw!r}") from None
    return raw


def _parse_origins(raw: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    for origin in items:
        if origin != "*" and not origin.startswith(("https://", "http://")):
            raise ConfigError(f"OUTTER_CORS_ORIGINS holds origins like https://app.example.com, got {origin!r}")
    return tuple(origin.rstrip("/") for origin in dict.fromkeys(items))


def _parse_scopes(raw: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    items = raw.replace(",", " ").split() if isinstance(raw, str) else list(raw)
    return tuple(dict.fromkeys(items))


def _parse_redirect_uris(raw: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    from outter_auth.services.redirect_uris import InvalidRedirectUri, check_redirect_uri

    items = raw.split() if isinstance(raw, str) else list(raw)
    for uri in items:
        try:
            check_redirect_uri(uri)
        except InvalidRedirectUri as error:
            raise ConfigError(f"OUTTER_FIRST_PARTY_REDIRECT_URIS: {error}") from None
    return tuple(dict.fromkeys(items))


def _parse_choice(choices: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(name: str, raw: Any) -> str:
        if raw not in choices:
            raise ConfigError(f"OUTTER_{name.upper()} must be one of {', '.join(choices)}, got {raw!r}")
        return str(raw)

    return parse


def _parse_list(name: str, raw: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(p for p in (raw.split(",") if isinstance(raw, str) else raw) if p)


# How each setting that is not a plain string is read; the rest are taken as given.
_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "env": _parse_choice(ENVIRONMENTS),
    "log_format": _parse_choice(LOG_FORMATS),
    **{name: _parse_int for name in _INT_FIELDS},
    **{name: _parse_rate_limit for name in _RATE_LIMIT_FIELDS},
    "scopes": lambda name, raw: _parse_scopes(raw),
    "cors_origins": lambda name, raw: _parse_origins(raw),
    "first_party_redirect_uris": lambda name, raw: _parse_redirect_uris(raw),
    "rate_limits": _parse_bool,
    "metrics": _parse_bool,
    "api_key_old_peppers": _parse_list,
}
# The test suite logs in hundreds of times from one address: brute-force protection is
# off there unless a test turns it on (tests/api/test_rate_limits.py, test_lockout.py), and
# bcrypt is as cheap as it goes.
_TESTING_DEFAULTS = {"rate_limits": False, "lockout_threshold": 0, "bcrypt_rounds": 4}


def require_explicit_env(environ: Mapping[str, str] | None = None) -> None:
    """Refuse to serve through the WSGI entry point without ``OUTTER_ENV`` (SPEC §9).

    A missing ``OUTTER_ENV`` means development: an empty pepper, a self-made signing key and
    a localhost issuer, in what the operator believes is production. ``outter-auth`` and the
    test suite keep their defaults; only a WSGI server must be told.
    """
    environ = os.environ if environ is None else environ
    if not environ.get("OUTTER_ENV"):
        raise ConfigError(f"OUTTER_ENV must be set to one of {', '.join(ENVIRONMENTS)} to serve through WSGI")


def source_checkout() -> Path | None:
    """The project root when running from a source checkout (``pip install -e .``), else None.

    An installed package lives in site-packages, next to nothing of ours; a checkout has
    ``setup.py`` beside the package, as ``migrations_dir()`` in app.py also relies on.
    """
    root = Path(__file__).resolve().parent.parent
    return root if (root / "setup.py").is_file() and (root / "migrations").is_dir() else None


def keys_anchor(instance_path: str | os.PathLike[str]) -> Path:
    """Where a relative ``OUTTER_KEYS_DIR`` is resolved: one fixed place, never the cwd (SPEC §9).

    The project root of a source checkout (the README's ``keys/``), else Flask's instance
    folder (an installed package has no project root). Resolving against the current
    directory made ``outter-auth keys list`` run from another folder find no key there.
    """
    return source_checkout() or Path(instance_path).resolve()


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    instance_path: str | os.PathLike[str] = "instance",
) -> Settings:
    """Build :class:`Settings` from ``OUTTER_*`` variables, then ``overrides``.

    ``overrides`` use the field names (``{"env": "testing", "database_url": ...}``)
    and win over the environment; tests pass them to ``create_app``.
    """
    raw = _given(overrides or {}, os.environ if environ is None else environ)
    if raw.get("env") == "testing":
        raw = {**_TESTING_DEFAULTS, **raw}
    for name, parse in _PARSERS.items():
        if name in raw:
            raw[name] = parse(name, raw[name])
    _derive(raw, Path(instance_path))
    base, longest = raw.get("lockout_base_seconds", 60), raw.get("lockout_max_seconds", 3600)
    if longest < base:
        raise ConfigError(f"OUTTER_LOCKOUT_MAX_SECONDS ({longest}) must be >= OUTTER_LOCKOUT_BASE_SECONDS ({base})")
    pair, account = raw.get("lockout_threshold", 10), raw.get("lockout_account_threshold", 100)
    if pair and account and account < pair:
        raise ConfigError(
            f"OUTTER_LOCKOUT_ACCOUNT_THRESHOLD ({account}) must be >= OUTTER_LOCKOUT_THRESHOLD ({pair}), or 0"
        )
    return Settings(**raw)


def _given(overrides: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    """The settings given, by field name: non-empty ``OUTTER_*`` variables, then overrides."""
    known = {f.name for f in fields(Settings)} - {"issuer_explicit"}
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    raw: dict[str, Any] = {
        name: environ[f"OUTTER_{name.upper()}"] for name in known if environ.get(f"OUTTER_{name.upper()}")
    }
    raw.update(overrides)
    return raw


def _derive(raw: dict[str, Any], instance_path: Path) -> None:
    """Settings whose defaults depend on where we run, or on other settings."""
    if not raw.get("database_url"):
        raw["database_url"] = f"sqlite:///{instance_path.resolve() / 'outter_auth.db'}"
    raw["issuer_explicit"] = bool(raw.get("issuer"))
    raw["issuer"] = str(raw.get("issuer") or "http://localhost:5000").rstrip("/")
    raw["keys_dir"] = str((keys_anchor(instance_path) / (raw.get("keys_dir") or "keys")).resolve())
    if raw.get("secret_scanning_keys_file"):
        scanner_keys = keys_anchor(instance_path) / raw["secret_scanning_keys_file"]
        raw["secret_scanning_keys_file"] = str(scanner_keys.resolve())
