"""Human-readable rendering of a :class:`~verifier.report.Report` (JSON is ``Report.to_json``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # builds XML only; never parses

from .errors import one_line
from .findings import Finding, Status
from .report import Report

SYMBOLS = {Status.PASS: "✔", Status.FAIL: "✘", Status.WARN: "!", Status.SKIP: "-"}
_COLOURS = {Status.PASS: "32", Status.FAIL: "31", Status.WARN: "33", Status.SKIP: "2"}


def render_text(report: Report, *, colour: bool = False) -> str:
    """One aligned line per finding (✔ pass, ✘ fail, ! warn, - skip), the verdict last."""
    width = max((len(f.id) for f in report.findings), default=0)
    lines = []
    for finding in report.findings:
        symbol = SYMBOLS[finding.status]
        if colour:
            symbol = f"\x1b[{_COLOURS[finding.status]}m{symbol}\x1b[0m"
        lines.append(f"{symbol} {finding.id.ljust(width)}  {_one_line(finding.reason)}")
    failed = len(report.failures())
    warned = len(report.warnings())
    status = report.quote.status or "not verified"
    root = (
        "Intel root"
        if report.quote.trust_root.intel
        else (f"NON-INTEL TEST ROOT {report.quote.trust_root.subject}")
    )
    lines.append(
        f"verdict: {report.verdict.value.upper()} ({failed} failed, {warned} warnings; "
        f"TCB {status}; {root}; at {report.verified_at}; policy {report.policy.name})"
    )
    return "\n".join(lines) + "\n"


def _one_line(text: str) -> str:
    # Reasons quote evidence (event names...): no line breaks, no terminal control sequences.
    return one_line(" ".join(text.split()))


# --- CI formats ------------------------------------------------------------------------------


def render_junit(report: Report) -> str:
    """JUnit XML: one ``testcase`` per finding; failures carry the expected and actual values.

    A warning is a passing test case with a ``system-out`` note (JUnit has no warning state); a
    skipped check is ``skipped``. The suite's timestamp is the verification time, so the output is
    deterministic like the report.
    """
    failures = len(report.failures())
    skipped = sum(1 for f in report.findings if f.status is Status.SKIP)
    suites = ET.Element(
        "testsuites", name="cvm-verifier", tests=str(len(report.findings)), failures=str(failures)
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"cvm-verifier {report.evidence.format or 'evidence'} {report.evidence.sha256[:16]}",
        tests=str(len(report.findings)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        timestamp=report.verified_at.removesuffix("Z"),
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("verdict", report.verdict.value),
        ("verified_at", report.verified_at),
        ("policy", report.policy.name),
        ("evidence_sha256", report.evidence.sha256),
        ("tcb_status", report.quote.status or "not verified"),
        ("trust_root", report.quote.trust_root.subject),
    ):
        ET.SubElement(properties, "property", name=name, value=_xml_safe(value))
    for finding in report.findings:
        case = ET.SubElement(suite, "testcase", classname="cvm-verifier", name=finding.id, time="0")
        detail = _xml_safe(_expected_actual(finding))
        if finding.status is Status.FAIL:
            failure = ET.SubElement(case, "failure", message=_xml_safe(finding.reason), type="fail")
            failure.text = detail
        elif finding.status is Status.SKIP:
            ET.SubElement(case, "skipped", message=_xml_safe(finding.reason))
        elif finding.status is Status.WARN:
            out = ET.SubElement(case, "system-out")
            out.text = _xml_safe(f"warning: {finding.reason}\n{detail}")
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, "unicode") + "\n"


def _expected_actual(finding: Finding) -> str:
    return f"expected: {finding.expected or '-'}\nactual: {finding.actual or '-'}"


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (dcap-qvl messages and claims are untrusted text)."""
    return "".join(
        c
        for c in text
        if c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
    )


def render_github(report: Report) -> str:
    """GitHub Actions workflow commands: ``::error``/``::warning`` per finding, a notice verdict."""
    lines = []
    for finding in report.findings:
        level = {Status.FAIL: "error", Status.WARN: "warning"}.get(finding.status)
        if level is None:
            continue
        message = finding.reason
        if finding.expected or finding.actual:
            message += f"\nexpected: {finding.expected or '-'}\nactual: {finding.actual or '-'}"
        title = _gh_property(f"cvm-verifier {finding.id}")
        lines.append(f"::{level} title={title}::{_gh_data(message)}")
    verdict = (
        f"verdict {report.verdict.value.upper()}: {len(report.failures())} failed, "
        f"{len(report.warnings())} warnings; TCB {report.quote.status or 'not verified'}; "
        f"policy {report.policy.name}; at {report.verified_at}"
    )
    level = "notice" if report.passed else "error"
    lines.append(f"::{level} title=cvm-verifier::{_gh_data(verdict)}")
    return "\n".join(lines) + "\n"


def _gh_data(text: str) -> str:
    # GitHub's escaping of a workflow command's message.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_markdown_summary(report: Report) -> str:
    """A Markdown summary (for ``$GITHUB_STEP_SUMMARY``): the verdict, then a table of findings."""
    icon = {Status.PASS: "✅", Status.FAIL: "❌", Status.WARN: "⚠️", Status.SKIP: "➖"}
    root = "Intel root" if report.quote.trust_root.intel else "**NON-INTEL TEST ROOT**"
    lines = [
        f"### cvm-verifier: {report.verdict.value.upper()}",
        "",
        f"{len(report.failures())} failed, {len(report.warnings())} warnings · TCB "
        f"`{report.quote.status or 'not verified'}` · {root} · policy `{_md(report.policy.name)}` "
        f"· verified at `{report.verified_at}` · evidence sha256 `{report.evidence.sha256[:16]}…`",
        "",
        "| | check | reason | expected | actual |",
        "|---|---|---|---|---|",
    ]
    for finding in report.findings:
        lines.append(
            f"| {icon[finding.status]} | `{finding.id}` | {_md(finding.reason)} | "
            f"{_md_code(finding.expected)} | {_md_code(finding.actual)} |"
        )
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return _one_line(text).replace("|", "\\|").replace("<", "&lt;")


def _md_code(text: str | None, limit: int = 120) -> str:
    if not text:
        return ""
    flat = _one_line(text)
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return "`" + flat.replace("`", "'").replace("|", "\\|") + "`"
