"""``verify``: misuse raises, bad input fails closed, check errors fail, time is an input."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest

import verifier.verification as verification
from tests.corpus import case
from verifier import Finding, Report, Status, Verdict, verify
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
