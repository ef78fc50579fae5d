"""Every case of the real corpus and of the forged fixtures, through the library and through the
CLI, as expected.json says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.corpus import CASES, FORGED, Case
from verifier import Status, TrustRoot, verify
from verifier.cli import main

#: Our ids that refine a fixture id: cert_metadata is the "metadata differs from chain.pem" part
#: of the corpus's cert_chain.
REFINES = {"cert_metadata": "cert_chain"}

ALL = CASES + FORGED
IDS = [c.name for c in CASES] + [f"forged-{c.name}" for c in FORGED]


def _verify(case: Case):  # type: ignore[no-untyped-def]
    root = case.trust_root
    return verify(
        case.evidence,
        collateral=case.collateral,
        at=case.at,
        chain_pem=case.chain,
        compose=case.compose,
        trust_root=TrustRoot.from_der(root) if root is not None else None,
    )


def test_the_corpus_is_all_there() -> None:
    assert len(CASES) >= 11
    assert {c.expected["verdict"] for c in CASES} == {"pass", "fail"}


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_library_verdict_and_reasons(case: Case) -> None:
    report = _verify(case)
    exp = case.expected
    assert report.verdict.value == exp["verdict"]
    failed = {f.id for f in report.findings if f.status is Status.FAIL}
    for reason in exp["reasons"]:
        assert reason in failed, f"{reason} must be reported as a failing finding"
    allowed = set(exp["failed_checks"]) | set(exp["reasons_optional"])
    for extra in failed - allowed:
        assert REFINES.get(extra) in allowed, f"unexpected failing finding {extra}"
    warned = {f.id for f in report.findings if f.status is Status.WARN}
    for warning in exp["warnings"]:
        assert warning in warned


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_library_quote_and_measurements(case: Case) -> None:
    report = _verify(case)
    exp = case.expected
    assert report.quote.status == exp["quote_status"]
    assert list(report.quote.advisory_ids) == sorted(exp["advisory_ids"])
    assert report.quote.fmspc == exp["fmspc"].upper()
    assert report.quote.td_attributes == exp["td_attributes"]
    for register in ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "report_data"):
        assert getattr(report.measurements, register) == exp[register], register
    if exp["quote_error"]:
        assert report.quote.error is not None
        assert report.quote.error.splitlines()[0] == exp["quote_error"]
        failing = report.finding(exp["quote_error_class"])
        assert failing is not None and failing.status is Status.FAIL
        assert failing.actual == exp["quote_error_detail"]


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_library_app_identity(case: Case) -> None:
    app = _verify(case).app
    exp = case.expected
    assert app.app_id == exp["app_id"]
    assert app.instance_id == exp["instance_id"]
    assert app.os_image_hash == exp["os_image_hash"]
    assert app.compose_hash == exp["compose_hash_event"]
    if exp["key_provider"] is None:
        assert app.key_provider is None
    else:
        assert app.key_provider is not None
        assert app.key_provider.model_dump() == exp["key_provider"]


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_replay_and_binding_findings(case: Case) -> None:
    report = _verify(case)
    exp = case.expected
    replay = report.finding("rtmr_replay")
    if not exp["replay_applicable"]:
        assert replay is None
        quote_only = report.finding("quote_only")
        assert quote_only is not None and quote_only.status is Status.WARN
    else:
        assert replay is not None
        assert (replay.status is Status.PASS) == all(exp["replay_matches"].values())
    if exp["report_data_binding"] == "ratls-cert":
        binding = report.finding("report_data_binding")
        assert binding is not None and binding.status is Status.PASS
    compose = report.finding("compose_hash")
    if exp["compose_hash_matches_event"] is None:
        assert compose is None or compose.status is Status.SKIP
    else:
        assert compose is not None
        assert (compose.status is Status.PASS) == exp["compose_hash_matches_event"]
        assert compose.actual == exp["compose_hash"]


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_cli_in_process(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    code = main(["verify", *case.cli_args(), "--format", "json", "-o", str(out)])
    assert code == (0 if case.expected["verdict"] == "pass" else 1)
    report = json.loads(out.read_text())
    assert report["schema"] == "cvm-verifier.report/1"
    assert report["verdict"] == case.expected["verdict"]
    assert report["verified_at"] == case.expected["verify_at"]
    assert report["quote"]["status"] == case.expected["quote_status"]
    assert report["measurements"]["rtmr3"] == case.expected["rtmr3"]
    assert report["app"]["app_id"] == case.expected["app_id"]
    failed = {f["id"] for f in report["findings"] if f["status"] == "fail"}
    assert set(case.expected["reasons"]) <= failed
    assert capsys.readouterr().out == ""  # -o: nothing on stdout
    # The file is the library's report, byte for byte.
    assert out.read_text() == _verify(case).to_json()


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_reports_are_deterministic(case: Case) -> None:
    assert _verify(case).to_json() == _verify(case).to_json()


@pytest.mark.parametrize("case", ALL, ids=IDS)
def test_text_report_lists_every_finding_and_ends_with_the_verdict(
    case: Case, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["verify", *case.cli_args()])
    lines = capsys.readouterr().out.splitlines()
    report = _verify(case)
    assert len(lines) == len(report.findings) + 1
    assert lines[-1].startswith(f"verdict: {case.expected['verdict'].upper()}")
    for line, finding in zip(lines, report.findings, strict=False):
        assert finding.id in line
        assert line[0] == {"pass": "✔", "fail": "✘", "warn": "!", "skip": "-"}[finding.status]
