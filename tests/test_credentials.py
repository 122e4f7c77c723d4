"""Secrets as plain functions: format, prefix per kind, entropy, checksum, find()."""

import math
import string
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenapp import credentials

# Plain functions: no test here reaches the database, so the PostgreSQL pass leaves them out.
pytestmark = pytest.mark.backend_independent

KINDS = [("pat", "tkp_"), ("export", "tke_"), ("full", "tkf_")]
ALPHABET = string.digits + string.ascii_letters


@pytest.mark.parametrize(("kind", "prefix"), KINDS)
def test_minted_secret_has_its_kinds_prefix_and_parses_back(kind, prefix):
    secret = credentials.mint(kind)
    assert secret.startswith(prefix)
    assert set(secret[4:]) <= set(ALPHABET)
    parsed = credentials.parse(secret)
    assert parsed.kind == kind
    assert parsed.secret == secret


def test_random_part_carries_at_least_160_bits():
    assert credentials.RANDOM_LENGTH * math.log2(len(credentials.ALPHABET)) >= 160
    assert len({credentials.mint("pat") for _ in range(200)}) == 200


@pytest.mark.parametrize(("kind", "_prefix"), KINDS)
def test_flipped_character_fails_the_checksum(kind, _prefix):
    secret = credentials.mint(kind)
    position = 10
    flipped = "a" if secret[position] != "a" else "b"
    with pytest.raises(credentials.MalformedSecret):
        credentials.parse(secret[:position] + flipped + secret[position + 1 :])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tkp_",
        "tkx_" + "a" * 36,
        "tkp_" + "a" * 35,
        "tkp_" + "a" * 37,
        "tkp_" + "a" * 35 + "!",
        "TKP_" + "a" * 36,
    ],
    ids=["empty", "prefix-only", "unknown-prefix", "short", "long", "bad-alphabet", "upper-prefix"],
)
def test_parse_refuses_what_is_not_a_secret(text):
    with pytest.raises(credentials.MalformedSecret):
        credentials.parse(text)


def test_digest_is_sha256_hex_and_hint_is_a_short_prefix():
    secret = credentials.mint("full")
    assert len(credentials.digest(secret)) == 64
    assert credentials.digest(secret) != credentials.digest(credentials.mint("full"))
    assert credentials.hint(secret) == secret[:8]


def test_find_reports_real_secrets_and_skips_look_alikes():
    pat, key = credentials.mint("pat"), credentials.mint("export")
    bad_checksum = pat[:-1] + ("A" if pat[-1] != "A" else "B")
    glued = "x" + credentials.mint("full")
    text = f"token={pat}\n{bad_checksum} and {glued} and KEY='{key}'"
    assert credentials.find(text) == [(6, pat), (text.index(key), key)]


@given(st.sampled_from(["pat", "export", "full"]))
def test_property_mint_then_parse_round_trips(kind):
    secret = credentials.mint(kind)
    assert credentials.parse(secret).kind == kind
    assert credentials.find(f" {secret} ") == [(1, secret)]


@given(
    kind=st.sampled_from(["pat", "export", "full"]),
    position=st.integers(min_value=0, max_value=39),
    replacement=st.characters(codec="utf-8"),
)
def test_property_any_single_character_change_is_refused(kind, position, replacement):
    secret = credentials.mint(kind)
    if secret[position] == replacement:
        replacement = "0" if secret[position] != "0" else "1"
    mutated = secret[:position] + replacement + secret[position + 1 :]
    with pytest.raises(credentials.MalformedSecret):
        credentials.parse(mutated)


def test_the_checksum_is_crc32_in_six_base62_digits():
    # Written out digit by digit, as the format says (credentials.checksum uses a table).
    def base62(number: int) -> str:
        digits = ""
        for _ in range(credentials.CHECKSUM_LENGTH):
            number, rest = divmod(number, 62)
            digits = credentials.ALPHABET[rest] + digits
        return digits

    heads = ["tkp_", "tke_" + "z" * 30, "tkf_" + "0" * 30]
    heads += [credentials.mint("pat")[: -credentials.CHECKSUM_LENGTH] for _ in range(2000)]
    for head in heads:
        assert credentials.checksum(head) == base62(zlib.crc32(head.encode())), head
