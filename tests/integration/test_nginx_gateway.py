"""nginx in front of the Outter services (deploy/nginx/), end to end over real HTTP.

nginx as it ships in deploy/nginx/ (only the three addresses rendered in), gunicorn serving
``wsgi:app`` with two workers on the test database and Redis, and an upstream that echoes the
headers it received. Everything the test needs is made through the service's own HTTP API
(login, projects, API keys), except the first owner, who is made like the CLI would.
"""

from __future__ import annotations

import socket
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from requests.adapters import HTTPAdapter

from outter_auth.services import api_key_format
from tests.factories import PASSWORD, Factory
from tests.integration.servers import (
    REDIS_URL,
    Echo,
    Gateway,
    Service,
    echo_upstream,
    free_port,
    gunicorn,
    nginx,
    nginx_missing,
    redis_reachable,
    require,
    service_env,
    stop,
    wait_for,
)


@pytest.fixture(scope="module", autouse=True)
def _nginx_installed() -> None:
    """Before the module's servers start: skipped without nginx, a failure under CI."""
    require(nginx_missing())


EMAIL = "owner@acme.test"
CHECK = "/api/auth/gateway/check"
REVOCATION_BOUND = 2.0  # seconds, through nginx, with two gunicorn workers and Redis
REFUSALS_PER_MINUTE = 3  # OUTTER_RATE_LIMIT_REFUSALS_IP of the ``limited`` service
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass
class Stack:
    gateway: Gateway
    service: Service
    upstream: Echo

    def get(self, path: str, **headers: str) -> requests.Response:
        return requests.get(self.gateway.base + path, headers=headers, timeout=10)


@pytest.fixture(scope="module")
def stack(app: Flask, database_url: str, keys_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Depends on ``app``: the database is migrated, and its rows are cleaned after each test."""
    root = tmp_path_factory.mktemp("nginx-gateway")
    env = service_env(database_url, keys_dir, OUTTER_REDIS_URL=REDIS_URL)
    with (
        echo_upstream() as upstream,
        gunicorn(env, root / "service", workers=2) as service,
        nginx(
            root / "nginx",
            auth_addr=service.base.removeprefix("http://"),
            services_addr=upstream.base.removeprefix("http://"),
        ) as gateway,
    ):
        yield Stack(gateway, service, upstream)


@dataclass
class Owner:
    user_id: str
    tenant_id: str
    token: str
    project_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def acme(stack: Stack, make: Factory) -> Owner:
    """The owner of tenant acme, logged in through nginx, with a project."""
    user_id = make.user("acme", EMAIL, "owner")
    login = requests.post(
        stack.gateway.base + "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    token = login.json()["access_token"]
    me = requests.get(stack.service.base + "/api/auth/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert me.status_code == 200, me.text
    project = requests.post(
        stack.service.base + "/api/auth/projects",
        json={"name": "Content API"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert project.status_code == 201, project.text
    return Owner(user_id, me.json()["tenant_id"], token, project.json()["id"])


def create_key(stack: Stack, acme: Owner, scopes: list[str], project: bool = True) -> dict[str, Any]:
    """A new API key through the service's own API: its fields plus the full ``key``."""
    response = requests.post(
        stack.service.base + "/api/auth/api-keys",
        json={"name": "gateway test", "scopes": scopes, "project_id": acme.project_id if project else None},
        headers=acme.headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def received(response: requests.Response) -> dict[str, list[str]]:
    """The headers the upstream received (echoed back), by lower-case name, every value kept."""
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json", "not the upstream's answer"
    headers: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return headers


def identity(headers: dict[str, list[str]]) -> dict[str, str]:
    """The X-Outter-* headers that reached the upstream; each must have come exactly once."""
    found = {}
    for name in headers:
        if name.startswith("x-outter-") or name.startswith("x_outter_"):
            assert len(headers[name]) == 1, f"{name} reached the upstream {len(headers[name])} times"
            found[name] = headers[name][0]
    return found


def well_formed_key(body: str, environment: str = "live") -> str:
    """A key of SPEC section 6's shape with a correct checksum, computed here independently."""
    head = f"outter_{environment}_{body}"
    value, digits = zlib.crc32(head.encode()), ""
    while value:
        value, digit = divmod(value, 62)
        digits = BASE62[digit] + digits
    return head + digits.rjust(6, "0")


def upstream_calls(stack: Stack, path: str) -> int:
    return sum(1 for seen in stack.upstream.requests if seen["path"] == path)


# -- refusals -------------------------------------------------------------------------------


def test_no_credential_is_401_and_never_reaches_the_upstream(stack: Stack):
    response = stack.get("/things/no-credential")

    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]  # the service's challenge, passed on
    assert response.json()["code"] == 401  # SPEC section 4's error shape, not an HTML page
    assert upstream_calls(stack, "/things/no-credential") == 0


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "outter_live_" + "A" * 38,  # the right shape, a wrong checksum
        well_formed_key("B" * 32)[:-1] + "x",
        "outter_prod_" + "A" * 38,
        "",
    ],
)
def test_malformed_key_is_401(stack: Stack, key: str):
    response = stack.get("/things/malformed", **{"X-API-Key": key})

    assert response.status_code == 401
    assert upstream_calls(stack, "/things/malformed") == 0


def test_unknown_well_formed_key_is_401(stack: Stack, acme: Owner):
    response = stack.get("/things/unknown", **{"X-API-Key": well_formed_key("Q" * 32)})

    assert response.status_code == 401
    assert upstream_calls(stack, "/things/unknown") == 0


def test_a_bearer_that_is_not_a_token_of_ours_is_401(stack: Stack):
    response = stack.get("/things/bad-bearer", Authorization="Bearer abc.def.ghi")
    assert response.status_code == 401
    assert upstream_calls(stack, "/things/bad-bearer") == 0


# -- what reaches the upstream --------------------------------------------------------------


def test_valid_key_reaches_the_upstream_with_its_identity_and_without_the_credential(stack: Stack, acme: Owner):
    key = create_key(stack, acme, ["content:read", "reports:read"])

    headers = received(stack.get("/things/1?x=1", **{"X-API-Key": key["key"]}))

    assert identity(headers) == {
        "x-outter-tenant-id": acme.tenant_id,
        "x-outter-project-id": acme.project_id,
        "x-outter-environment": "live",
        "x-outter-scopes": "content:read reports:read",
        "x-outter-key-id": key["id"],
    }
    assert "x-api-key" not in headers
    assert "authorization" not in headers
    assert key["key"] not in str(headers)


def test_a_key_without_project_sends_no_project_header(stack: Stack, acme: Owner):
    key = create_key(stack, acme, ["content:read"], project=False)

    found = identity(received(stack.get("/things/2", **{"X-API-Key": key["key"]})))

    assert "x-outter-project-id" not in found
    assert found["x-outter-key-id"] == key["id"]


def test_the_request_body_still_reaches_the_upstream(stack: Stack, acme: Owner):
    key = create_key(stack, acme, ["content:read"])

    response = requests.post(
        stack.gateway.base + "/things/upload",
        data=b'{"hello": "world"}',
        headers={"X-API-Key": key["key"], "Content-Type": "application/json"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.json()["method"] == "POST"
    assert response.json()["body"] == '{"hello": "world"}'


def test_spoofed_identity_headers_from_the_client_are_overwritten(stack: Stack, acme: Owner):
    key = create_key(stack, acme, ["content:read"])
    spoofed = {
        "X-Outter-Tenant-Id": "ten_evil",
        "X-Outter-Project-Id": "prj_evil",
        "X-Outter-Environment": "test",
        "X-Outter-Scopes": "api_keys:write users:write",
        "X-Outter-Key-Id": "key_evil",
        "X-Outter-User-Id": "usr_admin",
        "X-Outter-Client-Id": "cli_evil",
        # WSGI/CGI upstreams read this as X-Outter-Tenant-Id: nginx must drop it.
        "X_Outter_Tenant_Id": "ten_evil_underscore",
    }

    found = identity(received(stack.get("/things/3", **spoofed, **{"X-API-Key": key["key"]})))

    assert found == {
        "x-outter-tenant-id": acme.tenant_id,
        "x-outter-project-id": acme.project_id,
        "x-outter-environment": "live",
        "x-outter-scopes": "content:read",
        "x-outter-key-id": key["id"],
    }
    # Spoofed headers alone are no credential.
    assert stack.get("/things/4", **spoofed).status_code == 401


def test_bearer_jwt_from_login_reaches_the_upstream_as_the_user(stack: Stack, acme: Owner):
    login = requests.post(
        stack.gateway.base + "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    body = login.json()

    headers = received(
        stack.get("/things/5", Authorization=f"Bearer {body['access_token']}", **{"X-Outter-Key-Id": "key_spoofed"})
    )

    found = identity(headers)
    assert found["x-outter-user-id"] == acme.user_id
    assert found["x-outter-tenant-id"] == acme.tenant_id
    assert found["x-outter-scopes"].split() == body["scope"].split()
    assert "x-outter-key-id" not in found and "x-outter-client-id" not in found
    assert "authorization" not in headers
    assert body["access_token"] not in str(headers)


# -- scopes -----------------------------------------------------------------------------------


def test_a_location_that_demands_a_scope_answers_403_without_it(stack: Stack, acme: Owner):
    reader = create_key(stack, acme, ["content:read"])
    writer = create_key(stack, acme, ["content:read", "content:generate"])

    refused = stack.get("/api/content/articles", **{"X-API-Key": reader["key"]})
    assert refused.status_code == 403
    assert refused.json()["code"] == 403
    # The client cannot lower what the location demands.
    for sent in ("", "content:read"):
        response = stack.get("/api/content/articles", **{"X-API-Key": reader["key"], "X-Outter-Required-Scopes": sent})
        assert response.status_code == 403
    assert upstream_calls(stack, "/api/content/articles") == 0

    # The same key passes where no scope is demanded; a key with the scope passes here too.
    assert stack.get("/things/6", **{"X-API-Key": reader["key"]}).status_code == 200
    allowed = received(stack.get("/api/content/articles", **{"X-API-Key": writer["key"]}))
    assert identity(allowed)["x-outter-key-id"] == writer["id"]
    assert "x-outter-required-scopes" not in allowed


def test_the_gateway_contract_endpoints_are_not_exposed(stack: Stack, acme: Owner):
    key = create_key(stack, acme, ["content:read"])
    assert stack.get(CHECK, **{"X-API-Key": key["key"]}).status_code == 404
    verify = requests.post(stack.gateway.base + "/api/auth/api-keys/verify", json={"key": key["key"]}, timeout=10)
    assert verify.status_code == 404
    assert stack.get("/_outter/check", **{"X-API-Key": key["key"]}).status_code == 404


# -- revocation through both gunicorn workers -------------------------------------------------


def burst(stack: Stack, path: str, key: str, count: int = 8) -> list[int]:
    """``count`` concurrent requests: with sync workers busy, both gunicorn workers take some."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: stack.get(path, **{"X-API-Key": key}).status_code, range(count)))


def test_a_revoked_key_is_refused_by_every_worker_within_the_bound(stack: Stack, acme: Owner):
    require(redis_reachable())
    key = create_key(stack, acme, ["content:read"])
    mark = len(stack.service.access_lines())

    # Both workers verify the key (and cache it) before it is revoked.
    def both_workers_served() -> bool:
        assert burst(stack, "/things/revoke", key["key"]) == [200] * 8
        return len(stack.service.pids_that_served(CHECK, 200, since=mark)) == 2

    wait_for(both_workers_served, 10, "both gunicorn workers to serve the key")

    revoked = requests.delete(f"{stack.service.base}/api/auth/api-keys/{key['id']}", headers=acme.headers, timeout=10)
    assert revoked.status_code == 204, revoked.text
    revoked_at = time.monotonic()
    mark = len(stack.service.access_lines())

    def refused() -> bool:
        status = stack.get("/things/revoke", **{"X-API-Key": key["key"]}).status_code
        assert status in (200, 401), status
        return status == 401

    wait_for(refused, REVOCATION_BOUND, "the revoked key to be refused through nginx", interval=0.02)
    assert time.monotonic() - revoked_at <= REVOCATION_BOUND
    upstream_at_refusal = upstream_calls(stack, "/things/revoke")

    # That first refusal may come from the worker that revoked the key (it forgets it at once);
    # the other hears of it over Redis, and the bound is what it is promised. Once the bound has
    # passed, every request is refused, by both workers.
    time.sleep(max(0.0, revoked_at + REVOCATION_BOUND - time.monotonic()))

    def both_workers_refused() -> bool:
        assert burst(stack, "/things/revoke", key["key"]) == [401] * 8
        return len(stack.service.pids_that_served(CHECK, 401, since=mark)) == 2

    wait_for(both_workers_refused, 10, "both gunicorn workers to refuse the revoked key")
    assert upstream_calls(stack, "/things/revoke") == upstream_at_refusal


def test_the_auth_services_own_answers_pass_through_untouched(stack: Stack, acme: Owner):
    wrong = requests.post(
        stack.gateway.base + "/api/auth/login", json={"email": EMAIL, "password": "wrong password"}, timeout=10
    )
    direct = requests.post(
        stack.service.base + "/api/auth/login", json={"email": EMAIL, "password": "wrong password"}, timeout=10
    )

    assert wrong.status_code == direct.status_code == 401
    assert wrong.json() == direct.json()  # the service's error, not the gateway's
    jwks = requests.get(stack.gateway.base + "/.well-known/jwks.json", timeout=10)
    assert jwks.status_code == 200 and jwks.json()["keys"]


# -- errors of the check: 429 and 503 in SPEC section 4's shape, never a bare 500 ---------------


def gateway_in_front_of(service: Service, upstream: Echo, root: Path) -> Iterator[Gateway]:
    return nginx(
        root, auth_addr=service.base.removeprefix("http://"), services_addr=upstream.base.removeprefix("http://")
    )


@pytest.fixture
def limited(stack: Stack, database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """Another service on the same database with the refusal limit on, behind a gateway of its own.

    One worker and in-memory counters (no Redis): the counters start empty and every request
    counts against the same ones. OUTTER_TRUSTED_PROXIES=1: the client is the address nginx
    appends to X-Forwarded-For, as deploy/nginx/README.md asks.
    """
    env = service_env(
        database_url,
        keys_dir,
        OUTTER_RATE_LIMITS="true",
        OUTTER_RATE_LIMIT_REFUSALS_IP=f"{REFUSALS_PER_MINUTE}/minute",
        OUTTER_TRUSTED_PROXIES="1",
    )
    with (
        gunicorn(env, tmp_path / "service", name="limited", workers=1) as service,
        gateway_in_front_of(service, stack.upstream, tmp_path / "nginx") as gateway,
    ):
        yield Stack(gateway, service, stack.upstream)


class _FromAddress(HTTPAdapter):
    """Connections from another loopback address: another client of the same gateway."""

    def __init__(self, source_ip: str) -> None:
        self._source = (source_ip, 0)
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


def can_bind(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((address, 0))
        except OSError:
            return False
    return True


def assert_gateway_error(response: requests.Response, code: int, status: str) -> int:
    """The gateway's own error in SPEC section 4's shape; its Retry-After, in seconds."""
    assert response.status_code == code, response.text
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"code", "status", "message"}
    assert (body["code"], body["status"]) == (code, status)
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit(), retry_after
    return int(retry_after)


def test_a_flood_of_unknown_keys_from_one_client_is_429_but_valid_keys_still_pass(
    stack: Stack, limited: Stack, acme: Owner, tmp_path: Path
):
    valid = create_key(stack, acme, ["content:read"])

    # A client's own X-Forwarded-For changes nothing: nginx appends the address it sees, and
    # the service (OUTTER_TRUSTED_PROXIES=1) takes that last one.
    flood = [
        limited.get(
            "/things/flood", **{"X-API-Key": api_key_format.generate("live"), "X-Forwarded-For": f"203.0.113.{n}"}
        )
        for n in range(REFUSALS_PER_MINUTE + 2)
    ]

    assert [r.status_code for r in flood] == [401] * REFUSALS_PER_MINUTE + [429] * 2
    for refused in flood[:REFUSALS_PER_MINUTE]:
        assert refused.json()["code"] == 401
        assert "Bearer" in refused.headers["WWW-Authenticate"]
    for limited_response in flood[REFUSALS_PER_MINUTE:]:
        # The service's Retry-After (the rest of its one-minute window), not the gateway's default of 5.
        assert 30 <= assert_gateway_error(limited_response, 429, "Too Many Requests") <= 60
    # gunicorn writes its access line after the answer: wait for it rather than race it.
    wait_for(lambda: bool(limited.service.pids_that_served(CHECK, 429)), 5, "the service's own 429 in its log")
    assert upstream_calls(limited, "/things/flood") == 0
    # An expected answer, not an error of nginx's: nothing at level error for it (issue 13.8).
    errors = [line for line in (tmp_path / "nginx" / "error.log").read_text().splitlines() if "[error]" in line]
    assert not errors, errors

    # Valid keys are never limited, not even from the limited client.
    found = identity(received(limited.get("/things/flood-valid", **{"X-API-Key": valid["key"]})))
    assert found["x-outter-key-id"] == valid["id"]
    assert limited.get("/things/flood", **{"X-API-Key": api_key_format.generate("live")}).status_code == 429

    # Limits count per client, not per gateway: another address is refused, not limited.
    if can_bind("127.0.0.2"):
        other = requests.Session()
        other.mount("http://", _FromAddress("127.0.0.2"))
        response = other.get(
            limited.gateway.base + "/things/flood", headers={"X-API-Key": api_key_format.generate("live")}, timeout=10
        )
        assert response.status_code == 401, response.text


@pytest.fixture
def stoppable(stack: Stack, database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Stack]:
    """A service of its own behind a gateway of its own: a test may stop it."""
    with (
        gunicorn(service_env(database_url, keys_dir), tmp_path / "service", name="stoppable", workers=1) as service,
        gateway_in_front_of(service, stack.upstream, tmp_path / "nginx") as gateway,
    ):
        yield Stack(gateway, service, stack.upstream)


def test_with_the_auth_service_stopped_the_gateway_answers_503_and_lets_nothing_through(
    stack: Stack, stoppable: Stack, acme: Owner
):
    key = create_key(stack, acme, ["content:read"])
    assert stoppable.get("/things/stopped", **{"X-API-Key": key["key"]}).status_code == 200
    reached = upstream_calls(stack, "/things/stopped")

    stop(stoppable.service.proc)

    for headers in ({"X-API-Key": key["key"]}, {"X-API-Key": api_key_format.generate("live")}, {}):
        response = stoppable.get("/things/stopped", **headers)
        # Nothing answered the check: the gateway's default Retry-After.
        assert assert_gateway_error(response, 503, "Service Unavailable") == 5
    assert upstream_calls(stack, "/things/stopped") == reached


def test_with_the_auth_database_down_the_gateway_answers_503_with_the_services_retry_after(
    stack: Stack, keys_dir: Path, tmp_path: Path
):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/outter"  # nothing listens there
    with (
        gunicorn(service_env(nowhere, keys_dir), tmp_path / "service", name="no-database", workers=1) as service,
        gateway_in_front_of(service, stack.upstream, tmp_path / "nginx") as gateway,
    ):
        unknown = {"X-API-Key": api_key_format.generate("live")}
        response = requests.get(gateway.base + "/things/no-database", headers=unknown, timeout=10)

        assert assert_gateway_error(response, 503, "Service Unavailable") == 5
        wait_for(lambda: bool(service.pids_that_served(CHECK, 503)), 5, "the service's own 503 in its log")
        # A missing credential needs no database: still the service's 401.
        assert requests.get(gateway.base + "/things/no-database", timeout=10).status_code == 401
    assert upstream_calls(stack, "/things/no-database") == 0


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_an_upstream_services_own_errors_reach_the_client_as_they_are(stack: Stack, acme: Owner, status: int):
    key = create_key(stack, acme, ["content:read"])

    response = stack.get("/things/failing", **{"X-API-Key": key["key"], "X-Echo-Status": str(status)})

    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["path"] == "/things/failing"  # the upstream's own body, not the gateway's
    assert "Retry-After" not in response.headers
    assert upstream_calls(stack, "/things/failing") >= 1
