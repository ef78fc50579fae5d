"""Human-readable rendering of a :class:`~verifier.report.Report` (JSON is ``Report.to_json``)."""

from __future__ import annotations

from .findings import Status
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
    return " ".join(text.split())
