"""Brute-force protection with Flask-Limiter (issue 6).

Three budgets, all configurable (``OUTTER_RATE_LIMIT_*``, see ``config.Settings``):

- login and ``/oauth/token``: failed *guesses* count against the caller's IP (a
  wrong password, a wrong client secret, a refresh token or code that does not
  hold), and wrong passwords also against the account they named (an email, or the
  password grant's username) *from that address*, so one address cannot spray many
  accounts nor hammer one. The budget is the (account, address) pair's, as the
  lockout's is (``services/lockout.py``): a budget of the account alone would let
  anybody who knows an email make its owner wait. Many addresses hammering one
  account meet the lockout's account-wide budget instead. Only guesses count, as
  in Auth0's and Keycloak's brute-force protection: a busy address that logs in
  correctly is never slowed down, and a request refused for its shape (a bad grant
  type, a bad scope) spends nothing. Client secrets and refresh tokens (256 random
  bits) cannot be guessed, so they get no per-account budget: it would only let
  anybody who knows a client id lock that client, or all users of the shared
  first-party client, out;
- ``verify`` and ``check``: only *refusals* count, per IP. A valid key never touches
  the limiter, so the hot path pays nothing (no storage round trip) for it; a flood
  of bad keys from one address turns into 429s.

Counters live in Redis when ``OUTTER_REDIS_URL`` is set (shared by every worker and
instance), in process memory otherwise. Fixed windows, the cheapest strategy ``limits``
has: one read per window before the view, one ``INCR`` per counted failure. If Redis
fails, limits fail open and say so in the log: an outage of the counter store must not
lock everybody out.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string

from outter_auth.api.base import json_body
from outter_auth.config import Settings
from outter_auth.services.addresses import address_bucket
from outter_auth.services.key_limits import FailOpen, KeyLimiter
from outter_auth.services.lockout import account_key
from outter_auth.services.users import normalize_email

log = logging.getLogger(__name__)

LOGIN_ENDPOINT = "sessions.Login"
SIGN_IN_PAGE_ENDPOINT = "pages.sign_in"  # the hosted login page's POST: the same budgets as login
TOKEN_ENDPOINT = "oauth.TokenEndpoint"
LIMITED_ENDPOINTS = frozenset({LOGIN_ENDPOINT, SIGN_IN_PAGE_ENDPOINT, TOKEN_ENDPOINT})
KEY_PREFIX = "outter-auth"
_EXTENSION = "outter_auth.rate_limits.ipv6_prefix"


def client_ip() -> str:
    """The caller's budget key: its address (behind ``OUTTER_TRUSTED_PROXIES`` proxies,
    ProxyFix's answer), an IPv6 address as its network (see :func:`address_bucket`)."""
    prefix = current_app.extensions[_EXTENSION]
    return address_bucket(request.remote_addr or "unknown", prefix)


def _account(email: str) -> str:
    # Emails are not secrets, but they need not sit in Redis either: the lockout's digest.
    # With the caller's address: the pair, never the account alone (see the module's docstring).
    return f"account:{account_key(normalize_email(email))}:{client_ip()}"


def login_account() -> str:
    body = json_body()
    email = body.get("email") if isinstance(body, dict) else None
    return _account(email) if isinstance(email, str) else "account:-"


def sign_in_page_account() -> str:
    email = request.form.get("email")
    return _account(email) if email else "account:-"


def _sign_in_page_failed(response: Response) -> bool:
    from outter_auth.pages.views import password_failed

    return password_failed()  # a wrong email or password, nothing else


def _is_password_grant() -> bool:
    return request.form.get("grant_type") == "password"


def token_account() -> str:
    """The password grant's username: the only guessable secret ``/oauth/token`` takes."""
    username = request.form.get("username")
    return _account(username) if username else "account:-"


def _login_failed(response: Response) -> bool:
    return response.status_code == 401  # a wrong email or password, nothing else


def _oauth_error(response: Response) -> str | None:
    if response.status_code not in (400, 401):
        return None
    body = response.get_json(silent=True)
    return body.get("error") if isinstance(body, dict) else None


def _token_guess_failed(response: Response) -> bool:
    """A wrong password, client secret, refresh token or code (RFC 6749 §5.2)."""
    return _oauth_error(response) in ("invalid_grant", "invalid_client")


def _wrong_password_grant(response: Response) -> bool:
    """A wrong password for the username ``token_account`` named."""
    return _is_password_grant() and _oauth_error(response) == "invalid_grant"


class RefusalBudget:
    """Refused keys and tokens per IP on the gateway endpoints.

    ``spend()`` is called only once a request is already refused; it answers the
    seconds to wait when the address is over its budget, else ``None``. Once an
    address is over, this process remembers it until the window ends and answers
    from memory: a flood of bad keys costs one storage round trip per process and
    window, not one per request.
    """

    MAX_REMEMBERED = 10_000

    def __init__(self, limiter: Limiter, limits: list[RateLimitItem]) -> None:
        self._limiter = limiter
        self._limits = limits
        self._over_until: dict[str, float] = {}  # ip -> end of its window (time.time())
        self._lock = threading.Lock()
        self._failures = FailOpen("not counting refusals")

    def spend(self) -> int | None:
        ip = client_ip()
        now = time.time()
        until = self._over_until.get(ip)
        if until is not None and until > now:
            return max(1, math.ceil(until - now))
        try:
            strategy = self._limiter.limiter
            over = [item for item in self._limits if not strategy.hit(item, KEY_PREFIX, "refusals", ip)]
            if not over:
                return None
            until = max(strategy.get_window_stats(item, KEY_PREFIX, "refusals", ip).reset_time for item in over)
        except Exception as error:  # noqa: BLE001 - any storage failure: fail open, loudly
            self._failures.failed(error)
            return None
        self._remember(ip, until, now)
        return max(1, math.ceil(until - now))

    def _remember(self, ip: str, until: float, now: float) -> None:
        with self._lock:
            if len(self._over_until) >= self.MAX_REMEMBERED:
                self._over_until = {k: v for k, v in self._over_until.items() if v > now}
            if len(self._over_until) < self.MAX_REMEMBERED:
                self._over_until[ip] = until


class RateLimits:
    """The app's limiter and its gateway refusal budget (``None`` when limits are off)."""

    def __init__(self, limiter: Limiter, refusals: RefusalBudget) -> None:
        self.limiter = limiter
        self.refusals = refusals

    def retry_after(self) -> int:
        """Seconds until the limit that refused the current request lets it through."""
        breached = self.limiter.current_limit
        if breached is None:
            return 1
        try:
            reset = breached.window.reset_time  # one more read of the counter store
        except Exception:  # noqa: BLE001 - the store just failed: a 429 still beats a 500
            return int(breached.limit.get_expiry())
        return max(1, math.ceil(reset - time.time()))


def counter_store(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Where counters live (a ``limits`` storage URI and its options): Redis when
    ``OUTTER_REDIS_URL`` is set, with short timeouts so that a Redis in trouble fails
    open quickly; process memory otherwise."""
    if settings.redis_url:
        return settings.redis_url, {"socket_timeout": 1, "socket_connect_timeout": 1}
    return "memory://", {}


def key_limiter(settings: Settings) -> KeyLimiter:
    """The per-key limiter (SPEC §14), on the same counter store as the limits here. It
    is on whatever ``OUTTER_RATE_LIMITS`` says: that switch is for brute-force protection,
    a key's own limit is its owner's decision."""
    uri, options = counter_store(settings)
    return KeyLimiter(storage_from_string(uri, **options))


def init_rate_limits(app: Flask, settings: Settings) -> RateLimits | None:
    app.extensions[_EXTENSION] = settings.rate_limit_ipv6_prefix
    if not settings.rate_limits:
        return None
    storage_uri, storage_options = counter_store(settings)
    limiter = Limiter(
        client_ip,
        app=app,
        storage_uri=storage_uri,
        storage_options=storage_options,
        strategy="fixed-window",
        key_prefix=KEY_PREFIX,
        headers_enabled=False,  # Retry-After is set on the 429 itself (errors.py)
        swallow_errors=True,  # a dead Redis lets requests through rather than failing them
    )
    # Only login and the token endpoint carry limits, and theirs are checked by the wrapper
    # _limit() puts around those two views; the gateway endpoints count refusals themselves
    # (RefusalBudget). The limiter's before-request pass is for app-wide and blueprint limits,
    # which we do not have: it is dropped, as it costs every request (the hot path too)
    # about as much as a whole /healthz does. The filter covers it, should it come back.
    app.before_request_funcs[None].remove(limiter._check_request_limit)
    limiter.request_filter(lambda: request.endpoint not in LIMITED_ENDPOINTS)
    # The hosted login page checks passwords as the JSON login does, and spends the same
    # budgets (shared counters): going back and forth between the two gains an attacker nothing.
    login_ip, login_account_limit = settings.rate_limit_login_ip, settings.rate_limit_login_account
    _limit(app, limiter, LOGIN_ENDPOINT, login_ip, None, _login_failed, shared="login-ip")
    _limit(app, limiter, LOGIN_ENDPOINT, login_account_limit, login_account, _login_failed, shared="login-account")
    _limit(app, limiter, SIGN_IN_PAGE_ENDPOINT, login_ip, None, _sign_in_page_failed, shared="login-ip")
    _limit(
        app,
        limiter,
        SIGN_IN_PAGE_ENDPOINT,
        login_account_limit,
        sign_in_page_account,
        _sign_in_page_failed,
        shared="login-account",
    )
    _limit(app, limiter, TOKEN_ENDPOINT, settings.rate_limit_token_ip, None, _token_guess_failed)
    # Other grants name no guessable account: they skip that budget (and its counter read).
    _limit(
        app,
        limiter,
        TOKEN_ENDPOINT,
        settings.rate_limit_token_account,
        token_account,
        _wrong_password_grant,
        exempt_when=lambda: not _is_password_grant(),
    )
    return RateLimits(limiter, RefusalBudget(limiter, parse_many(settings.rate_limit_refusals_ip)))


def _limit(
    app: Flask,
    limiter: Limiter,
    endpoint: str,
    value: str,
    key_func: Callable[[], str] | None,
    deduct_when: Callable[[Response], bool],
    exempt_when: Callable[[], bool] | None = None,
    *,
    shared: str | None = None,
) -> None:
    """Wrap a registered view in a limit (the views stay free of limiter code): the view is
    refused while the budget is spent, and a response for which ``deduct_when`` holds spends it.
    ``shared`` names counters that several endpoints spend together."""
    options = {"key_func": key_func, "deduct_when": deduct_when, "exempt_when": exempt_when, "override_defaults": False}
    if shared:
        decorate = limiter.shared_limit(value, scope=shared, **options)  # type: ignore[arg-type]
    else:
        scope = "account" if key_func else "ip"  # flask-limiter prefixes the endpoint
        decorate = limiter.limit(value, scope=scope, **options)  # type: ignore[arg-type]
    app.view_functions[endpoint] = decorate(app.view_functions[endpoint])
