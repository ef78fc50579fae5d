"""Report output formats of the CLI: text, JSON and the CI formats (JUnit, GitHub, Markdown)."""

from __future__ import annotations

import os
import sys

from ..errors import InputError
from ..render import render_github, render_junit, render_markdown_summary, render_text
from ..report import Report
from .common import encodable, write_output

FORMATS = ("text", "json", "junit", "github")


def use_colour(output: str | None) -> bool:
    """Colour only for a terminal on stdout, and never when ``NO_COLOR`` is set (no-color.org)."""
    return output in (None, "-") and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def render(report: Report, fmt: str, *, colour: bool = False) -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        return report.to_json()
    if fmt == "junit":
        return render_junit(report)
    if fmt == "github":
        return render_github(report)
    return render_text(report, colour=colour)


def emit(report: Report, fmt: str, output: str | None, summary: str | None) -> None:
    """Write the report to ``output`` (stdout when ``None``) and the Markdown summary, if asked.

    ``--summary`` appends, as ``$GITHUB_STEP_SUMMARY`` expects of each step.
    """
    write_output(render(report, fmt, colour=use_colour(output)), output)
    if summary is not None:
        append_text(summary, render_markdown_summary(report))


def append_text(path: str, text: str) -> None:
    """Append ``text`` to ``path`` in one write (a summary file is shared by a job's steps)."""
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(encodable(text))
    except OSError as exc:
        raise InputError(
            f"cannot write the summary: {exc.strerror or exc}", location=path
        ) from None
