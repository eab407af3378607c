"""Schema fuzzing: schemathesis drives every operation of the app's own ``/openapi.json``.

The document is loaded through the WSGI app (``schemathesis.openapi.from_wsgi``) and
every request goes in-process through the same app, on the test database, in
schemathesis' examples, coverage and fuzzing phases, with positive and negative data.
Each response goes through every check schemathesis has (issue 13.12), among them:
no 5xx (in testing an unhandled exception propagates and fails the case just the
same), a documented status code, content type, headers and body, a 4xx for every
negative case, no 400 or 422 for a positive one (what the document allows, the service
accepts), ``Allow`` listing exactly the path's methods, 405 for other methods, 401
without credentials; plus a status code listed on the operation by itself (not only
through flask-smorest's catch-all ``default``). What no schema can say is arranged
here, each in one place: expiries are drawn in the future, a body's ``project_id``
names a live project, Basic client authentication is not doubled by a form secret.
(``use_after_free`` and ``ensure_resource_availability`` act in stateful runs only.)

Credentials: bearerAuth operations act as the owner of tenant ``acme``, clientBasic
ones (``/oauth/*``) as a confidential client of that tenant. The fuzzer logs out,
revokes tokens, demotes and deactivates users, deletes clients and rotates their
secrets; a credential it destroyed must not turn every later case into a 401. So
each credential is checked right before every request and renewed through the app
when it no longer works (see ``Credentials``), and the run fails if an authenticated
operation never got past 401.

A failing case fails the test, and schemathesis prints it with a ``curl`` command
that reproduces it. The summary at the end of the session counts what was sent and,
check by check, what passed and failed.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis.openapi.checks import UndefinedStatusCode
from sqlalchemy import Select, select, update

from outter_auth.extensions import db
from outter_auth.models import ApiKey, Membership, Project, User
from outter_auth.models import OAuthClient as OAuthClientModel
from outter_auth.scopes import MANAGEMENT_SCOPES
from tests import factories
from tests.api_key_helpers import create_key, create_project
from tests.fuzz.conftest import STATS, FuzzStats
from tests.oauth_helpers import OAuthClient, basic_auth, create_client

# Examples per operation in the fuzzing phase (the examples and coverage phases add
# their own, deterministic, cases): about 2,100 requests, 20-40 s on 2 cores on SQLite
# or PostgreSQL. OUTTER_FUZZ_EXAMPLES=300 is a deeper local run (about 11,000 requests,
# 3-4 minutes).
MAX_EXAMPLES = int(os.environ.get("OUTTER_FUZZ_EXAMPLES", "25"))
SEED = 20250601

OWNER_EMAIL = "fuzz-owner@acme.test"
TENANT = "acme"
CLIENT_SCOPE = "content:generate"
# Public, but it checks the credential it is given: it gets the owner's, like the others.
GATEWAY_CHECK = "GET /api/auth/gateway/check"

# Every check schemathesis has, with status_code_documented_by_itself (below) on top.
# Negative data (wrong types, missing fields, out-of-range values) must get a 4xx; positive
# data must not get a 400 or 422 (what the document allows, the service accepts).
CHECKS = {
    "enabled": True,
    "negative_data_rejection": {"expected-statuses": ["4xx"]},
}


def status_code_documented_by_itself(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    """Stricter than status_code_conformance, which passes any status through the
    ``default`` response flask-smorest puts on every operation: the status must be
    listed in its own right. Requests with a method the operation does not have (the
    coverage phase's probes, answered 405 or by Flask's automatic OPTIONS) are left out."""
    if case.method.upper() != case.operation.method.upper():
        return
    documented = [str(code) for code in case.operation.definition.raw.get("responses", {}) if code != "default"]
    status = str(response.status_code)
    if status not in documented and f"{status[0]}XX" not in documented:
        raise UndefinedStatusCode(
            operation=case.operation.label,
            status_code=response.status_code,
            defined_status_codes=documented,
            allowed_status_codes=[int(code) for code in documented if code.isdigit()],
            message=f"Received: {status}\nDocumented by itself (not only through `default`): {', '.join(documented)}",
        )


# Date-times like schemathesis' own (RFC 3339, any offset), but from 2100 on: an expiry must
# lie in the future, which no schema can say (the clock is the server's; tests/api covers a
# past expiry). As often, the edge that UTC cannot hold (the year 10000 in UTC), once a 500,
# now taken as the latest second. Registered for the whole session, which only this suite
# uses schemathesis in.
_TWO_DIGITS = {limit: st.integers(0, limit).map("{:02d}".format) for limit in (23, 59)}
_OFFSET = st.just("Z") | st.builds("{}{}:{}".format, st.sampled_from("+-"), _TWO_DIGITS[23], _TWO_DIGITS[59])
_TIME = st.builds("{}:{}:{}".format, _TWO_DIGITS[23], _TWO_DIGITS[59], _TWO_DIGITS[59])
_FUTURE = st.dates(min_value=date(2100, 1, 1)).map(str)
_DATE_TIME = st.builds("{}T{}{}".format, _FUTURE, _TIME, _OFFSET)
_EDGE_DATE_TIME = st.just("9999-12-31T23:59:59-14:00")
schemathesis.openapi.format("date-time", _DATE_TIME | _EDGE_DATE_TIME)

# OpenAPI's "password" format: the document says 8 to 72 characters, and in words that
# bcrypt reads at most 72 bytes of UTF-8, which no JSON Schema keyword counts. Up to 18
# characters of any text fit in 72 bytes; longer ones are ASCII.
_PASSWORD_CHARS = {codec: st.characters(codec=codec, exclude_characters="\x00") for codec in ("utf-8", "ascii")}
schemathesis.openapi.format(
    "password",
    st.text(_PASSWORD_CHARS["utf-8"], min_size=8, max_size=18)
    | st.text(_PASSWORD_CHARS["ascii"], min_size=8, max_size=72),
)

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {
        "mode": "all",  # positive and negative data
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,  # Hypothesis' derandomize: the same cases on every run
        "database": "none",  # nothing replayed from, or written to, .hypothesis/
    },
    "checks": CHECKS,
}


@schemathesis.hook
def after_validate(
    context: schemathesis.HookContext,
    case: schemathesis.Case,
    response: schemathesis.Response,
    results: list[Any],
) -> None:
    """Tally every check's outcome for the summary (tests/fuzz/conftest.py)."""
    for result in results:
        STATS.checked(result.name, result.failure is None)


# -- Credentials ---------------------------------------------------------------------


def _security(operation: schemathesis.APIOperation) -> set[str]:
    return {name for requirement in operation.definition.raw.get("security", []) for name in requirement}


class Credentials:
    """The owner's access token and a confidential client, checked before every request.

    Cases get a placeholder when they are generated (the coverage phase builds its
    cases long before it sends them) and the live credential right before they are
    sent. Each credential is reused while it still works, and replaced through the
    app when an earlier case destroyed it (logout, revocation, a demoted or
    deactivated owner, a deleted, rotated or narrowed client). Checking costs one
    cheap request; a fresh login per case would cost a bcrypt hash, a session and an
    RS256 signature.
    """

    OWNER = "Bearer fuzz-owner-placeholder"
    CLIENT = "Basic fuzz-client-placeholder"

    def __init__(self, app: Flask, owner: factories.Actor, stats: FuzzStats) -> None:
        self.app, self.owner, self.stats = app, owner, stats
        self.http = app.test_client()
        self.token = owner.token
        self.client: OAuthClient | None = None
        self.browser_app = ""  # a client with the authorization_code grant (see the fixture)

    def authorize(self, case: schemathesis.Case) -> bool:
        """Swap the placeholder a case was generated with for a credential that works now.

        False for a case without one (a public operation, or a negative case whose
        Authorization header is missing or mangled on purpose)."""
        sent = (case.headers or {}).get("Authorization")
        if sent == self.OWNER:
            case.headers["Authorization"] = self.bearer()
        elif sent == self.CLIENT:
            case.headers["Authorization"] = self.basic()
        return sent in (self.OWNER, self.CLIENT)

    def bearer(self) -> str:
        me = self.http.get("/api/auth/me", headers={"Authorization": f"Bearer {self.token}"})
        body = me.get_json() if me.status_code == 200 else {}
        if body.get("roles") != ["owner"] or not set(MANAGEMENT_SCOPES) <= set(body.get("scopes", [])):
            self.stats.renewed["owner access token"] += 1
            self._restore_owner()
            self.token = self._login()
        return f"Bearer {self.token}"

    def basic(self) -> str:
        if self.client is None or self._client_token_status(self.client) != 200:
            if self.client is not None:
                self.stats.renewed["OAuth client"] += 1
            self.client = create_client(self.app, "fuzz", "client_credentials", tenant=TENANT, scope=CLIENT_SCOPE)
        assert self.client.secret is not None
        return basic_auth(self.client.client_id, self.client.secret)["Authorization"]

    def _login(self) -> str:
        body = {"email": self.owner.email, "password": factories.PASSWORD, "tenant": TENANT}
        response = self.http.post("/api/auth/login", json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        return str(response.get_json()["access_token"])

    def _restore_owner(self) -> None:
        """Whatever earlier cases made of the owner (demoted, deactivated), undo it."""
        with self.app.app_context():
            db.session.execute(
                update(Membership)
                .where(Membership.user_id == self.owner.user_id, Membership.tenant_id == self.owner.tenant_id)
                .values(role="owner", is_active=True)
            )
            db.session.execute(update(User).where(User.id == self.owner.user_id).values(is_active=True))
            db.session.commit()

    def _client_token_status(self, client: OAuthClient) -> int:
        form = {"grant_type": "client_credentials", "scope": CLIENT_SCOPE}
        return int(self.http.post("/oauth/token", data=form, headers=client.auth("basic")[0]).status_code)

    @classmethod
    def provider(cls) -> type:
        """The auth provider class schemathesis applies to every generated case."""

        class Placeholders:
            def get(self, case: schemathesis.Case, context: schemathesis.AuthContext) -> str | None:
                security = _security(context.operation)
                if "bearerAuth" in security or context.operation.label == GATEWAY_CHECK:
                    return cls.OWNER
                if "clientBasic" in security:
                    return cls.CLIENT
                return None  # a public operation

            def set(self, case: schemathesis.Case, data: str, context: schemathesis.AuthContext) -> None:
                case.headers = case.headers or {}
                case.headers["Authorization"] = data

        return Placeholders


# -- Real ids ------------------------------------------------------------------------

# Generated ids almost never name anything, so every GET, PATCH, DELETE and rotate by
# id would only ever answer 404 and their success responses would go unchecked.
ID_PARAMETERS: dict[str, Select[Any]] = {
    "project_id": select(Project.id, Project.tenant_id).order_by(Project.created_at.desc()),
    "key_id": select(ApiKey.id, ApiKey.tenant_id).where(ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at.desc()),
    "client_id": select(OAuthClientModel.id, OAuthClientModel.tenant_id).order_by(OAuthClientModel.created_at.desc()),
    "user_id": select(Membership.user_id, Membership.tenant_id).order_by(Membership.created_at.desc()),
}


def aim_at_real_resource(case: schemathesis.Case, app: Flask, tenant_id: str) -> bool:
    """Point half of the positive cases of a ``/{id}`` operation at the tenant's newest
    resource of that kind. Which half depends only on the generated id, so a failing
    case replays the same way while Hypothesis shrinks it."""
    if not case.path_parameters or case.meta is None or not case.meta.generation.mode.is_positive:
        return False
    aimed = False
    for name, value in case.path_parameters.items():
        if name in ID_PARAMETERS and zlib.crc32(str(value).encode()) % 2 == 0:
            query = ID_PARAMETERS[name]
            with app.app_context():
                newest = db.session.scalar(query.where(query.selected_columns[1] == tenant_id).limit(1))
                db.session.rollback()
            if newest is not None:
                case.path_parameters[name] = newest
                aimed = True
    return aimed


def aim_body_at_real_project(case: schemathesis.Case, app: Flask, tenant_id: str) -> bool:
    """A positive body's ``project_id`` names a live project of the tenant, or none. The
    document says what a project id looks like, not which projects exist (an unknown one
    is a 422 on the field, as a form would want it)."""
    body = case.body
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive or not isinstance(body, dict) or not isinstance(body.get("project_id"), str):
        return False
    live = select(Project.id).where(Project.tenant_id == tenant_id, Project.deleted_at.is_(None))
    with app.app_context():
        body["project_id"] = db.session.scalar(live.order_by(Project.created_at.desc()).limit(1))
        db.session.rollback()
    return True


# The browser's endpoints (SPEC §11) act on a client's registration, which no schema lists:
# an unknown client or an unregistered redirect URI is answered with a page (400), never a
# redirect; an ID token given as a hint must be one this service issued.
BROWSER_APP_REDIRECT = "https://app.example/callback"
AUTHORIZE = "GET /oauth/authorize"
LOGOUT = ("GET /oauth/logout", "POST /oauth/logout")


def aim_at_a_registered_browser_app(case: schemathesis.Case, client_id: str) -> bool:
    """A positive authorization request names a registered client and its redirect URI (every
    other parameter as drawn: what is wrong about them is answered to that redirect URI); a
    positive logout request carries no ID token the fuzzer made up."""
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if not positive:
        return False
    if case.operation.label == AUTHORIZE and isinstance(case.query, dict):
        case.query.update(client_id=client_id, redirect_uri=BROWSER_APP_REDIRECT)
        return True
    aimed = False
    if case.operation.label in LOGOUT:
        for parameters in (case.query, case.body):
            if isinstance(parameters, dict) and "id_token_hint" in parameters:
                del parameters["id_token_hint"]
                aimed = True
    return aimed


def one_client_authentication(case: schemathesis.Case) -> None:
    """A positive case sent with Basic client authentication does not also carry a
    ``client_secret`` in the form: RFC 6749 §2.3 allows one method per request (400
    otherwise), a rule across security and body that OpenAPI cannot state."""
    sent_basic = (case.headers or {}).get("Authorization", "").startswith("Basic ")
    positive = case.meta is not None and case.meta.generation.mode.is_positive
    if sent_basic and positive and isinstance(case.body, dict):
        case.body.pop("client_secret", None)


# -- The test --------------------------------------------------------------------------


@pytest.fixture
def credentials(app: Flask, make: factories.Factory, fuzz_stats: FuzzStats) -> Credentials:
    owner = make.actor(TENANT, OWNER_EMAIL, "owner")
    # One resource of each kind besides the owner, for the cases aimed at real ids.
    http = app.test_client()
    make.user(TENANT, "fuzz-member@acme.test")
    create_key(http, owner.headers, project_id=create_project(http, owner.headers, "fuzz"))
    create_client(app, "fuzz-web", "client_credentials", tenant=TENANT)
    credentials = Credentials(app, owner, fuzz_stats)
    result = app.test_cli_runner().invoke(
        args=["clients", "create", "fuzz-browser-app", "--tenant", TENANT, "--grant-type", "authorization_code"]
        + ["--scope", "openid", "--redirect-uri", BROWSER_APP_REDIRECT, "--json"]
    )
    assert result.exit_code == 0, result.output
    credentials.browser_app = json.loads(result.output)["client_id"]
    return credentials


@pytest.fixture
def fuzz_schema(app: Flask, fuzz_stats: FuzzStats) -> Iterator[schemathesis.BaseSchema]:
    loaded = schemathesis.openapi.from_wsgi("/openapi.json", app, config=schemathesis.Config.from_dict(CONFIG))
    # No caching and no re-login and replay on a 401 (retry_on=[]): a 401 is an answer to check.
    loaded.auth(refresh_interval=None, retry_on=[])(Credentials.provider())
    operations = {result.ok() for result in loaded.get_all_operations()}
    fuzz_stats.operations.update(op.label for op in operations)
    yield loaded
    untried = sorted(op.label for op in operations if not fuzz_stats.calls[op.label])
    assert not untried, f"operations the fuzzer never called: {untried}"
    locked_out = sorted(op.label for op in operations if _security(op) and not fuzz_stats.authorized[op.label])
    assert not locked_out, f"authenticated operations that never got past 401: {locked_out}"


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_openapi_fuzz(case: schemathesis.Case, credentials: Credentials, fuzz_stats: FuzzStats) -> None:
    label = case.operation.label
    mode = case.meta.generation.mode.value if case.meta else "explicit"
    authorized = credentials.authorize(case)
    if aim_at_real_resource(case, credentials.app, credentials.owner.tenant_id):
        fuzz_stats.aimed[label] += 1
    if aim_body_at_real_project(case, credentials.app, credentials.owner.tenant_id):
        fuzz_stats.aimed[label] += 1
    if aim_at_a_registered_browser_app(case, credentials.browser_app):
        fuzz_stats.aimed[label] += 1
    one_client_authentication(case)
    response = case.call()
    fuzz_stats.record(label, mode, response.status_code)
    if authorized and case.method.upper() == case.operation.method.upper() and response.status_code != 401:
        fuzz_stats.authorized[label] += 1
    case.validate_response(
        response,
        additional_checks=[status_code_documented_by_itself],
    )
