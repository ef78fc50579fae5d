"""What every subcommand shares: exit codes, reading inputs, writing outputs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from ..atomicfile import write_atomic
from ..certificates import load_pem_chain
from ..collateral import Collateral
from ..errors import InputError, one_line

T = TypeVar("T")

#: Exit codes: the contract with CI systems.
EXIT_PASS = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_FETCH = 3

#: Largest input file read; evidence, collateral and chains are far smaller.
MAX_INPUT_BYTES = 64 * 1024 * 1024


def add_trust_root_argument(parser: argparse.ArgumentParser) -> None:
    """``--trust-root``: the one way to verify under another root CA than Intel's (never a file
    found beside the evidence)."""
    parser.add_argument(
        "--trust-root",
        metavar="FILE.der",
        help="verify quotes under this root CA (DER) instead of Intel's; for test PKIs only",
    )


def read_input(path: str, *, what: str) -> bytes:
    """Read a file named on the command line (``-`` is stdin); :class:`InputError` if unreadable."""
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror or exc}", location=path) from None
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"{what} larger than {MAX_INPUT_BYTES} bytes", location=path)
    return data


def read_parsed(path: str, *, what: str, parse: Callable[[bytes], T]) -> T:
    """Read a file named on the command line and parse it; every error names the file once."""
    data = read_input(path, what=what)  # its errors are located at ``path`` already
    try:
        return parse(data)
    except InputError as exc:
        raise exc.within(path) from None


def checked_collateral(data: bytes) -> bytes:
    """``data`` once it parses as collateral (for callers that keep the bytes)."""
    Collateral.from_json(data)
    return data


def checked_chain(data: bytes) -> bytes:
    """``data`` once it parses as a PEM chain (for callers that keep the bytes)."""
    load_pem_chain(data)
    return data


def write_output(text: str, path: str | None) -> None:
    """Write to ``path`` atomically, or to stdout when ``path`` is ``None`` or ``-``.

    Text that cannot be encoded (a lone surrogate quoted from evidence) is written escaped
    (``\\ud800``) rather than lost to an encoding error.
    """
    text = encodable(text)
    if path is None or path == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        write_atomic(path, text)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", location=path) from None


def encodable(text: str) -> str:
    """``text`` with lone surrogates backslash-escaped, so that it always encodes as UTF-8."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def error(message: str) -> None:
    """One clear line on stderr (line breaks and control characters escaped)."""
    print(f"cvm-verifier: error: {one_line(message)}", file=sys.stderr)


def now() -> datetime:
    """The wall clock, in one place (tests replace it to fetch "at" a corpus case's time)."""
    return datetime.now(UTC)
