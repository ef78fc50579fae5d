"""The minimal DER encoder behind the PCK SGX extension and the dstack extension values."""

from __future__ import annotations

import pytest

from verifier.testing import der
from verifier.testing.forge import SGX_EXTENSION_OID


@pytest.mark.parametrize(
    ("value", "encoding"),
    [(0, "020100"), (127, "02017f"), (128, "02020080"), (255, "020200ff"), (300, "0202012c")],
)
def test_integers_are_minimal_twos_complement(value: int, encoding: str) -> None:
    assert der.integer(value).hex() == encoding


def test_enumerated_and_boolean() -> None:
    assert der.enumerated(1).hex() == "0a0101"
    assert der.boolean(True).hex() == "0101ff"
    assert der.boolean(False).hex() == "010100"


def test_oid_is_encoded_as_in_intel_pck_certificates() -> None:
    assert der.oid(SGX_EXTENSION_OID).hex() == "06092a864886f84d010d01"
    with pytest.raises(ValueError, match="not an object identifier"):
        der.oid("7.1")


def test_long_lengths_and_octet_strings_round_trip() -> None:
    long = der.octet_string(b"\x00" * 300)
    assert long[:4].hex() == "0482012c"
    assert der.read_octet_string(long) == b"\x00" * 300
    assert der.read_octet_string(der.octet_string(b"ab")) == b"ab"
    assert der.sequence([der.integer(1), der.integer(2)]).hex() == "3006020101020102"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x30\x00", "not a DER OCTET STRING"),
        (b"\x04\x05ab", "does not cover"),
        (b"\x04\x80", "bad DER length"),
        (b"\x04", "not a DER OCTET STRING"),
    ],
)
def test_malformed_octet_strings_are_refused(raw: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        der.read_octet_string(raw)
