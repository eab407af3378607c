"""The API key format (SPEC §6), checked against an independent implementation.

``outter_(live|test)_`` + 32 random base62 characters + a 6-character checksum:
``zlib.crc32`` of everything before it, in base62 (``0-9A-Za-z``), left-padded with
``0``. The checksum is recomputed here from the SPEC text, not with the service's code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import string
import zlib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.services import api_key_format
from outter_auth.services.api_key_format import MalformedApiKey, ParsedKey
from outter_auth.services.digests import secret_digest
from tests.api_key_helpers import create_key, plain_pepper_hashes

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase  # SPEC: 0-9A-Za-z, in this order
SPEC_PATTERN = re.compile(r"outter_(live|test)_[0-9A-Za-z]{38}")
ENVIRONMENTS = ("live", "test")
PREFIX_LENGTH = len("outter_live_")  # 12

environments = st.sampled_from(ENVIRONMENTS)
random_parts = st.text(alphabet=BASE62, min_size=32, max_size=32)


def spec_checksum(body: str) -> str:
    number = zlib.crc32(body.encode("utf-8")) & 0xFFFFFFFF
    digits = ""
    while number:
        number, remainder = divmod(number, 62)
        digits = BASE62[remainder] + digits
    return digits.rjust(6, "0")


def spec_key(environment: str, random_part: str) -> str:
    body = f"outter_{environment}_{random_part}"
    return body + spec_checksum(body)


def assert_malformed(value: object) -> None:
    with pytest.raises(MalformedApiKey):
        api_key_format.parse(value)


# --- generated keys ----------------------------------------------------------------------


@settings(max_examples=300)
@given(environment=environments)
def test_every_generated_key_has_the_spec_shape_and_parses(environment):
    key = api_key_format.generate(environment)

    assert isinstance(key, str)
    assert len(key) == 50
    assert SPEC_PATTERN.fullmatch(key)
    assert key.startswith(f"outter_{environment}_")
    assert key[-6:] == spec_checksum(key[:-6])
    parsed = api_key_format.parse(key)
    assert parsed.raw == key
    assert parsed.environment == environment
    assert parsed.display_prefix == key[:16]
    assert parsed.last4 == key[-4:]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_generated_keys_are_random(environment):
    keys = {api_key_format.generate(environment)[PREFIX_LENGTH:-6] for _ in range(1000)}

    assert len(keys) == 1000
    # every base62 character shows up in 32000 random characters (a fixed or narrow alphabet would not)
    assert set("".join(keys)) == set(BASE62)


@pytest.mark.parametrize("environment", ["prod", "LIVE", "", "live_", None])
def test_generate_refuses_other_environments(environment):
    with pytest.raises(ValueError):
        api_key_format.generate(environment)


@given(environment=environments, random_part=random_parts)
@example(environment="live", random_part="0" * 32)
@example(environment="test", random_part="z" * 32)
def test_any_well_formed_key_parses(environment, random_part):
    key = spec_key(environment, random_part)

    parsed = api_key_format.parse(key)

    assert (parsed.raw, parsed.environment) == (key, environment)


@given(environment=environments, random_part=random_parts)
def test_the_checksum_is_crc32_in_base62_padded_to_6(environment, random_part):
    body = f"outter_{environment}_{random_part}"

    assert api_key_format.checksum(body) == spec_checksum(body)
    assert len(spec_checksum(body)) == 6


@pytest.mark.parametrize(
    ("body", "crc"),
    [
        pytest.param("", 0, id="zero-is-padded"),
        pytest.param("a", zlib.crc32(b"a"), id="a"),
        pytest.param("outter_live_" + "0" * 32, zlib.crc32(b"outter_live_" + b"0" * 32), id="all-zero-key"),
    ],
)
def test_checksum_known_values(body, crc):
    number, digits = crc, ""
    while number:
        number, remainder = divmod(number, 62)
        digits = BASE62[remainder] + digits
    assert api_key_format.checksum(body) == digits.rjust(6, "0")
    assert api_key_format.checksum("") == "000000"


# --- mistyped keys -----------------------------------------------------------------------


@settings(max_examples=300)
@given(data=st.data(), environment=environments, random_part=random_parts)
def test_any_single_substitution_in_random_part_or_checksum_is_malformed(data, environment, random_part):
    key = spec_key(environment, random_part)
    position = data.draw(st.integers(min_value=PREFIX_LENGTH, max_value=len(key) - 1), label="position")
    replacement = data.draw(st.sampled_from([c for c in BASE62 if c != key[position]]), label="replacement")
    mistyped = key[:position] + replacement + key[position + 1 :]

    assert SPEC_PATTERN.fullmatch(mistyped)  # still looks like a key: only the checksum can tell
    assert_malformed(mistyped)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_single_substitution_of_a_generated_key_is_malformed(environment):
    """Exhaustively: 38 positions x 61 other characters, for a freshly generated key."""
    key = api_key_format.generate(environment)
    accepted = []
    for position in range(PREFIX_LENGTH, len(key)):
        for replacement in BASE62:
            if replacement == key[position]:
                continue
            mistyped = key[:position] + replacement + key[position + 1 :]
            try:
                api_key_format.parse(mistyped)
            except MalformedApiKey:
                continue
            accepted.append((position, replacement))
    assert accepted == []


@given(environment=environments, random_part=random_parts, data=st.data())
def test_swapping_two_different_characters_is_malformed(environment, random_part, data):
    key = spec_key(environment, random_part)
    i = data.draw(st.integers(PREFIX_LENGTH, len(key) - 2), label="i")
    if key[i] == key[i + 1]:
        return
    swapped = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    assert_malformed(swapped)


@given(random_part=random_parts)
def test_the_checksum_covers_the_environment(random_part):
    live = spec_key("live", random_part)
    relabelled = "outter_test_" + live[PREFIX_LENGTH:]

    assert_malformed(relabelled)


VALID = spec_key("live", "Ab3d" + "x" * 28)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Outter_live_" + VALID[12:], id="capitalised-prefix"),
        pytest.param("OUTTER_LIVE_" + VALID[12:], id="upper-prefix"),
        pytest.param("outer_live_" + VALID[12:] + "x", id="misspelt-prefix"),
        pytest.param("outter-live-" + VALID[12:], id="dashes"),
        pytest.param("outter_prod_" + VALID[12:], id="prod-environment"),
        pytest.param("outter_" + VALID[12:] + "xxxxx", id="no-environment"),
        pytest.param("sk_live_" + VALID[12:] + "xxxx", id="other-vendor-prefix"),
        pytest.param(" " + VALID, id="leading-space"),
        pytest.param(VALID + " ", id="trailing-space"),
        pytest.param(VALID + "\n", id="trailing-newline"),
        pytest.param(VALID[:-1], id="one-short"),
        pytest.param(VALID[:20], id="too-short"),
        pytest.param(VALID + "0", id="one-long"),
        pytest.param(VALID + VALID, id="twice"),
        pytest.param("", id="empty"),
        pytest.param(VALID[:12], id="prefix-only"),
        pytest.param(VALID[:30] + "-" + VALID[31:], id="dash-in-random-part"),
        pytest.param(VALID[:30] + "_" + VALID[31:], id="underscore-in-random-part"),
        pytest.param(VALID[:30] + "+" + VALID[31:], id="plus"),
        pytest.param(VALID[:30] + "/" + VALID[31:], id="slash"),
        pytest.param(VALID[:30] + "é" + VALID[31:], id="accented-letter"),
        pytest.param(VALID[:30] + "٣" + VALID[31:], id="arabic-indic-digit"),
        pytest.param(VALID[:30] + "\x00" + VALID[31:], id="nul"),
        pytest.param(VALID[:-1] + "=", id="padding-char-in-checksum"),
        pytest.param(VALID.upper(), id="upper-cased"),
        pytest.param(VALID.lower(), id="lower-cased"),
        pytest.param(None, id="none"),
        pytest.param(12345, id="int"),
        pytest.param(VALID.encode(), id="bytes"),
        pytest.param(bytearray(VALID.encode()), id="bytearray"),
        pytest.param([VALID], id="list"),
        pytest.param({"key": VALID}, id="dict"),
    ],
)
def test_wrong_prefix_length_alphabet_or_type_is_malformed(value):
    assert api_key_format.parse(VALID).raw == VALID  # the base key itself is fine
    assert_malformed(value)


@settings(max_examples=500)
@given(value=st.one_of(st.text(max_size=60), st.text(alphabet=BASE62 + "_", min_size=50, max_size=50)))
def test_parse_accepts_exactly_the_spec_keys(value):
    """For any text: parse succeeds iff it matches the SPEC pattern and its checksum."""
    expected = bool(SPEC_PATTERN.fullmatch(value)) and value[-6:] == spec_checksum(value[:-6])
    try:
        api_key_format.parse(value)
    except MalformedApiKey:
        assert not expected
    else:
        assert expected


@given(random_part=random_parts, environment=environments)
def test_the_published_pattern_matches_the_spec(random_part, environment):
    key = spec_key(environment, random_part)

    assert api_key_format.KEY_PATTERN.fullmatch(key)
    assert api_key_format.KEY_PATTERN.pattern == SPEC_PATTERN.pattern
    assert api_key_format.KEY_LENGTH == 50


# --- the key does not leak ---------------------------------------------------------------


@given(environment=environments, random_part=random_parts)
def test_parsed_key_repr_and_str_do_not_contain_the_key(environment, random_part):
    key = spec_key(environment, random_part)
    parsed = api_key_format.parse(key)

    for text in (repr(parsed), str(parsed), f"{parsed}", f"{parsed!r}"):
        assert key not in text
        assert random_part not in text


def test_malformed_error_does_not_echo_the_input():
    mistyped = VALID[:-1] + ("0" if VALID[-1] != "0" else "1")
    with pytest.raises(MalformedApiKey) as info:
        api_key_format.parse(mistyped)
    assert mistyped not in str(info.value) and mistyped[12:-6] not in repr(info.value)


def test_parsed_key_is_immutable():
    parsed = api_key_format.parse(VALID)
    with pytest.raises(AttributeError):
        parsed.raw = "x"  # type: ignore[misc]
    assert isinstance(parsed, ParsedKey)


# --- what the database stores ------------------------------------------------------------


def stored_row(app, key_id: str) -> tuple[bytes, str, str, str]:
    with app.app_context():
        row = db.session.execute(
            select(ApiKey.digest, ApiKey.pepper_id, ApiKey.prefix, ApiKey.last4).where(ApiKey.id == key_id)
        ).one()
        db.session.rollback()
        return bytes(row[0]), row[1], row[2], row[3]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_database_stores_the_sha256_of_the_key_without_a_pepper(app, client, owner, environment):
    created = create_key(client, owner.headers, environment=environment)
    raw = created["key"]

    digest, _, prefix, last4 = stored_row(app, created["id"])

    assert digest == hashlib.sha256(raw.encode("utf-8")).digest()  # the test config has no pepper
    assert digest == secret_digest(raw, "")
    assert (prefix, last4) == (raw[:16], raw[-4:])


PEPPER = "format-test-pepper-0123456789abcdefghij"


@pytest.fixture
def peppered_app(base_config, app):
    peppered = create_app({**base_config, "api_key_pepper": PEPPER})
    yield peppered
    with peppered.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_database_stores_the_hmac_sha256_of_the_key_under_the_pepper(peppered_app, client, owner):
    created = create_key(peppered_app.test_client(), owner.headers)
    raw = created["key"]

    digest, pepper_id, _, _ = stored_row(peppered_app, created["id"])

    assert digest == hmac.new(PEPPER.encode("utf-8"), raw.encode("utf-8"), hashlib.sha256).digest()
    assert digest == secret_digest(raw, PEPPER)
    assert digest != hashlib.sha256(raw.encode("utf-8")).digest()
    # pepper_id tells which pepper made the digest, and nothing about the pepper (issue 17, F11).
    assert PEPPER not in pepper_id
    assert pepper_id not in plain_pepper_hashes(PEPPER)
    assert stored_row(peppered_app, create_key(peppered_app.test_client(), owner.headers)["id"])[1] == pepper_id
    assert stored_row(peppered_app, create_key(client, owner.headers)["id"])[1] != pepper_id  # no pepper


@given(random_part=random_parts, pepper=st.text(st.characters(exclude_categories=("Cs",)), max_size=40))
def test_secret_digest_is_hmac_sha256_or_plain_sha256(random_part, pepper):
    raw = spec_key("live", random_part)
    expected = (
        hmac.new(pepper.encode("utf-8"), raw.encode("utf-8"), hashlib.sha256).digest()
        if pepper
        else hashlib.sha256(raw.encode("utf-8")).digest()
    )
    assert secret_digest(raw, pepper) == expected
