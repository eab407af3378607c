"""``services.redirect_uris``: what may be registered, and when a requested URI matches."""

from __future__ import annotations

import pytest

from outter_auth.services.exceptions import InvalidInput
from outter_auth.services.redirect_uris import InvalidRedirectUri, check_redirect_uri, check_redirect_uris, matches

REGISTRABLE = [
    "https://app.example/callback",
    "https://app.example:8443/cb?tenant=acme",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:8000/callback",
    "http://[::1]/callback",
    "http://localhost:3000/callback",
    "com.example.app:/oauth2redirect",
    "io.outter.cli:/done",
]
REFUSED = [
    "",
    "callback",
    "/callback",
    "https://app.example/cb#fragment",
    "https://user@app.example/cb",
    "https://user:pw@app.example/cb",
    "http://app.example/callback",
    "http://127.0.0.1.evil.example/cb",
    "javascript:alert(1)",
    "data:text/html,hi",
    "file:///etc/passwd",
    "myapp:/callback",
    "https:///no-host",
    "https://app.example/with space",
    "https://app.example/\x00",
    "https://[::1/broken",
    "https://app.example/" + "a" * 2000,
]


@pytest.mark.parametrize("uri", REGISTRABLE)
def test_what_may_be_registered(uri: str):
    assert check_redirect_uri(uri) == uri


@pytest.mark.parametrize("uri", REFUSED)
def test_what_may_not_be_registered(uri: str):
    with pytest.raises(InvalidRedirectUri):
        check_redirect_uri(uri)


def test_a_list_is_deduplicated_and_refusals_name_the_field():
    assert check_redirect_uris(["https://a.example/", "https://a.example/"]) == ["https://a.example/"]
    with pytest.raises(InvalidInput) as refused:
        check_redirect_uris(["https://a.example/", "ftp://a.example/"], "post_logout_redirect_uris")
    assert refused.value.field == "post_logout_redirect_uris"


@pytest.mark.parametrize("public", [False, True])
def test_a_registered_uri_matches_itself_exactly(public: bool):
    registered = ["https://app.example/callback"]
    assert matches(registered, "https://app.example/callback", public=public)
    for other in ("https://app.example/callback/", "https://app.example/Callback", "https://app.example/callback?x"):
        assert not matches(registered, other, public=public), other


def test_loopback_ports_vary_for_public_clients_only():
    registered = ["http://127.0.0.1/callback", "http://[::1]:9000/cb"]
    assert matches(registered, "http://127.0.0.1:51004/callback", public=True)
    assert matches(registered, "http://[::1]:1/cb", public=True)
    assert not matches(registered, "http://127.0.0.1:51004/callback", public=False)
    for other in (
        "http://127.0.0.1:51004/other",
        "http://127.0.0.1:51004/callback?x=1",
        "http://[::1]:51004/callback",
        "http://localhost:51004/callback",
        "https://127.0.0.1:51004/callback",
        "http://127.0.0.1:0x50/callback",
        "http://127.0.0.1:70000/callback",
        "http://evil@127.0.0.1:51004/callback",
        "http://127.0.0.1:51004/callback#x",
    ):
        assert not matches(registered, other, public=True), other
