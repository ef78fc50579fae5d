"""``issuer_chains``: the certificate copies dcap-qvl does not check must be the trust root.

Defect found by the tamper matrix: the root CA certificate at the end of the quote's PCK chain and
of the collateral's TCB-info and QE-identity issuer chains, and the whole PCK CRL issuer chain,
could be replaced by anything and the quote still verified.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.corpus import Case, case, forged
from verifier import Report, Status, TrustRoot, Verdict, load_evidence, verify
from verifier.quote import parse_td_quote

KMS = case("kms-uptodate")
DEMO = forged("demo")
#: A certificate that is not Intel's root: the demo's test root CA.
OTHER_ROOT = x509.load_der_x509_certificate(DEMO.trust_root or b"").public_bytes(Encoding.PEM)
SIG_LEN, CERT_SIZE = 48 + 584, 48 + 584 + 4 + 128 + 2


def _verify(c: Case, evidence: bytes | None = None, collateral: bytes | None = None) -> Report:
    root = TrustRoot.from_der(c.trust_root) if c.trust_root is not None else None
    return verify(
        evidence or c.evidence,
        collateral=collateral or c.collateral,
        at=c.at,
        chain_pem=c.chain,
        compose=c.compose,
        trust_root=root,
    )


def _finding(report: Report) -> tuple[Status, str]:
    finding = report.finding("issuer_chains")
    assert finding is not None
    return finding.status, finding.reason


def _pem_blocks(pem: bytes) -> list[bytes]:
    return [c.public_bytes(Encoding.PEM) for c in x509.load_pem_x509_certificates(pem)]


def _with_pck_chain(quote: bytes, pem: bytes) -> bytes:
    """``quote`` carrying ``pem`` as its PCK chain, every size field adjusted (padding dropped)."""
    old = parse_td_quote(quote).pck_chain_pem
    start = quote.index(old)
    delta = len(pem) - len(old)
    out = bytearray(quote[:start] + pem)
    for offset in (SIG_LEN, CERT_SIZE, start - 4):
        (size,) = struct.unpack_from("<I", out, offset)
        struct.pack_into("<I", out, offset, size + delta)
    return bytes(out)


def _kms_quote_edit(edit: Callable[[list[bytes]], list[bytes]]) -> bytes:
    quote = load_evidence(KMS.evidence).quote
    assert quote is not None
    blocks = _pem_blocks(parse_td_quote(quote).pck_chain_pem)
    document: dict[str, Any] = json.loads(KMS.evidence)
    document["quote"] = _with_pck_chain(quote, b"".join(edit(blocks))).hex()
    return json.dumps(document).encode()


def _kms_collateral_edit(key: str, value: str) -> bytes:
    document: dict[str, Any] = json.loads(KMS.collateral)
    document[key] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize("c", [KMS, case("app-uptodate"), case("plain-td"), DEMO], ids=str)
def test_authentic_chains_end_at_the_trust_root(c: Case) -> None:
    status, reason = _finding(_verify(c))
    assert status is Status.PASS, reason


def test_the_quotes_root_copy_must_be_the_trust_root() -> None:
    evidence = _kms_quote_edit(lambda blocks: [*blocks[:2], OTHER_ROOT])
    report = _verify(KMS, evidence=evidence)
    # dcap-qvl verifies the PCK chain up to its own anchor and never looks at the copy
    verified = report.finding("quote_verification")
    assert verified is not None and verified.status is Status.PASS
    status, reason = _finding(report)
    assert status is Status.FAIL and "the quote's PCK chain ends at another root" in reason
    assert report.verdict is Verdict.FAIL


def test_a_quote_chain_without_its_root_fails() -> None:
    status, reason = _finding(_verify(KMS, evidence=_kms_quote_edit(lambda b: b[:1])))
    assert status is Status.FAIL and "does not carry its root CA" in reason


def test_the_tcb_info_issuer_chains_root_copy_must_be_the_trust_root() -> None:
    chain = json.loads(KMS.collateral)["tcb_info_issuer_chain"].encode()
    signer = _pem_blocks(chain)[0]
    # the signer is not signed by the other root: the chain is broken before the roots compare
    collateral = _kms_collateral_edit("tcb_info_issuer_chain", (signer + OTHER_ROOT).decode())
    status, reason = _finding(_verify(KMS, collateral=collateral))
    assert status is Status.FAIL and "tcb_info_issuer_chain: certificate 0 is not signed" in reason


def test_a_collateral_chain_ending_at_another_root_fails() -> None:
    demo_collateral = json.loads(DEMO.collateral)
    collateral = _kms_collateral_edit(
        "qe_identity_issuer_chain", demo_collateral["qe_identity_issuer_chain"]
    )
    report = _verify(KMS, collateral=collateral)
    status, reason = _finding(report)
    assert status is Status.FAIL
    assert "qe_identity_issuer_chain ends at another root CA than the trust root" in reason


def test_the_pck_crl_issuer_chain_must_have_signed_the_pck_crl() -> None:
    # A valid chain to Intel's root, but not the PCK CRL's issuer (dcap-qvl never reads it).
    tcb_chain = json.loads(KMS.collateral)["tcb_info_issuer_chain"]
    report = _verify(KMS, collateral=_kms_collateral_edit("pck_crl_issuer_chain", tcb_chain))
    verified = report.finding("quote_verification")
    assert verified is not None and verified.status is Status.PASS
    status, reason = _finding(report)
    assert status is Status.FAIL and "PCK CRL is not signed" in reason


def test_a_pck_crl_issuer_chain_that_is_not_pem_fails() -> None:
    report = _verify(KMS, collateral=_kms_collateral_edit("pck_crl_issuer_chain", "nope"))
    status, reason = _finding(report)
    assert status is Status.FAIL and "pck_crl_issuer_chain is not a PEM certificate chain" in reason


def test_the_demo_chains_end_at_the_test_root_not_intels() -> None:
    report = verify(DEMO.evidence, collateral=DEMO.collateral, at=DEMO.at, chain_pem=DEMO.chain)
    status, reason = _finding(report)
    assert status is Status.FAIL and "another root CA than the trust root" in reason
