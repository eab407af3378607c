"""The one list of grant types and the rules a client's registration must follow."""

from __future__ import annotations

import pytest

from outter_auth.services.exceptions import InvalidInput
from outter_auth.services.grant_types import GRANT_TYPES, NAMES, check_grant_types


def test_the_supported_grants_are_exactly_these():
    # Spelled out, not derived: adding a grant must be a decision this test is told about.
    assert NAMES == ("authorization_code", "refresh_token", "client_credentials", "password")
    assert [name for name, grant in GRANT_TYPES.items() if grant.first_party_only] == ["password"]
    assert [name for name, grant in GRANT_TYPES.items() if grant.confidential_only] == ["client_credentials"]
    assert [name for name, grant in GRANT_TYPES.items() if grant.redirects] == ["authorization_code"]


@pytest.mark.parametrize(
    ("grants", "public", "first_party", "expected"),
    [
        pytest.param(["client_credentials"], False, False, ["client_credentials"], id="machine"),
        pytest.param(["refresh_token"], True, False, ["refresh_token"], id="public-refresh-only"),
        pytest.param(["password", "refresh_token"], True, True, ["password", "refresh_token"], id="first-party-public"),
        pytest.param(["password"], False, True, ["password"], id="first-party-confidential"),
        pytest.param(
            ["refresh_token", "client_credentials", "refresh_token", "client_credentials"],
            False,
            False,
            ["refresh_token", "client_credentials"],
            id="duplicates-dropped-order-kept",
        ),
        pytest.param(iter(["client_credentials"]), False, False, ["client_credentials"], id="any-iterable"),
    ],
)
def test_allowed(grants, public, first_party, expected):
    assert check_grant_types(grants, public=public, first_party=first_party) == expected


@pytest.mark.parametrize(
    ("grants", "public", "first_party", "message"),
    [
        pytest.param([], False, False, "give at least one grant type", id="none"),
        pytest.param(
            ["implicit"],
            False,
            False,
            "unsupported grant type 'implicit'; use authorization_code, refresh_token, client_credentials, password",
            id="unknown",
        ),
        pytest.param(["client_credentials", "x" * 100], False, False, repr("x" * 40) + ";", id="long-name-cut"),
        pytest.param(["password"], False, False, "the password grant is for first-party clients only", id="password"),
        pytest.param(
            ["refresh_token", "password"], True, False, "for first-party clients only", id="password-among-others"
        ),
        pytest.param(
            ["client_credentials"],
            True,
            True,
            "a public client has no secret, so it cannot use client_credentials",
            id="public-machine",
        ),
    ],
)
def test_refused(grants, public, first_party, message):
    with pytest.raises(InvalidInput) as refused:
        check_grant_types(grants, public=public, first_party=first_party)

    assert message in str(refused.value)
    assert refused.value.field == "grant_types"


def test_a_grant_that_redirects_needs_a_redirect_uri():
    """SPEC §11: the code grant sends the browser back; without a redirect URI it cannot."""
    for public in (False, True):
        allowed = check_grant_types(["authorization_code"], public=public, first_party=False, redirect_uris=["x"])
        assert allowed == ["authorization_code"]
    assert check_grant_types(["authorization_code"], public=False, first_party=False) == ["authorization_code"]
    with pytest.raises(InvalidInput) as refused:
        check_grant_types(["authorization_code"], public=False, first_party=False, redirect_uris=[])
    assert refused.value.field == "redirect_uris" and "needs at least one redirect URI" in str(refused.value)
