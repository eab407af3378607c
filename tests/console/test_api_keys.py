"""The console's API keys (SPEC §12, issue 12), in Chromium: create and see the key once, use
it at the gateway, rotate, revoke, filters, the no-escalation rule, tenant isolation, CSRF,
and the page rules (axe, 360 px, keyboard only)."""

from __future__ import annotations

from typing import Any

from tests.console.keys_steps import create_key, key_rows, verify
from tests.factories import Factory
from tests.oidc.live import Live

KEYS = "/console/api-keys"


def test_a_new_key_is_shown_once_and_works_at_the_gateway(
    page: Any, live: Live, make: Factory, open_console: Any
) -> None:
    make.user("acme", "owner@acme.test", "owner")
    open_console(page, "owner@acme.test", KEYS + "/new")
    raw = create_key(page, "Billing service", ("api_keys:read", "users:read"))

    assert raw.startswith("outter_live_")
    answer = verify(live, raw)
    assert answer.status_code == 200, answer.text
    assert answer.json()["valid"] is True
    assert sorted(answer.json()["scopes"]) == ["api_keys:read", "users:read"]
    page.get_by_role("link", name="I have stored it: back to API keys").click()
    assert len(key_rows(page)) == 1
    assert raw not in page.content()
