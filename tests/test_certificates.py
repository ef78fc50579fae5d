"""Certificate chain logic: the API's description (claims) and the real PEM chain."""

from __future__ import annotations

import base64
import json
from datetime import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.corpus import case
from verifier.certificates import (
    check_api_chain,
    check_api_validity,
    check_extensions,
    check_fingerprints,
    check_kms_root,
    check_metadata,
    check_report_data,
    check_signatures,
    der_octet_string,
    load_pem_chain,
)
from verifier.errors import InputError
from verifier.evidence import load_evidence
from verifier.evidence.phala import Certificate
from verifier.findings import Status

APP = case("app-uptodate")
EVIDENCE = load_evidence(APP.evidence)
CERTS = EVIDENCE.certificates
CHAIN = load_pem_chain(APP.chain or b"")
AT = APP.at


def edited(index: int, **changes: object) -> tuple[Certificate, ...]:
    certs = list(CERTS)
    data = certs[index].model_dump()
    for dotted, value in changes.items():
        target = data
        *path, last = dotted.split("__")
        for part in path:
            target = target[part]
        target[last] = value
    certs[index] = Certificate.model_validate(data)
    return tuple(certs)


def test_real_chain_links() -> None:
    assert check_api_chain(CERTS).status is Status.PASS


def test_issuer_that_is_not_the_next_subject_breaks_the_chain() -> None:
    finding = check_api_chain(edited(0, issuer__common_name="Dstack Rogue CA"))
    assert finding.status is Status.FAIL
    assert "issuer" in finding.reason and finding.actual is not None
    assert "Dstack Rogue CA" in finding.actual


def test_positions_must_be_contiguous_from_zero() -> None:
    finding = check_api_chain(edited(2, position_in_chain=5))
    assert finding.status is Status.FAIL and "positions" in finding.reason


def test_an_issuer_must_be_a_ca() -> None:
    assert check_api_chain(edited(1, is_ca=False)).status is Status.FAIL


def test_the_leaf_must_carry_the_quote() -> None:
    assert check_api_chain(edited(0, quote=None)).status is Status.FAIL


def test_positions_decide_the_order_not_the_list() -> None:
    assert check_api_chain(tuple(reversed(CERTS))).status is Status.PASS


def test_no_certificates_is_a_skip() -> None:
    assert check_api_chain(()).status is Status.SKIP


def test_validity_window() -> None:
    assert check_api_validity(CERTS, AT).status is Status.PASS
    late = datetime.fromisoformat("2040-01-01T00:00:00Z")
    finding = check_api_validity(CERTS, late)
    assert finding.status is Status.FAIL and finding.actual == "2040-01-01T00:00:00Z"


def test_real_pem_chain_verifies_and_matches_the_api() -> None:
    assert check_signatures(CHAIN).status is Status.PASS
    assert check_fingerprints(CHAIN, CERTS).status is Status.PASS
    assert check_metadata(CHAIN, CERTS).status is Status.PASS


def test_pem_chain_out_of_order_fails_signatures() -> None:
    certs = CHAIN.certificates
    swapped = load_pem_chain(
        b"".join(c.public_bytes(Encoding.PEM) for c in (certs[1], certs[0], certs[2]))
    )
    assert check_signatures(swapped).status is Status.FAIL


def test_api_fingerprint_lie_is_caught() -> None:
    finding = check_fingerprints(CHAIN, edited(0, fingerprint="00" * 32))
    assert finding.status is Status.FAIL


def test_api_metadata_lie_is_caught() -> None:
    finding = check_metadata(CHAIN, edited(1, serial_number="01"))
    assert finding.status is Status.FAIL and "serial_number" in finding.reason


def test_extensions_match_the_evidence() -> None:
    events = [
        e.model_dump(include={"imr", "event_type", "digest", "event", "event_payload"})
        for e in EVIDENCE.events
    ]
    assert check_extensions(CHAIN, EVIDENCE.quote, events, CERTS[0]).status is Status.PASS
    assert EVIDENCE.quote is not None
    flipped = bytearray(EVIDENCE.quote)
    flipped[650] ^= 1
    assert check_extensions(CHAIN, bytes(flipped), events, CERTS[0]).status is Status.FAIL
    events[3]["event_payload"] = "00"
    assert check_extensions(CHAIN, EVIDENCE.quote, events, CERTS[0]).status is Status.FAIL


def test_report_data_binds_the_leaf_key() -> None:
    report_data = bytes.fromhex(APP.expected["report_data"])
    assert check_report_data(CHAIN, report_data).status is Status.PASS
    assert check_report_data(CHAIN, bytes(64)).status is Status.FAIL


def test_kms_root_is_the_measured_key_provider() -> None:
    provider = APP.expected["key_provider"]
    assert check_kms_root(CHAIN, provider).status is Status.PASS
    assert check_kms_root(CHAIN, {"name": "kms", "id": "00"}).status is Status.FAIL
    assert check_kms_root(CHAIN, {"name": "local-sgx", "id": "00"}).status is Status.SKIP


def test_der_octet_string() -> None:
    assert der_octet_string(b"\x04\x02ab") == b"ab"
    long = b"x" * 300
    assert der_octet_string(b"\x04\x82\x01\x2c" + long) == long
    for bad in (b"", b"\x05\x01a", b"\x04\x05ab", b"\x04\x80", b"\x04\x85\x00\x00\x00\x00\x01a"):
        with pytest.raises(ValueError):
            der_octet_string(bad)


def test_garbage_pem_is_an_input_error() -> None:
    with pytest.raises(InputError):
        load_pem_chain(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError):
        load_pem_chain(b"")


def test_event_log_extension_is_json() -> None:
    # The leaf's 62397.1.2 extension holds the same log as tcb_info.event_log.
    from verifier.certificates import OID_EVENT_LOG, dstack_extension

    raw = dstack_extension(CHAIN.leaf, OID_EVENT_LOG)
    assert raw is not None and len(json.loads(raw)) == len(EVIDENCE.events)


# --- defects found by the tamper matrix (tests/test_tamper.py) ------------------------------


@pytest.mark.parametrize(
    ("index", "field", "value"),
    [
        (0, "subject__state", "CA"),
        (1, "subject__locality", "Santa Clara"),
        (2, "version", "v1"),
        (0, "signature_algorithm", "ecdsa-with-SHA384"),
        (0, "sans", ["app.example"]),
        (1, "quote", "00" * 16),
    ],
)
def test_api_fields_that_were_never_compared_are(index: int, field: str, value: object) -> None:
    # The API's state, locality, version, signature algorithm, SANs and the CA certificates'
    # quote were not compared with the PEM: any value passed.
    finding = check_metadata(CHAIN, edited(index, **{field: value}))
    assert finding.status is Status.FAIL
    assert field.replace("__", ".") in finding.reason and f"certificate {index}" in finding.reason


def test_no_sans_may_be_null_or_an_empty_list() -> None:
    assert check_metadata(CHAIN, edited(0, sans=[])).status is Status.PASS
    assert check_metadata(CHAIN, edited(0, sans=None)).status is Status.PASS


def _leaf_with(old: bytes, new: bytes) -> bytes:
    certs = CHAIN.certificates
    der = certs[0].public_bytes(Encoding.DER)
    assert der.count(old) == 1
    leaf = x509.load_der_x509_certificate(der.replace(old, new))
    return b"".join(c.public_bytes(Encoding.PEM) for c in (leaf, *certs[1:]))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        # secp256r1 -> an OID cryptography has no curve for
        (bytes.fromhex("2a8648ce3d030107"), bytes.fromhex("2a8648ce3d030106"), "not supported"),
        # id-ecPublicKey -> an unknown key type
        (bytes.fromhex("2a8648ce3d0201"), bytes.fromhex("2a8649ce3d0201"), "Unknown key type"),
    ],
    ids=["unsupported-curve", "unknown-key-type"],
)
def test_a_certificate_malformed_beyond_its_envelope_is_an_input_error(
    old: bytes, new: bytes, message: str
) -> None:
    # cryptography decodes keys and names lazily: such a chain used to load, then crash the
    # signature, metadata and KMS checks ("internal error in the check").
    with pytest.raises(InputError, match=f"certificate 0 is malformed: .*{message}"):
        load_pem_chain(_leaf_with(old, new))


def test_a_certificate_of_an_unknown_x509_version_is_an_input_error() -> None:
    # Found by the fuzzer: cryptography raises InvalidVersion, not a ValueError, for version 4.
    certs = CHAIN.certificates
    der = certs[0].public_bytes(Encoding.DER)
    v4 = der.replace(b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x03", 1)
    pem = b"".join([pem_block(v4), *(c.public_bytes(Encoding.PEM) for c in certs[1:])])
    with pytest.raises(InputError, match="not a valid X509 version"):
        load_pem_chain(pem)


def pem_block(der: bytes) -> bytes:
    text = base64.b64encode(der)
    lines = b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))
    return b"-----BEGIN CERTIFICATE-----\n" + lines + b"-----END CERTIFICATE-----\n"


def test_a_leaf_quote_that_is_not_the_evidences_is_compared_with_the_pem() -> None:
    # An app instance has its own top-level quote: a leaf quote claim beside it is a claim.
    quote = EVIDENCE.quote
    assert quote is not None
    assert check_metadata(CHAIN, CERTS, quote).status is Status.PASS
    other = edited(0, quote="00" * 16)
    finding = check_metadata(CHAIN, other, quote)
    assert finding.status is Status.FAIL and "certificate 0: the API's quote" in finding.reason
