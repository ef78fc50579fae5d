"""The committed forged fixtures: each one through the library and the CLI says exactly what its
expected.json (decided by the forge knob, not by the verifier) says; nothing verifies under Intel's
root; the committed bytes are what the generator makes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.corpus import FIXTURES as SHARED
from tests.corpus import FORGED, FORGED_DIR, Case, forged
from verifier import Report, Status, TrustRoot, verify
from verifier.cli import main
from verifier.testing.fixtures import FIXTURES as DEFINED
from verifier.testing.fixtures import VERIFY_AT, render_all

IDS = [c.name for c in FORGED]
NEGATIVE = {
    "debug-td": "td_debug",
    "pck-revoked": "pck_revoked",
    "tcb-revoked": "tcb_status",
    "collateral-expired": "collateral_expired",
    "pck-cert-expired": "pck_cert_expired",
    "rtmr3-lie": "rtmr_replay",
    "compose-hash-lie": "compose_hash",
    "v2-preimage-mismatch": "event_digest",
    "duplicate-identity-event": "duplicate_event",
    "identity-after-ready": "duplicate_event",
    "report-data-unbound": "report_data_binding",
    "foreign-app-ca": "cert_signature",
    "tcb-info-claims-mismatch": "tcb_info_mismatch",
}


def _verify(case: Case, *, test_root: bool = True) -> Report:
    root = case.trust_root
    assert root is not None
    return verify(
        case.evidence,
        collateral=case.collateral,
        at=case.at,
        chain_pem=case.chain,
        compose=case.compose,
        trust_root=TrustRoot.from_der(root) if test_root else None,
    )


def _ids(report: Report, status: Status) -> list[str]:
    return sorted(f.id for f in report.findings if f.status is status)


def test_every_defect_of_the_issue_has_its_folder() -> None:
    assert {c.name for c in FORGED} == {"demo", "tcb-outofdate", *NEGATIVE}
    for case in FORGED:
        exp = case.expected
        assert exp["files"] == sorted(
            p.name for p in case.path.iterdir() if p.name != "expected.json"
        )
        if case.name in NEGATIVE:
            assert exp["failed_checks"] == [NEGATIVE[case.name]] == exp["reasons"]
            assert exp["verdict"] == "fail"


@pytest.mark.parametrize("case", FORGED, ids=IDS)
def test_library_fails_and_warns_with_exactly_the_named_ids(case: Case) -> None:
    report = _verify(case)
    assert report.verdict.value == case.expected["verdict"]
    assert _ids(report, Status.FAIL) == sorted(case.expected["failed_checks"])
    assert _ids(report, Status.WARN) == sorted(case.expected["warnings"])


@pytest.mark.parametrize("case", FORGED, ids=IDS)
def test_cli_fails_and_warns_with_exactly_the_named_ids(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.json"
    code = main(["verify", *case.cli_args(), "--format", "json", "-o", str(out)])
    assert code == (0 if case.expected["verdict"] == "pass" else 1)
    report = json.loads(out.read_text())
    failed = sorted(f["id"] for f in report["findings"] if f["status"] == "fail")
    warned = sorted(f["id"] for f in report["findings"] if f["status"] == "warn")
    assert failed == sorted(case.expected["failed_checks"])
    assert warned == sorted(case.expected["warnings"])
    assert report["quote"]["trust_root"] == {
        "intel": False,
        "subject": case.expected["trust_root"]["subject"],
        "sha256": case.expected["trust_root"]["sha256"],
    }
    assert capsys.readouterr().err == ""


def test_demo_passes_naming_the_test_root(capsys: pytest.CaptureFixture[str]) -> None:
    demo = forged("demo")
    assert main(["verify", *demo.cli_args()]) == 0
    text = capsys.readouterr().out
    last = text.splitlines()[-1]
    assert last.startswith("verdict: PASS (0 failed, 2 warnings; TCB UpToDate; NON-INTEL TEST ROOT")
    assert demo.expected["trust_root"]["subject"] in last
    trust_line = next(line for line in text.splitlines() if " trust_root " in line)
    assert trust_line.startswith("!") and "NON-INTEL" in trust_line


def test_cli_without_the_test_root_fails_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    demo = forged("demo")
    args = demo.cli_args()
    at = args.index("--trust-root")
    assert main(["verify", *args[:at], *args[at + 2 :]]) == 1
    out = capsys.readouterr().out
    assert "; Intel root;" in out.splitlines()[-1]
    assert any(line.startswith("✘ quote_signature") for line in out.splitlines())


@pytest.mark.parametrize("case", FORGED, ids=IDS)
def test_without_the_test_root_every_fixture_fails(case: Case) -> None:
    # Under Intel's root (the default) a forged quote is refused: the root CA CRL is not Intel's.
    report = _verify(case, test_root=False)
    assert report.verdict.value == "fail"
    assert report.quote.trust_root.intel
    trust = report.finding("trust_root")
    assert trust is not None and trust.status is Status.PASS
    if case.expected["quote_error_class"] is None:
        signature = report.finding("quote_signature")
        assert signature is not None and signature.status is Status.FAIL
        assert "InvalidCrlSignatureForPublicKey" in (signature.actual or "")
        assert report.quote.status is None


def test_identity_after_ready_does_not_change_the_app() -> None:
    demo, after = _verify(forged("demo")), _verify(forged("identity-after-ready"))
    # The identity is the demo's; the late compose-hash is only listed as an application event.
    assert after.app.model_copy(update={"events_after_ready": ()}) == demo.app
    assert after.app.events_after_ready == ("compose-hash",)
    finding = after.finding("duplicate_event")
    assert finding is not None and "after system-ready" in finding.reason
    events = json.loads(forged("identity-after-ready").evidence)["tcb_info"]["event_log"]
    names = [e["event"] for e in events if e["event_type"] == 0x08000001]
    assert names.index("compose-hash", names.index("system-ready")) > names.index("system-ready")


def test_duplicate_identity_keeps_the_first_compose_hash() -> None:
    report = _verify(forged("duplicate-identity-event"))
    assert report.app == _verify(forged("demo")).app
    finding = report.finding("duplicate_event")
    assert finding is not None and "repeats" in finding.reason


def test_tcb_outofdate_passes_with_advisories_under_the_baseline() -> None:
    report = _verify(forged("tcb-outofdate"))
    assert report.passed
    assert report.quote.status == "OutOfDate"
    assert list(report.quote.advisory_ids) == ["INTEL-SA-99901", "INTEL-SA-99902"]
    tcb = report.finding("tcb_status")
    assert tcb is not None and tcb.status is Status.WARN


def test_fixtures_are_verified_at_one_time_inside_a_wide_window() -> None:
    for case in FORGED:
        assert (
            case.expected["verify_at"]
            == "2026-01-01T00:00:00Z"
            == case.at.strftime("%Y-%m-%dT%H:%M:%SZ")
        )
    window = forged("demo").expected["collateral"]
    assert window["window_start"] == "2021-01-01T00:00:00Z"
    assert window["window_end"] == "2031-01-01T00:00:00Z"
    assert forged("demo").at == VERIFY_AT


def test_one_trust_root_for_every_folder() -> None:
    roots = {case.trust_root for case in FORGED}
    assert len(roots) == 1
    (root,) = roots
    assert root is not None
    assert TrustRoot.from_der(root).sha256 == forged("demo").expected["trust_root"]["sha256"]


def test_committed_fixtures_are_byte_for_byte_a_fresh_regeneration() -> None:
    fresh = render_all()
    committed = {
        p.relative_to(FORGED_DIR).as_posix(): p.read_bytes()
        for p in FORGED_DIR.rglob("*")
        if p.is_file()
    }
    assert sorted(committed) == sorted(fresh)
    for name, data in fresh.items():
        assert committed[name] == data, (
            f"fixtures/{name} drifted: run python -m verifier.testing.regen"
        )
    assert {c.name for c in DEFINED} == {c.name for c in FORGED}


def test_no_fixture_is_a_copy_of_the_shared_corpus() -> None:
    shared = {hashlib.sha256(p.read_bytes()).digest() for p in SHARED.rglob("*") if p.is_file()}
    ours = {hashlib.sha256(p.read_bytes()).digest() for p in FORGED_DIR.rglob("*") if p.is_file()}
    assert not shared & ours
