"""deploy/kong/kong.yml: the shape Kong's declarative format requires, and its credentials merge.

Kong cannot be installed here, so nothing runs the Lua of the serverless plugins; what is
checked is what Kong would check when loading the file (entities, required fields, plugin
configs as maps, jwt credentials), that every reference resolves, that the jwt plugin finds
credentials the way ``outter-auth keys kong-config`` renders them, and that
deploy/kong/merge_jwt_secrets.py turns a real ``keys kong-config`` output into kong.yml's
credentials without touching anything else.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask

from tests import kong_schema
from tests.assertions import IDENTITY_HEADERS
from tests.integration.servers import DEPLOY, luajit_missing, require

KONG_YML = DEPLOY / "kong" / "kong.yml"
MERGE_SCRIPT = DEPLOY / "kong" / "merge_jwt_secrets.py"
TOP_LEVEL = kong_schema.TOP_LEVEL
JWT_PLUGIN_FIELDS = kong_schema.JWT_PLUGIN_FIELDS
JWT_CREDENTIAL_FIELDS = kong_schema.JWT_CREDENTIAL_FIELDS
SERVERLESS_PHASES = {"certificate", "rewrite", "access", "header_filter", "body_filter", "log"}
PROTECTED_SERVICE = "outter-services"
AUTH_SERVICE = "outter-auth"


@pytest.fixture(scope="module")
def kong() -> dict[str, Any]:
    config = yaml.safe_load(KONG_YML.read_text())
    assert isinstance(config, dict)
    return config


def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {service["name"]: service for service in config["services"]}


def all_routes(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [route for service in config["services"] for route in service.get("routes", [])] + config.get("routes", [])


def all_plugins(config: dict[str, Any]) -> list[dict[str, Any]]:
    found = list(config.get("plugins", []))
    for service in config["services"]:
        found += service.get("plugins", [])
        for route in service.get("routes", []):
            found += route.get("plugins", [])
    for route in config.get("routes", []):
        found += route.get("plugins", [])
    for consumer in config.get("consumers", []):
        found += consumer.get("plugins", [])
    return found


def plugin(container: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in container.get("plugins", []) if p["name"] == name]
    config: dict[str, Any] = found["config"]
    return config


def jwt_secrets(config: dict[str, Any]) -> list[dict[str, Any]]:
    return [secret for consumer in config["consumers"] for secret in consumer.get("jwt_secrets", [])]


def load_merge_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("merge_jwt_secrets", MERGE_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def kong_config_output(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["keys", "kong-config"])
    assert result.exit_code == 0, result.output
    return result.output


# -- the declarative format ---------------------------------------------------------------


def test_kong_yml_has_the_declarative_format_kong_requires(kong: dict[str, Any]):
    assert kong["_format_version"] == "3.0" and isinstance(kong["_format_version"], str)
    assert set(kong) <= TOP_LEVEL, set(kong) - TOP_LEVEL

    assert kong["services"], "no services"
    for service in kong["services"]:
        assert isinstance(service["name"], str) and service["name"]
        assert service["url"].startswith(("http://", "https://")), service["url"]
        assert service.get("routes"), f"service {service['name']} has no route"
    for route in all_routes(kong):
        assert isinstance(route["name"], str) and route["name"]
        assert isinstance(route["paths"], list) and route["paths"]
        assert all(isinstance(p, str) and p.startswith("/") for p in route["paths"]), route["paths"]
    for entry in all_plugins(kong):
        assert isinstance(entry["name"], str) and entry["name"]
        assert isinstance(entry["config"], dict), entry["name"]
    for consumer in kong["consumers"]:
        assert isinstance(consumer.get("username"), str) or isinstance(consumer.get("custom_id"), str)


def test_names_are_unique_and_every_reference_resolves(kong: dict[str, Any]):
    for entities in (kong["services"], all_routes(kong), kong["consumers"]):
        names = [e.get("name") or e.get("username") for e in entities]
        assert len(names) == len(set(names)), names
    usernames = {c["username"] for c in kong["consumers"]}
    anonymous = plugin(services(kong)[PROTECTED_SERVICE], "jwt")["anonymous"]
    assert anonymous in usernames, "the jwt plugin's anonymous consumer must exist"
    paths = [p for route in all_routes(kong) for p in route["paths"]]
    assert len(paths) == len(set(paths)), "two routes claim the same path"


def test_jwt_credentials_have_what_the_jwt_plugin_needs(kong: dict[str, Any]):
    secrets = jwt_secrets(kong)
    assert secrets
    for secret in secrets:
        assert set(secret) <= JWT_CREDENTIAL_FIELDS, secret
        assert isinstance(secret["key"], str) and secret["key"]
        assert secret["algorithm"] == "RS256"
        assert "secret" not in secret
        public = serialization.load_pem_public_key(secret["rsa_public_key"].encode())
        assert isinstance(public, rsa.RSAPublicKey)


def test_the_protected_service_has_the_three_plugins_in_kongs_order(kong: dict[str, Any]):
    protected = services(kong)[PROTECTED_SERVICE]
    assert {p["name"] for p in protected["plugins"]} == {"pre-function", "jwt", "post-function"}

    jwt = plugin(protected, "jwt")
    assert set(jwt) <= JWT_PLUGIN_FIELDS, set(jwt) - JWT_PLUGIN_FIELDS
    assert jwt["key_claim_name"] == "kid"
    assert "exp" in jwt["claims_to_verify"]
    for name in ("pre-function", "post-function"):
        config = plugin(protected, name)
        assert set(config) <= SERVERLESS_PHASES, set(config)
        assert isinstance(config["access"], list) and all(isinstance(code, str) for code in config["access"])

    pre = "\n".join(plugin(protected, "pre-function")["access"])
    assert "/api/auth/gateway/check" in pre
    assert 'clear_header("X-API-Key")' in pre
    post = "\n".join(plugin(protected, "post-function")["access"])
    for needed in ("ISSUER", "AUDIENCE", 'clear_header("Authorization")', '"anonymous"'):
        assert needed in post


def test_the_auth_service_is_open_and_its_gateway_contract_hidden(kong: dict[str, Any]):
    auth = services(kong)[AUTH_SERVICE]
    assert not auth.get("plugins")
    routes = {route["name"]: route for route in auth["routes"]}
    assert {"/api/auth", "/oauth", "/.well-known"} <= set(routes["outter-auth-public"]["paths"])
    assert not routes["outter-auth-public"].get("plugins")
    hidden = routes["outter-auth-gateway-contract"]
    assert {"/api/auth/gateway", "/api/auth/api-keys/verify"} <= set(hidden["paths"])
    assert plugin(hidden, "request-termination")["status_code"] == 404


def test_the_jwt_plugin_matches_what_keys_kong_config_renders(kong: dict[str, Any], app: Flask):
    rendered = yaml.safe_load(kong_config_output(app))
    (render_jwt,) = [p["config"] for p in rendered["plugins"] if p["name"] == "jwt"]
    ours = plugin(services(kong)[PROTECTED_SERVICE], "jwt")
    assert {name: ours.get(name) for name in render_jwt} == render_jwt
    (consumer,) = rendered["consumers"]
    assert consumer["username"] in {c["username"] for c in kong["consumers"] if "jwt_secrets" in c}


# -- regenerating the credentials ------------------------------------------------------------


def test_merge_replaces_the_credentials_with_the_rendered_ones_and_nothing_else(
    kong: dict[str, Any], app: Flask, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    script = load_merge_script()
    output = kong_config_output(app)
    jwks = {key["kid"] for key in app.test_client().get("/.well-known/jwks.json").get_json()["keys"]}

    monkeypatch.setattr(sys, "stdin", io.StringIO(output))
    assert script.main(["merge_jwt_secrets.py", str(KONG_YML)]) == 0
    merged = yaml.safe_load(capsys.readouterr().out)

    assert {s["key"] for s in jwt_secrets(merged)} == jwks
    assert "SAMPLE" not in yaml.safe_dump(jwt_secrets(merged))
    rendered_secrets = yaml.safe_load(output)["consumers"][0]["jwt_secrets"]
    assert jwt_secrets(merged) == rendered_secrets
    without_secrets = copy.deepcopy(merged)
    expected = copy.deepcopy(kong)
    for config in (without_secrets, expected):
        for consumer in config["consumers"]:
            consumer.pop("jwt_secrets", None)
    assert without_secrets == expected, "the merge changed more than the credentials"
    test_kong_yml_has_the_declarative_format_kong_requires(merged)
    test_jwt_credentials_have_what_the_jwt_plugin_needs(merged)


def test_merge_refuses_a_render_whose_jwt_settings_differ(kong: dict[str, Any], app: Flask):
    script = load_merge_script()
    rendered = yaml.safe_load(kong_config_output(app))
    rendered["plugins"][0]["config"]["key_claim_name"] = "iss"

    with pytest.raises(script.MergeError, match="key_claim_name"):
        script.merge(copy.deepcopy(kong), rendered)


def test_the_merged_file_keeps_the_lua_readable(kong: dict[str, Any], app: Flask):
    script = load_merge_script()
    merged = script.dump(script.merge(copy.deepcopy(kong), yaml.safe_load(kong_config_output(app))))
    # Block scalars, not one quoted line with escapes: the code stays reviewable.
    assert 'local http = require "resty.http"\n' in merged
    assert yaml.safe_load(merged)["services"] == kong["services"]


def test_the_readme_names_the_merge_script():
    readme = (DEPLOY / "kong" / "README.md").read_text()
    assert "merge_jwt_secrets.py" in readme and "keys kong-config" in readme
    assert MERGE_SCRIPT.exists()


# -- the Lua of the serverless plugins, against a stub of Kong's PDK ------------------------------

LUAJIT = shutil.which("luajit")


@pytest.fixture
def _luajit_installed() -> None:
    require(luajit_missing())


needs_luajit = pytest.mark.usefixtures("_luajit_installed")  # skipped without luajit, a failure under CI
ISSUER = "https://auth.outter.example"  # what post-function ships with
CHECK_URL = "http://outter-auth:8000/api/auth/gateway/check"

# Kong's PDK as far as the two functions use it, recording each call as one tab-separated line;
# kong.response.exit ends the run like it ends the request in Kong.
PDK_STUB = r"""
local scenario = __SCENARIO__
local function emit(...)
  local parts = { ... }
  for i = 1, select("#", ...) do parts[i] = tostring(parts[i]) end
  io.write(table.concat(parts, "\t"), "\n")
end
local EXIT = {}
kong = {
  request = { get_header = function(name) return (scenario.request_headers or {})[name:lower()] end },
  service = { request = {
    set_header = function(name, value) emit("set", name, value) end,
    clear_header = function(name) emit("clear", name) end,
  } },
  router = { get_route = function() return scenario.route and { name = scenario.route } or nil end },
  response = { exit = function(status, body, headers)
    emit("exit", status, headers and headers["WWW-Authenticate"] or "")
    error(EXIT)
  end },
  log = { err = function(...) emit("log", ...) end },
  client = {
    load_consumer = function(name, by_username)
      emit("load_consumer", name, by_username)
      return { id = "uuid-" .. name, username = name }
    end,
    authenticate = function(consumer, credential) emit("authenticate", consumer.username, credential.id) end,
    get_consumer = function() return scenario.consumer and { username = scenario.consumer } or nil end,
  },
  ctx = { shared = { authenticated_jwt_token = scenario.jwt } },
}
package.preload["resty.http"] = function()
  return { new = function()
    return {
      set_timeouts = function() end,
      request_uri = function(self, url, options)
        emit("request", url, options.method, options.headers["X-API-Key"], options.headers["X-Outter-Required-Scopes"])
        if not scenario.check then return nil, "connection refused" end
        local headers = setmetatable({}, { __index = function(t, k) return rawget(t, k:lower()) end })
        for name, value in pairs(scenario.check.headers or {}) do headers[name:lower()] = value end
        return { status = scenario.check.status, headers = headers }
      end,
    }
  end }
end
package.preload["kong.plugins.jwt.jwt_parser"] = function()
  return { new = function(self, token)
    if token == "" then return nil, "no token" end
    return { claims = scenario.claims }
  end }
end
local code = assert(io.open(arg[1])):read("*a")
local ok, err = pcall(assert(loadstring(code, "=plugin")))
if not ok and err ~= EXIT then emit("error", err) os.exit(1) end
if ok then emit("done") end
"""


def lua(value: Any) -> str:
    """A Lua literal for a JSON-like Python value."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, list):
        return "{ " + ", ".join(lua(item) for item in value) + " }"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in value.items() if v is not None) + " }"


def function_code(kong: dict[str, Any], name: str) -> str:
    (code,) = plugin(services(kong)[PROTECTED_SERVICE], name)["access"]
    assert isinstance(code, str)
    return code


def run_function(kong: dict[str, Any], name: str, tmp_path: Path, **scenario: Any) -> list[list[str]]:
    """Run one function's access code under the stub: the calls it made, in order."""
    assert LUAJIT is not None
    (tmp_path / "plugin.lua").write_text(function_code(kong, name))
    (tmp_path / "stub.lua").write_text(PDK_STUB.replace("__SCENARIO__", lua(scenario)))
    result = subprocess.run(
        [LUAJIT, str(tmp_path / "stub.lua"), str(tmp_path / "plugin.lua")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [line.split("\t") for line in result.stdout.splitlines()]


def calls(actions: list[list[str]], kind: str) -> list[list[str]]:
    return [action[1:] for action in actions if action[0] == kind]


@needs_luajit
@pytest.mark.parametrize("name", ["pre-function", "post-function"])
def test_the_lua_compiles_under_luajit(kong: dict[str, Any], name: str):
    assert LUAJIT is not None
    result = subprocess.run(
        [LUAJIT, "-e", "assert(loadstring(io.read('*a'), '=plugin'))"],
        input=function_code(kong, name),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


@needs_luajit
def test_pre_function_without_a_key_only_strips_identity_headers(kong: dict[str, Any], tmp_path: Path):
    actions = run_function(
        kong, "pre-function", tmp_path, route="outter-services", request_headers={"authorization": "Bearer x"}
    )

    assert [name for (name,) in calls(actions, "clear")] == [*IDENTITY_HEADERS, "X-Outter-Required-Scopes"]
    assert not calls(actions, "request") and not calls(actions, "set") and not calls(actions, "authenticate")
    assert actions[-1] == ["done"]


@needs_luajit
def test_pre_function_passes_a_valid_keys_identity_and_authenticates(kong: dict[str, Any], tmp_path: Path):
    check = {
        "status": 200,
        "headers": {
            "X-Outter-Tenant-Id": "ten_1",
            "X-Outter-Project-Id": "",
            "X-Outter-Environment": "live",
            "X-Outter-Scopes": "content:generate",
            "X-Outter-Key-Id": "key_1",
        },
    }
    actions = run_function(
        kong,
        "pre-function",
        tmp_path,
        route="outter-content",
        request_headers={"x-api-key": "outter_live_abc"},
        check=check,
    )

    assert calls(actions, "request") == [[CHECK_URL, "GET", "outter_live_abc", "content:generate"]]
    assert calls(actions, "set") == [
        ["X-Outter-Tenant-Id", "ten_1"],
        ["X-Outter-Environment", "live"],
        ["X-Outter-Scopes", "content:generate"],
        ["X-Outter-Key-Id", "key_1"],
    ]
    cleared_after_check = [name for (name,) in calls(actions, "clear")][len(IDENTITY_HEADERS) + 1 :]
    assert cleared_after_check == ["X-API-Key", "Authorization"]
    assert calls(actions, "authenticate") == [["outter-api-keys", "key_1"]]
    assert actions[-1] == ["done"]


@needs_luajit
@pytest.mark.parametrize(
    ("check", "status", "challenge"),
    [
        ({"status": 401}, "401", 'ApiKey realm="outter"'),
        ({"status": 403}, "403", ""),
        ({"status": 500}, "401", 'ApiKey realm="outter"'),
        (None, "503", ""),
    ],
)
def test_pre_function_refuses_what_the_service_refuses(
    kong: dict[str, Any], tmp_path: Path, check: dict[str, Any] | None, status: str, challenge: str
):
    actions = run_function(
        kong, "pre-function", tmp_path, route="outter-services", request_headers={"x-api-key": "k"}, check=check
    )

    assert calls(actions, "request") == [[CHECK_URL, "GET", "k", ""]]
    assert actions[-1] == ["exit", status, challenge]
    assert not calls(actions, "set") and not calls(actions, "authenticate")


USER_CLAIMS = {
    "iss": ISSUER,
    "aud": "outter-api",
    "sub": "usr_1",
    "sid": "ses_1",
    "tenant_id": "ten_1",
    "scope": "content:read content:generate",
}


@needs_luajit
@pytest.mark.parametrize(
    ("consumer", "claims", "route", "outcome"),
    [
        (None, None, "outter-services", ["exit", "401", 'Bearer realm="outter", ApiKey realm="outter"']),
        ("anonymous", None, "outter-services", ["exit", "401", 'Bearer realm="outter", ApiKey realm="outter"']),
        ("outter-api-keys", None, "outter-content", ["done"]),
        ("outter-auth-users", USER_CLAIMS, "outter-content", ["done"]),
        ("outter-auth-users", {**USER_CLAIMS, "aud": ["other", "outter-api"]}, "outter-services", ["done"]),
        ("outter-auth-users", {**USER_CLAIMS, "iss": "https://evil.example"}, "outter-services", ["exit", "401"]),
        ("outter-auth-users", {**USER_CLAIMS, "aud": "other-api"}, "outter-services", ["exit", "401"]),
        ("outter-auth-users", {**USER_CLAIMS, "aud": ["other-api"]}, "outter-services", ["exit", "401"]),
        ("outter-auth-users", {**USER_CLAIMS, "tenant_id": None}, "outter-services", ["exit", "401"]),
        ("outter-auth-users", {**USER_CLAIMS, "scope": "content:read"}, "outter-content", ["exit", "403", ""]),
    ],
)
def test_post_function_decides_by_consumer_and_claims(
    kong: dict[str, Any],
    tmp_path: Path,
    consumer: str | None,
    claims: dict[str, Any] | None,
    route: str,
    outcome: list[str],
):
    actions = run_function(
        kong, "post-function", tmp_path, consumer=consumer, claims=claims, route=route, jwt="a.b.c" if claims else None
    )

    assert actions[-1][: len(outcome)] == outcome
    if outcome[0] == "exit" or consumer != "outter-auth-users":
        assert not calls(actions, "set")


@needs_luajit
@pytest.mark.parametrize(
    ("claims", "subject_header"),
    [(USER_CLAIMS, "X-Outter-User-Id"), ({**USER_CLAIMS, "sid": None, "sub": "cli_1"}, "X-Outter-Client-Id")],
)
def test_post_function_passes_a_tokens_identity_and_strips_it(
    kong: dict[str, Any], tmp_path: Path, claims: dict[str, Any], subject_header: str
):
    actions = run_function(
        kong, "post-function", tmp_path, consumer="outter-auth-users", claims=claims, route="outter-services", jwt="t"
    )

    assert calls(actions, "set") == [
        ["X-Outter-Tenant-Id", "ten_1"],
        ["X-Outter-Scopes", claims["scope"]],
        [subject_header, claims["sub"]],
    ]
    assert [name for (name,) in calls(actions, "clear")] == ["Authorization", "X-API-Key"]
    assert actions[-1] == ["done"]
