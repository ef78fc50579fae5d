"""The ``cvm-verifier`` command line: a thin layer over the library.

Each subcommand lives in its own module exposing ``register(subparsers)``; it parses arguments,
calls the library and maps the outcome to an exit code (:mod:`verifier.cli.common`).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

from .. import __version__
from ..errors import FetchError, InputError, VerifierError
from . import fetch_cmd, policy_cmd, verify_cmd, verify_many_cmd
from .common import EXIT_FETCH, EXIT_USAGE, error

_SUBCOMMANDS = (verify_cmd, verify_many_cmd, fetch_cmd, policy_cmd)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as exit code 2 without printing the whole usage."""

    def error(self, message: str) -> NoReturn:
        error(f"{message} (see '{self.prog} --help')")
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="cvm-verifier",
        description="Verify the attestation of a Phala Cloud confidential VM (Intel TDX, dstack).",
    )
    parser.add_argument("--version", action="version", version=f"cvm-verifier {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for module in _SUBCOMMANDS:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except InputError as exc:
        error(str(exc))
        return EXIT_USAGE
    except FetchError as exc:
        error(str(exc))
        return EXIT_FETCH
    except VerifierError as exc:
        error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except Exception as exc:  # fail closed and explain: never a traceback, never a pass
        error(f"internal error: {type(exc).__name__}: {exc} (please report this)")
        return EXIT_USAGE


def run() -> NoReturn:
    """Console-script entry point."""
    if not sys.warnoptions:
        # stderr carries this tool's diagnostics, one line each: a library's warning about odd
        # input (cryptography on a malformed certificate name) is not one. The environment carries
        # the choice to verify-many's worker processes. ``-W``/PYTHONWARNINGS still show them.
        warnings.simplefilter("ignore")
        os.environ["PYTHONWARNINGS"] = "ignore"
    sys.exit(main())
