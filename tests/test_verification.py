"""``verify``: misuse raises, bad input fails closed, check errors fail, time is an input."""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import verifier.verification as verification
from tests.corpus import case
from verifier import Finding, Report, Status, Verdict, load_evidence, verify
from verifier.policy import BASELINE

APP = case("app-uptodate")
KMS = case("kms-uptodate")


def _status(report: Report, finding_id: str) -> Status | None:
    finding = report.finding(finding_id)
    return finding.status if finding else None


def test_naive_datetime_is_misuse() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(APP.evidence, collateral=APP.collateral, at=datetime(2025, 9, 15))


def test_time_that_is_not_a_datetime_is_misuse() -> None:
    with pytest.raises(TypeError):
        verify(APP.evidence, collateral=APP.collateral, at="2025-09-15")  # type: ignore[arg-type]


def test_compose_that_is_not_bytes_is_misuse() -> None:
    with pytest.raises(TypeError, match="exact bytes"):
        verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at, compose="{}")  # type: ignore[arg-type]


def test_the_same_instant_in_another_timezone_gives_the_same_report() -> None:
    utc = verify(APP.evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    plus_two = APP.at.astimezone(timezone(timedelta(hours=2)))
    other = verify(APP.evidence, collateral=APP.collateral, at=plus_two, chain_pem=APP.chain)
    assert other.to_json() == utc.to_json()
    assert utc.verified_at == APP.at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_bad_evidence_gives_a_failing_report_not_an_exception() -> None:
    raw = b'{"quote": 42}'
    report = verify(raw, collateral=APP.collateral, at=APP.at)
    assert report.verdict is Verdict.FAIL
    assert _status(report, "evidence_parse") is Status.FAIL
    assert report.evidence.sha256 == hashlib.sha256(raw).hexdigest()


def test_bad_collateral_gives_a_failing_report() -> None:
    report = verify(APP.evidence, collateral=b"{}", at=APP.at)
    assert report.verdict is Verdict.FAIL
    assert _status(report, "collateral_parse") is Status.FAIL
    # the quote could not be verified without collateral: its TCB status is not a pass
    assert _status(report, "tcb_status") is Status.SKIP
    assert report.quote.status is None


def test_garbage_chain_fails_the_certificate_checks() -> None:
    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at, chain_pem=b"not pem")
    assert report.verdict is Verdict.FAIL
    assert _status(report, "cert_signature") is Status.FAIL


def test_an_exception_inside_a_check_is_a_failing_finding(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> Finding:
        raise RuntimeError("boom")

    monkeypatch.setattr(verification, "check_replay", broken)
    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    finding = report.finding("rtmr_replay")
    assert finding is not None and finding.status is Status.FAIL
    assert "internal error" in finding.reason and "boom" in finding.reason
    assert report.verdict is Verdict.FAIL
    # the other checks still ran: every finding is reported, not just the first failure
    assert _status(report, "report_data_binding") is Status.PASS


def test_an_exception_inside_the_policy_fails_the_report() -> None:
    class BrokenPolicy:
        name = "broken"
        sha256 = None

        def validate(self, report: Report) -> Sequence[Finding]:
            raise KeyError("rule")

    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at, policy=BrokenPolicy())
    assert report.verdict is Verdict.FAIL
    assert _status(report, "policy") is Status.FAIL


def test_baseline_policy_says_what_it_does_not_pin() -> None:
    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at, policy=BASELINE)
    finding = report.finding("policy")
    assert finding is not None and finding.status is Status.WARN
    assert report.policy.name == "baseline"


def test_compose_given_separately_is_hashed_and_bound() -> None:
    assert KMS.compose is not None
    good = verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    assert _status(good, "compose_hash") is Status.PASS
    assert good.evidence.compose_sha256 == hashlib.sha256(KMS.compose).hexdigest()
    # one byte more (a trailing newline) is another compose file
    bad = verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose + b"\n")
    assert _status(bad, "compose_hash") is Status.FAIL
    assert bad.verdict is Verdict.FAIL


def test_no_compose_is_a_skip_with_a_warning_not_a_pass() -> None:
    report = verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at)
    assert _status(report, "compose_hash") is Status.SKIP
    assert _status(report, "compose_not_available") is Status.WARN


def test_time_before_the_epoch_fails_closed() -> None:
    at = datetime(1969, 12, 31, tzinfo=UTC)
    report = verify(APP.evidence, collateral=APP.collateral, at=at)
    assert report.verdict is Verdict.FAIL
    assert _status(report, "quote_verification") is Status.FAIL


def test_default_trust_root_is_intel() -> None:
    report = verify(APP.evidence, collateral=APP.collateral, at=APP.at)
    assert report.quote.trust_root is not None and report.quote.trust_root.intel
    assert _status(report, "trust_root") is Status.PASS


# --- defects found by the tamper matrix (tests/test_tamper.py) ------------------------------


def _with_json(raw: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    document: dict[str, Any] = json.loads(raw)
    edit(document)
    return json.dumps(document).encode()


def test_a_quote_only_dcap_qvl_cannot_decode_is_one_quote_parse_finding() -> None:
    # A v5 quote whose body descriptor says "TD report 1.5" (type 3) over a TD 1.0-sized body:
    # the structural parse reads the TD report, dcap-qvl cannot decode it. verify() used to add
    # a second quote_parse finding and crash building the report.
    quote = load_evidence(KMS.evidence).quote
    assert quote is not None
    v5 = b"\x05\x00" + quote[2:48] + struct.pack("<HI", 3, 584) + quote[48:]
    evidence = _with_json(KMS.evidence, lambda d: d.update(quote=v5.hex()))
    report = verify(evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    parse = [f for f in report.findings if f.id == "quote_parse"]
    assert len(parse) == 1 and parse[0].status is Status.FAIL
    assert "Failed to decode quote" in parse[0].reason
    assert report.verdict is Verdict.FAIL


def test_getquote_report_data_claim_that_is_not_the_quotes_fails() -> None:
    # GetQuote repeats the quote's report_data; a different claim was ignored.
    good = verify(KMS.evidence, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    assert _status(good, "report_data_mismatch") is Status.PASS
    lie = _with_json(KMS.evidence, lambda d: d.update(report_data="00" * 64))
    bad = verify(lie, collateral=KMS.collateral, at=KMS.at, compose=KMS.compose)
    finding = bad.finding("report_data_mismatch")
    assert finding is not None and finding.status is Status.FAIL
    assert finding.expected == KMS.expected["report_data"] and finding.actual == "00" * 64
    assert bad.verdict is Verdict.FAIL
    # the CvmAttestation format makes no such claim: no finding
    app = verify(APP.evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    assert app.finding("report_data_mismatch") is None


def test_compose_file_without_app_compose_is_hashed() -> None:
    # app-uptodate has neither app_compose nor compose_file. A compose_file alone (app_compose
    # null) was compared with nothing, so any text passed.
    def claim(document: dict[str, Any]) -> None:
        document["compose_file"] = '{"services": {}}'

    evidence = _with_json(APP.evidence, claim)
    report = verify(evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    finding = report.finding("compose_hash")
    assert finding is not None and finding.status is Status.FAIL
    assert report.app.compose_hash is not None
    assert finding.expected == report.app.compose_hash
    assert _status(report, "compose_not_available") is None
    assert report.verdict is Verdict.FAIL


def test_rootfs_hash_claim_without_a_rootfs_hash_event_fails() -> None:
    # tcb_info.rootfs_hash repeats the rootfs-hash event; a claim was never compared.
    def claim(document: dict[str, Any]) -> None:
        document["tcb_info"]["rootfs_hash"] = "ab" * 32

    evidence = _with_json(APP.evidence, claim)
    report = verify(evidence, collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    finding = report.finding("tcb_info_mismatch")
    assert finding is not None and finding.status is Status.FAIL
    assert "rootfs_hash" in finding.reason and finding.actual == "rootfs_hash=" + "ab" * 32
