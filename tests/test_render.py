"""Report renderings for people and CI systems: text, JUnit XML, GitHub annotations, Markdown."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.corpus import CASES, Case, case
from verifier import Report, Status, verify
from verifier.cli import main
from verifier.findings import Finding
from verifier.render import render_github, render_junit, render_markdown_summary, render_text


def _report(c: Case) -> Report:
    return verify(
        c.evidence, collateral=c.collateral, at=c.at, chain_pem=c.chain, compose=c.compose
    )


@pytest.mark.parametrize("c", CASES, ids=[c.name for c in CASES])
def test_junit_is_xml_with_one_testcase_per_finding_round_tripping_them(c: Case) -> None:
    report = _report(c)
    root = ET.fromstring(render_junit(report))
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [t.get("name") for t in cases] == [f.id for f in report.findings]
    assert int(suite.get("failures") or -1) == len(report.failures())
    for testcase, finding in zip(cases, report.findings, strict=True):
        failure = testcase.find("failure")
        skipped = testcase.find("skipped")
        if finding.status is Status.FAIL:
            assert failure is not None and failure.get("message") == finding.reason
            assert f"expected: {finding.expected or '-'}" in (failure.text or "")
            assert f"actual: {finding.actual or '-'}" in (failure.text or "")
        else:
            assert failure is None
        assert (skipped is not None) == (finding.status is Status.SKIP)
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["verdict"] == c.expected["verdict"]


def test_junit_drops_characters_xml_cannot_carry() -> None:
    report = _report(case("kms-uptodate"))
    hostile = Finding.failed("quote_verification", "bad \x00\x1b byte", actual="\x07<&>")
    root = ET.fromstring(render_junit(report.with_findings([hostile])))
    failure = root.find("testsuite/testcase[@name='quote_verification']/failure")
    assert failure is not None and failure.get("message") == "bad  byte"


def test_junit_is_deterministic() -> None:
    c = case("app-uptodate")
    assert render_junit(_report(c)) == render_junit(_report(c))


def test_github_annotations_one_per_failure_and_warning_then_the_verdict() -> None:
    report = _report(case("quote-bitflip"))
    lines = render_github(report).splitlines()
    errors = [line for line in lines if line.startswith("::error title=cvm-verifier ")]
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert len(errors) == len(report.failures())
    assert len(warnings) == len(report.warnings())
    assert lines[-1].startswith("::error title=cvm-verifier::verdict FAIL")
    assert any("quote_signature" in line for line in errors)


def test_github_annotations_escape_newlines_and_percent() -> None:
    report = _report(case("kms-uptodate"))
    tricky = Finding.failed("policy.app", "50% off\nsecond line", expected="a,b:c")
    out = render_github(report.with_findings([tricky]))
    line = next(x for x in out.splitlines() if "policy.app" in x)
    assert "50%25 off%0Asecond line" in line
    assert len(out.splitlines()) == len(report.warnings()) + 2  # one line per annotation


def test_markdown_summary_has_a_row_per_finding() -> None:
    report = _report(case("app-uptodate"))
    md = render_markdown_summary(report)
    assert md.startswith("### cvm-verifier: PASS")
    rows = [line for line in md.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == len(report.findings)
    assert all(row.count(" | ") == 4 for row in rows)  # pipes inside cells are escaped


def test_cli_junit_github_and_summary(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    c = case("quote-bitflip")
    summary = tmp_path / "summary.md"
    summary.write_text("previous step\n")
    junit = tmp_path / "report.xml"
    code = main(
        ["verify", *c.cli_args(), "--format", "junit", "-o", str(junit), "--summary", str(summary)]
    )
    assert code == 1
    assert ET.parse(junit).getroot().tag == "testsuites"
    text = summary.read_text()
    assert text.startswith("previous step\n### cvm-verifier: FAIL")  # appended, as GitHub expects
    assert main(["verify", *c.cli_args(), "--format", "github"]) == 1
    out, err = capsys.readouterr()
    assert out.startswith("::") and err == ""


def test_text_has_no_colour_when_not_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", *case("kms-uptodate").cli_args()]) == 0
    assert "\x1b[" not in capsys.readouterr().out


def test_no_color_is_honoured_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from verifier.cli import output

    class Tty:
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdout", Tty())
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert output.use_colour(None)
    monkeypatch.setenv("NO_COLOR", "1")
    assert not output.use_colour(None)
    monkeypatch.delenv("NO_COLOR")
    assert not output.use_colour("report.txt")


def test_text_escapes_control_characters_the_evidence_puts_in_a_reason() -> None:
    # A reason quotes evidence (here an event name): an ESC sequence must not reach the terminal
    # and a line break must not split the finding's line.
    import json

    kms = case("kms-uptodate")
    document = json.loads(kms.evidence)
    events = json.loads(document["event_log"])
    events[-1]["imr"] = 2  # a runtime event outside RTMR3 is named in event_log_parse
    events[-1]["event"] = "ready\x1b[2J\nforged ✔ line"
    document["event_log"] = json.dumps(events)
    report = verify(json.dumps(document), collateral=kms.collateral, at=kms.at)
    text = render_text(report)
    assert "\x1b" not in text
    line = next(line for line in text.splitlines() if " event_log_parse " in line)
    assert "ready\\x1b[2J forged ✔ line" in line
