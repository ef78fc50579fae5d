"""dcap-qvl outcomes and the mapping of its errors to finding ids, on real quotes and collateral."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.corpus import RAW_DIR, case
from verifier.collateral import Collateral
from verifier.errors import InputError
from verifier.evidence import load_evidence
from verifier.quote_verification import (
    INTEL_ROOT,
    TrustRoot,
    classify_dcap_error,
    verify_quote,
)

APP = case("app-uptodate")
APP_QUOTE = load_evidence(APP.evidence).quote or b""
APP_COLLATERAL = Collateral.from_json(APP.collateral)


def secs(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


def test_verified_quote() -> None:
    outcome = verify_quote(APP_QUOTE, APP_COLLATERAL, APP.expected["verify_at_unix"])
    assert outcome.verified and outcome.status == "UpToDate" and outcome.advisory_ids == ()


def test_outofdate_quote_keeps_status_and_sorted_advisories() -> None:
    kms = case("kms-outofdate")
    outcome = verify_quote(
        load_evidence(kms.evidence).quote or b"",
        Collateral.from_json(kms.collateral),
        kms.expected["verify_at_unix"],
    )
    assert outcome.status == "OutOfDate"
    assert list(outcome.advisory_ids) == sorted(kms.expected["advisory_ids"])


# Each row is a real dcap-qvl 0.7 failure produced from the corpus.
@pytest.mark.parametrize(
    ("quote", "collateral", "at", "finding_id"),
    [
        ("app", "app", "2025-10-03T07:03:51Z", "collateral_expired"),
        ("app", "app", "2025-09-01T00:00:00Z", "collateral_not_yet_valid"),
        ("app", "kms", "2025-09-15T00:00:00Z", "collateral_fmspc_mismatch"),
        ("bitflip", "app", "2025-09-15T00:00:00Z", "quote_signature"),
        ("outdated-raw", "kms", "2025-09-01T00:00:00Z", "pck_cert_not_yet_valid"),
        ("truncated", "app", "2025-09-15T00:00:00Z", "quote_parse"),
    ],
)
def test_real_failures_are_classified(
    quote: str, collateral: str, at: str, finding_id: str
) -> None:
    quotes = {
        "app": APP_QUOTE,
        "bitflip": load_evidence(case("quote-bitflip").evidence).quote or b"",
        "outdated-raw": (RAW_DIR / "dcap-qvl" / "tdx_quote_outdated").read_bytes(),
        "truncated": APP_QUOTE[:700],
    }
    collaterals = {
        "app": APP_COLLATERAL,
        "kms": Collateral.from_json(case("kms-uptodate").collateral),
    }
    outcome = verify_quote(quotes[quote], collaterals[collateral], secs(at))
    assert not outcome.verified and outcome.status is None
    assert outcome.error_class == finding_id, outcome.error
    assert outcome.error and outcome.error.startswith("Verification failed")


def test_time_before_epoch_is_a_failure_not_an_overflow() -> None:
    outcome = verify_quote(APP_QUOTE, APP_COLLATERAL, secs("1969-12-31T00:00:00Z"))
    assert not outcome.verified
    assert outcome.error_class == "quote_verification"
    assert outcome.error == "verification time is before 1970-01-01T00:00:00Z"


# Messages observed from dcap-qvl 0.7 (corpus and forged test PKI), one per class.
@pytest.mark.parametrize(
    ("message", "finding_id"),
    [
        ("Verification failed: TCBInfo expired", "collateral_expired"),
        ("Verification failed: QE Identity expired", "collateral_expired"),
        (
            "Verification failed: CrlExpired { time: UnixTime(9), next_update: UnixTime(1) }",
            "collateral_expired",
        ),
        ("Verification failed: TCBInfo issue date is in the future", "collateral_not_yet_valid"),
        ("Verification failed: Fmspc mismatch", "collateral_fmspc_mismatch"),
        ("Verification failed: ISV enclave report signature is invalid", "quote_signature"),
        ("Verification failed: QE report hash mismatch", "quote_signature"),
        (
            "Verification failed: Failed to verify certificate chain\n\nCaused by:\n    "
            "CertRevoked",
            "pck_revoked",
        ),
        (
            "Verification failed: Failed to verify certificate chain\n\nCaused by:\n    "
            "CertExpired { time: UnixTime(2), not_after: UnixTime(1) }",
            "pck_cert_expired",
        ),
        (
            "Verification failed: Failed to verify certificate chain\n\nCaused by:\n    "
            "CertNotValidYet { time: UnixTime(1), not_before: UnixTime(2) }",
            "pck_cert_not_yet_valid",
        ),
        (
            "Verification failed: Failed to verify certificate chain\n\nCaused by:\n    "
            "UnknownIssuer",
            "quote_signature",
        ),
        ("Verification failed: No matching TCB level found", "tcb_level_not_found"),
        ("Verification failed: TCB status is invalid: Revoked", "tcb_status"),
        ("Verification failed: Debug mode is enabled", "td_debug"),
        ("Verification failed: TD migration is enabled", "td_attributes"),
        ("Verification failed: QE MRSIGNER mismatch: expected 00, got 01", "qe_identity"),
        (
            "Verification failed: Failed to decode quote\n\nCaused by:\n    Invalid TEE type",
            "quote_parse",
        ),
        ("Verification failed: something new", "quote_verification"),
        ("", "quote_verification"),
    ],
)
def test_error_classes(message: str, finding_id: str) -> None:
    assert classify_dcap_error(message) == finding_id


def test_intel_root_pinned_explicitly_is_still_intel() -> None:
    root = TrustRoot.from_der((RAW_DIR / "dcap-qvl" / "TrustedRootCA.der").read_bytes())
    assert root.is_intel and root.sha256 == INTEL_ROOT.sha256
    outcome = verify_quote(APP_QUOTE, APP_COLLATERAL, APP.expected["verify_at_unix"], root)
    assert outcome.status == "UpToDate"


def test_trust_root_must_be_der() -> None:
    with pytest.raises(InputError):
        TrustRoot.from_der(b"not a certificate")


@pytest.mark.parametrize(
    ("text", "location"),
    [
        (b"{}", "pck_crl_issuer_chain"),
        (b"[]", None),
        (b"\xff", None),
        (b'{"pck_crl_issuer_chain": 5}', "pck_crl_issuer_chain"),
    ],
)
def test_malformed_collateral(text: bytes, location: str | None) -> None:
    with pytest.raises(InputError) as err:
        Collateral.from_json(text)
    assert err.value.location == location


def test_collateral_rejected_by_dcap_qvl() -> None:
    import json

    doc = json.loads(APP.collateral)
    doc["root_ca_crl"] = "zz"
    with pytest.raises(InputError, match="dcap-qvl rejects"):
        Collateral.from_json(json.dumps(doc))


def test_collateral_facts() -> None:
    assert APP_COLLATERAL.fmspc == "20A06F000000"
    assert APP_COLLATERAL.tcb_info_issue_date == APP.expected["collateral"]["tcb_info_issue_date"]
