"""An independent OpenID Connect client, openid-client (Node.js, panva), signs a user in.

openid-client and the oauth4webapi checks under it are among the strictest relying parties:
discovery, the RFC 9207 ``iss`` of the answer (the document says it is always sent), state,
PKCE, the ID token's signature, ``iss``, ``aud``, ``azp``, ``exp``, ``iat``, ``nonce``,
``auth_time``, and the userinfo ``sub``. If it rejects anything, this test fails.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Factory
from tests.integration.servers import Echo, node_missing, require
from tests.oidc.browsing import back_at, choose, sign_in
from tests.oidc.live import Live, register, user

NODE_RP = Path(__file__).resolve().parent / "node"
EMAIL = "ada@acme.test"


@pytest.fixture(scope="module")
def node_rp() -> Path:
    require(node_missing())
    if not (NODE_RP / "node_modules" / "openid-client").exists():
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=NODE_RP, check=True, timeout=300)
    return NODE_RP


def rp(node_rp: Path, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        ["node", "rp.mjs", *args], cwd=node_rp, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, f"openid-client refused: {result.stderr[-2000:]}"
    return dict(json.loads(result.stdout))


def test_openid_client_accepts_the_whole_sign_in(node_rp: Path, live: Live, page: Any, site: Echo, make: Factory):
    member = user(make, EMAIL, "member", "acme")
    client = register(live.app, "Acme Node", site.base, scope="openid email")
    issuer = live.metadata["issuer"]
    started = rp(node_rp, "start", issuer, client.client_id, client.secret or "", client.redirect_uri)

    page.goto(started["url"])
    sign_in(page, EMAIL)
    choose(page, "Allow")
    callback = back_at(page, client.redirect_uri)

    done = rp(
        node_rp,
        "finish",
        issuer,
        client.client_id,
        client.secret or "",
        callback,
        started["state"],
        started["nonce"],
        started["verifier"],
    )
    assert done["claims"]["sub"] == member and done["claims"]["aud"] == client.client_id
    assert done["claims"]["nonce"] == started["nonce"]
    assert done["userinfo"] == {
        "sub": member,
        "tenant_id": done["claims"]["tenant_id"],
        "email": EMAIL,
        "email_verified": False,
    }
