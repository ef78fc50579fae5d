"""Structural parsing of TDX quotes against dcap-qvl's own parser, on real quotes."""

from __future__ import annotations

import dcap_qvl
import pytest

from tests.corpus import CASES, RAW_DIR
from verifier.evidence import load_evidence
from verifier.quote import QuoteFormatError, parse_td_quote

QUOTES = {c.name: load_evidence(c.evidence).quote for c in CASES}
QUOTES["raw-tdx_quote"] = (RAW_DIR / "dcap-qvl" / "tdx_quote").read_bytes()


@pytest.mark.parametrize("name", sorted(QUOTES))
def test_fields_equal_dcap_qvl_parse(name: str) -> None:
    raw = QUOTES[name]
    assert raw is not None
    ours = parse_td_quote(raw)
    theirs = dcap_qvl.parse_quote(raw).report
    assert ours.mr_td == theirs.mr_td
    assert ours.rtmr == (theirs.rt_mr0, theirs.rt_mr1, theirs.rt_mr2, theirs.rt_mr3)
    assert ours.report_data == theirs.report_data
    assert ours.mr_config_id == theirs.mr_config_id
    assert ours.td_attributes == theirs.td_attributes
    assert ours.xfam == theirs.xfam
    assert ours.mr_seam == theirs.mr_seam
    assert ours.mr_signer_seam == theirs.mr_signer_seam
    assert ours.tee_tcb_svn == theirs.tee_tcb_svn
    assert not ours.debug


def test_trailing_padding_is_tolerated() -> None:
    raw = QUOTES["plain-td"]
    assert raw is not None
    assert parse_td_quote(raw + bytes(100)).mr_td == parse_td_quote(raw).mr_td


def test_debug_bit() -> None:
    raw = bytearray(QUOTES["plain-td"] or b"")
    raw[48 + 16 + 48 + 48 + 8] |= 0x01  # TD_ATTRIBUTES byte 0
    assert parse_td_quote(bytes(raw)).debug


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda q: q[:600], "too short"),
        (lambda q: q[:4] + b"\x00\x00\x00\x00" + q[8:], "not TDX"),
        (lambda q: b"\x03\x00" + q[2:], "version 3"),
        (lambda q: b"", "too short"),
    ],
)
def test_not_a_tdx_quote(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(QuoteFormatError, match=message):
        parse_td_quote(mutate(QUOTES["plain-td"]))


# --- the signature data's layout (defects found by the tamper matrix) -----------------------
# dcap-qvl tolerated these: the bytes are not covered by the quote signature, so a quote could
# differ from the one it claims to be without any check noticing.

SIG_LEN = 48 + 584  # u32 signature data length
CERT_TYPE = SIG_LEN + 4 + 64 + 64  # u16 certification data type


def _plain() -> bytearray:
    raw = QUOTES["plain-td"]
    assert raw is not None
    return bytearray(raw)


def test_certification_data_that_is_not_a_qe_report_is_refused() -> None:
    raw = _plain()
    raw[CERT_TYPE] = 7
    with pytest.raises(QuoteFormatError, match="certification data type 7 is not 6"):
        parse_td_quote(bytes(raw))


def test_signature_data_length_that_overshoots_its_contents_is_refused() -> None:
    raw = _plain()  # real quotes are zero-padded: one more byte still fits in the quote
    raw[SIG_LEN] += 1
    with pytest.raises(QuoteFormatError, match="does not fill the signature data"):
        parse_td_quote(bytes(raw))


def test_signature_data_length_past_the_end_is_refused() -> None:
    raw = _plain()
    raw[SIG_LEN + 3] = 0x7F
    with pytest.raises(QuoteFormatError, match="runs past the end"):
        parse_td_quote(bytes(raw))


def test_non_zero_bytes_after_the_signature_data_are_refused() -> None:
    raw = _plain()
    raw[-1] = 1
    with pytest.raises(QuoteFormatError, match="not zero padding"):
        parse_td_quote(bytes(raw))


def test_pck_certification_data_size_must_fill_the_certification_data() -> None:
    raw = _plain()
    pck_size = bytes(raw).index(b"-----BEGIN CERTIFICATE-----") - 4
    raw[pck_size] ^= 1
    with pytest.raises(QuoteFormatError, match="PCK certification data size"):
        parse_td_quote(bytes(raw))


def test_the_pck_chain_is_the_pem_the_quote_carries() -> None:
    raw = QUOTES["plain-td"]
    assert raw is not None
    pem = parse_td_quote(raw).pck_chain_pem
    theirs = dcap_qvl.parse_quote(raw).cert_chain_pem_bytes()
    assert theirs is not None and pem.rstrip(b"\0") == theirs.rstrip(b"\0")
    assert pem.count(b"-----BEGIN CERTIFICATE-----") == 3
