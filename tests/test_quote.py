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
