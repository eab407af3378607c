"""Brute-force protection (issue 6), counted with the ``limits`` library.

Three budgets, all configurable (``OUTTER_RATE_LIMIT_*``, see ``config.Settings``):

- login (the JSON API and the hosted login page alike) and ``/oauth/token``: failed
  *guesses* count against the caller's IP (a wrong password, a wrong client secret, a
  refresh token or code that does not hold), and wrong passwords also against the
  account they named (an email, or the password grant's username) *from that address*, so
  one address cannot spray many accounts nor hammer one. The budget is the (account,
  address) pair's, as the lockout's is (``services/lockout.py``): a budget of the account
  alone would let anybody who knows an email make its owner wait. Many addresses
  hammering one account meet the lockout's account-wide budget instead. Only guesses
  count, as in Auth0's and Keycloak's brute-force protection: a busy address that logs in
  correctly is never slowed down, and a request refused for its shape (a bad grant type,
  a bad scope) spends nothing. Client secrets, refresh tokens and codes (256 random bits)
  cannot be guessed, so they get no per-account budget: it would only let anybody who
  knows a client id lock that client, or all users of the shared first-party client, out;
- ``verify`` and ``check``: only *refusals* count, per IP. A valid key never touches
  the limiter, so the hot path pays nothing (no storage round trip) for it; a flood
  of bad keys from one address turns into 429s.

Counters live in Redis when ``OUTTER_REDIS_URL`` is set (shared by every worker and
instance), in process memory otherwise. Fixed windows, the cheapest strategy ``limits``
has: an ``INCR`` per counted failure, and a read before a request only where a password
is at stake (login, the password grant). Everywhere else a process answers from memory:
once a budget is spent, the process that saw it remembers it until the window ends, so
other grants at the token endpoint (the machines' ``client_credentials`` above all) pay
no counter read at all; another process learns of a spent budget at its next failure
from that address. If Redis fails, limits fail open and say so in the log: an outage of
the counter store must not lock everybody out.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, request
from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

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


def login_account_key() -> str | None:
    body = json_body()
    email = body.get("email") if isinstance(body, dict) else None
    return _account(email) if isinstance(email, str) else None


def sign_in_page_account() -> str | None:
    email = request.form.get("email")
    return _account(email) if email else None


def _sign_in_page_failed(response: Response) -> bool:
    from outter_auth.pages.views import password_failed

    return password_failed()  # a wrong email or password, nothing else


def _is_password_grant() -> bool:
    return request.form.get("grant_type") == "password"


def token_account() -> str | None:
    """The password grant's username: the only guessable secret ``/oauth/token`` takes."""
    if not _is_password_grant():
        return None
    username = request.form.get("username")
    return _account(username) if username else None


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


class TooManyGuesses(Exception):
    """A budget is spent: answered 429 with ``Retry-After`` in the endpoint's shape (errors.py)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many requests: slow down and retry later")
        self.retry_after = retry_after


class Budget:
    """One budget (a list of windows, e.g. 10/minute;100/hour) over keys: addresses or pairs.

    ``spend(key)`` counts one failure in the shared store; ``over(key)`` answers the seconds
    to wait when the key is over its budget, from this process's memory, or from the store
    when ``read`` (a password is at stake). A key found over is remembered until its window
    ends: a flood costs one storage round trip per process and window, not one per request.
    """

    MAX_REMEMBERED = 10_000

    def __init__(self, name: str, items: list[RateLimitItem], strategy: FixedWindowRateLimiter, failures: FailOpen):
        self.name = name
        self._items = items
        self._strategy = strategy
        self._failures = failures
        self._over_until: dict[str, float] = {}  # key -> end of its window (time.time())
        self._lock = threading.Lock()

    def over(self, key: str, *, read: bool) -> int | None:
        now = time.time()
        until = self._over_until.get(key)
        if until is not None and until > now:
            return max(1, math.ceil(until - now))
        if not read:
            return None
        try:
            spent = [item for item in self._items if not self._strategy.test(item, KEY_PREFIX, self.name, key)]
        except Exception as error:  # noqa: BLE001 - any storage failure: fail open, loudly
            self._failures.failed(error)
            return None
        return self._remember(key, spent, now) if spent else None

    def spend(self, key: str, *, until_exhausted: bool = False) -> int | None:
        """Count one more: the seconds to wait if this one went over the budget, else None.

        ``until_exhausted``: also remember the key once this one used the budget up (the
        next request is then refused without a read; failed guesses count this way, while a
        refusal at the gateway is itself the request that may go over)."""
        now = time.time()
        try:
            over = [item for item in self._items if not self._strategy.hit(item, KEY_PREFIX, self.name, key)]
            if not over and until_exhausted:
                used_up = [item for item in self._items if not self._strategy.test(item, KEY_PREFIX, self.name, key)]
                if used_up:
                    self._remember(key, used_up, now)
        except Exception as error:  # noqa: BLE001 - any storage failure: fail open, loudly
            self._failures.failed(error)
            return None
        return self._remember(key, over, now) if over else None

    def _remember(self, key: str, spent: list[RateLimitItem], now: float) -> int:
        try:
            until = max(self._strategy.get_window_stats(item, KEY_PREFIX, self.name, key).reset_time for item in spent)
        except Exception as error:  # noqa: BLE001 - the store just failed: a whole window still beats a 500
            self._failures.failed(error)
            until = now + max(item.get_expiry() for item in spent)
        with self._lock:
            if len(self._over_until) >= self.MAX_REMEMBERED:
                self._over_until = {k: v for k, v in self._over_until.items() if v > now}
            if len(self._over_until) < self.MAX_REMEMBERED:
                self._over_until[key] = until
        window = max(item.get_expiry() for item in spent)  # a store's rounding never says more
        return max(1, min(window, math.ceil(until - now)))


@dataclass(frozen=True)
class Guarded:
    """What a limited view's budgets count: each (budget, key of the request, whether the
    view's answer was a failed guess that it counts, whether to read the store first)."""

    budget: Budget
    key: Callable[[], str | None]
    failed: Callable[[Response], bool]
    read_first: Callable[[], bool]


class RateLimits:
    """The app's budgets (``None`` when limits are off)."""

    def __init__(self, strategy: FixedWindowRateLimiter, refusals: Budget) -> None:
        self.strategy = strategy
        self.refusals = refusals

    def guard(self, app: Flask, endpoint: str, guards: list[Guarded]) -> None:
        """Wrap a registered view (the views stay free of limiter code): refused while a
        budget is spent, and an answer that is a failed guess spends it."""
        view = app.view_functions[endpoint]

        @functools.wraps(view)
        def limited(*args: Any, **kwargs: Any) -> Any:
            keys = [(guard, guard.key()) for guard in guards]
            for guard, key in keys:
                if key is not None and (wait := guard.budget.over(key, read=guard.read_first())) is not None:
                    raise TooManyGuesses(wait)
            try:
                answer = view(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 - the error's answer is what counts (a 401)
                answer = current_app.handle_user_exception(error)
            response = current_app.make_response(answer)
            for guard, key in keys:
                if key is not None and guard.failed(response):
                    guard.budget.spend(key, until_exhausted=True)
            return response

        app.view_functions[endpoint] = limited


def counter_store(settings: Settings) -> tuple[str, dict[str, Any]]:
    """Where counters live (a ``limits`` storage URI and its options): Redis when
    ``OUTTER_REDIS_URL`` is set, with short timeouts so that a Redis in trouble fails
    open quickly; process memory otherwise."""
    if settings.redis_url:
        return settings.redis_url, {"socket_timeout": 1, "socket_connect_timeout": 1}
    return "memory://", {}


def _storage(settings: Settings) -> Storage:
    uri, options = counter_store(settings)
    return storage_from_string(uri, **options)


def key_limiter(settings: Settings) -> KeyLimiter:
    """The per-key limiter (SPEC §14), on the same counter store as the limits here. It
    is on whatever ``OUTTER_RATE_LIMITS`` says: that switch is for brute-force protection,
    a key's own limit is its owner's decision."""
    return KeyLimiter(_storage(settings))


def init_rate_limits(app: Flask, settings: Settings) -> RateLimits | None:
    app.extensions[_EXTENSION] = settings.rate_limit_ipv6_prefix
    if not settings.rate_limits:
        return None
    strategy = FixedWindowRateLimiter(_storage(settings))
    failures = FailOpen("not counting failed guesses")

    def budget(name: str, value: str) -> Budget:
        return Budget(name, parse_many(value), strategy, failures)

    limits = RateLimits(strategy, budget("refusals", settings.rate_limit_refusals_ip))
    # The hosted login page checks passwords as the JSON login does, and spends the same
    # budgets: going back and forth between the two gains an attacker nothing.
    login_ip = budget("login-ip", settings.rate_limit_login_ip)
    login_account = budget("login-account", settings.rate_limit_login_account)
    always = lambda: True  # noqa: E731 - a password is at stake: read the shared count first
    limits.guard(
        app,
        LOGIN_ENDPOINT,
        [
            Guarded(login_ip, client_ip, _login_failed, always),
            Guarded(login_account, login_account_key, _login_failed, always),
        ],
    )
    limits.guard(
        app,
        SIGN_IN_PAGE_ENDPOINT,
        [
            Guarded(login_ip, client_ip, _sign_in_page_failed, always),
            Guarded(login_account, sign_in_page_account, _sign_in_page_failed, always),
        ],
    )
    # Only the password grant names a guessable account, and only it reads the shared counts
    # before the request: a machine's client_credentials request pays for neither.
    limits.guard(
        app,
        TOKEN_ENDPOINT,
        [
            Guarded(
                budget("token-ip", settings.rate_limit_token_ip), client_ip, _token_guess_failed, _is_password_grant
            ),
            Guarded(
                budget("token-account", settings.rate_limit_token_account),
                token_account,
                _wrong_password_grant,
                _is_password_grant,
            ),
        ],
    )
    return limits
