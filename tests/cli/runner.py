"""Running the CLI in-process, as every CLI test does."""

from __future__ import annotations

import pytest

from verifier.cli import main


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``main(argv)``'s exit code, stdout and stderr."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The one line an error leaves on stderr (and no traceback)."""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cvm-verifier: error: ")
    assert "Traceback" not in err
    return lines[0]
