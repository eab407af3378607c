"""What an admin does on the console's API-key pages, and what the gateway then says."""

from __future__ import annotations

from datetime import date
from typing import Any

import requests
from flask import Flask

from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.services import api_keys, key_usage, tenancy
from outter_auth.services.api_keys import KeyDraft
from outter_auth.services.ceilings import Caller
from tests.oidc.live import Live


def create_key(page: Any, name: str, scopes: tuple[str, ...] = ("api_keys:read",), **choices: str) -> str:
    """Fill the create form (on it already) and send it; returns the key shown once."""
    page.get_by_label("Name", exact=True).fill(name)
    for scope in scopes:
        page.get_by_label(scope).check()
    if "other_scopes" in choices:
        page.get_by_label("Other scopes").fill(choices["other_scopes"])
    if "environment" in choices:
        page.get_by_label(choices["environment"], exact=True).check()
    page.get_by_role("button", name="Create key").click()
    return str(page.get_by_test_id("new-secret").inner_text().strip())


def verify(live: Live, key: str) -> requests.Response:
    """The gateway's answer about ``key`` (SPEC §7)."""
    return requests.post(live.base + "/api/auth/api-keys/verify", headers={"X-API-Key": key}, timeout=10)


def csrf_token(page: Any) -> str:
    return str(page.locator("input[name=csrf_token]").first.get_attribute("value"))


def key_rows(page: Any) -> dict[str, str]:
    """key id -> the state its row shows."""
    rows = page.get_by_test_id("api-key-row")
    return {
        rows.nth(i).get_attribute("data-key-id"): rows.nth(i).get_attribute("data-state") for i in range(rows.count())
    }


def stored_keys(app: Flask, tenant_slug: str) -> list[ApiKey]:
    with app.app_context():
        tenant = tenancy.find_tenant(db.session, tenant_slug)
        assert tenant is not None
        caller = Caller(tenant.id, "cli")
        keys = list(db.session.scalars(api_keys.keys_query(caller, include_revoked=True)))
        db.session.expunge_all()
        return keys


def make_key(app: Flask, tenant_slug: str, name: str = "made elsewhere", **draft: Any) -> tuple[str, str]:
    """A key made through the service (as the CLI would): (id, raw key)."""
    with app.app_context():
        tenant = tenancy.find_tenant(db.session, tenant_slug) or tenancy.create_tenant(db.session, tenant_slug)
        state = app.extensions["outter_auth"]
        draft = {"scopes": ["api_keys:read"], **draft}
        key, raw = api_keys.create_key(
            db.session, Caller(tenant.id, "cli"), KeyDraft(name, **draft), peppers=state.peppers
        )
        return key.id, raw


def add_usage(app: Flask, key_id: str, counts: dict[date, tuple[int, int]]) -> None:
    """Usage as the gateway's writer adds it (``verified``, ``refused`` per UTC day)."""
    with app.app_context():
        batch = key_usage.UsageBatch(counts={(key_id, day): list(vr) for day, vr in counts.items()})
        key_usage.write_usage(db.session, batch)
