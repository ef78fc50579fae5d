"""``cvm-verifier verify-many``: verify every evidence item under some paths, in parallel.

A thin layer over :mod:`verifier.fleet`: it reads the options (policy, trust root, default
collateral, time) once, streams one line per item in input order, and ends with a summary.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, TextIO

from ..atomicfile import atomic_text_writer
from ..errors import InputError
from ..fleet import (
    FleetOptions,
    FleetSummary,
    ItemResult,
    default_jobs,
    discover,
    printable,
    verify_items,
)
from ..policy import BASELINE
from ..quote_verification import TrustRoot
from . import common
from .common import (
    EXIT_FAIL,
    EXIT_PASS,
    EXIT_USAGE,
    add_trust_root_argument,
    checked_collateral,
    error,
    read_parsed,
)
from .output import append_text, use_colour
from .verify_cmd import load_policy_file, parse_time

FORMATS = ("text", "jsonl")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify-many",
        help="verify every evidence item under some paths, in parallel",
        description="Verify every item under PATH...: a case directory (attestation.json or "
        "getquote.json + collateral.json, optional chain.pem and app-compose.json), a bundle "
        "file, or an evidence JSON file (with --collateral); other directories are walked. "
        "Results stream in input order, then a summary. Exit 0 if every item passes, 1 if any "
        "fails, 2 on a usage or input error. A trust root is never read from an item's "
        "directory: only from --trust-root.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="evidence files, bundles or directories"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file (TOML) every item is validated against; default: the baseline policy",
    )
    parser.add_argument(
        "--collateral",
        metavar="FILE",
        help="Intel collateral for plain evidence files (case directories and bundles carry "
        "their own)",
    )
    add_trust_root_argument(parser)
    parser.add_argument(
        "--at",
        metavar="RFC3339|fetched",
        help="verification time of every item, e.g. 2025-09-15T00:00:00Z (default: now); "
        "'fetched': each bundle at its own fetch time (items that are not bundles fail)",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=_positive,
        default=None,
        metavar="N",
        help="worker processes (default: the CPUs available; 1 verifies in this process)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="text",
        help="text: one line per item, then the summary; jsonl: one "
        '{"path", "report"} object per line, the summary on stderr (default: text)',
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the results to FILE (atomically, when all are done) instead of stdout",
    )
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help='append a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY")',
    )
    parser.set_defaults(handler=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def load_options(args: argparse.Namespace) -> FleetOptions:
    """Read what every item shares; any problem is a usage error, before anything is verified."""
    policy = load_policy_file(args.policy) if args.policy else BASELINE
    at_fetched = args.at == "fetched"
    at = parse_time(args.at) if args.at and not at_fetched else common.now()
    trust_root = None
    if args.trust_root:
        trust_root = read_parsed(args.trust_root, what="trust root", parse=TrustRoot.from_der)
    collateral = None
    if args.collateral:
        collateral = read_parsed(args.collateral, what="collateral", parse=checked_collateral)
    return FleetOptions(
        at=at, policy=policy, trust_root=trust_root, collateral=collateral, at_fetched=at_fetched
    )


def run(args: argparse.Namespace) -> int:
    options = load_options(args)
    exclude = [args.collateral] if args.collateral else []
    items = discover(args.paths, exclude=exclude)
    first = next(items, None)
    if first is None:
        raise InputError(
            "no evidence found (case directories, *.json files or bundles)",
            location=" ".join(args.paths),
        )
    verified_at = "fetched" if options.at_fetched else options.at.strftime("%Y-%m-%dT%H:%M:%SZ")
    summary = FleetSummary(policy=options.policy.name, verified_at=verified_at)
    progress = Progress.for_stderr(lambda: sum(1 for _ in discover(args.paths, exclude=exclude)))
    colour = args.format == "text" and use_colour(args.output)
    to_stdout = args.output in (None, "-")
    results = verify_items(
        itertools.chain([first], items), options, jobs=args.jobs or default_jobs()
    )
    try:
        with contextlib.closing(results), _output(args.output) as out:
            for result in results:
                summary.add(result)
                if to_stdout and progress.active and sys.stdout.isatty():
                    progress.clear()  # the same terminal: keep the progress line below
                out.write(_line(result, args.format, colour))
                progress.update(summary.total, summary.failed)
            progress.close()
            if args.format == "text":
                out.write("\n" + summary.render_text())
    except BrokenPipeError:
        # The reader went away (`| head`): not every result was delivered, so this is no pass.
        _silence_stdout()
        error("output closed before every result was written")
        return EXIT_USAGE
    finally:
        progress.close()
    if args.format != "text" or not to_stdout:
        sys.stderr.write(summary.render_text())
    if args.summary is not None:
        append_text(args.summary, summary.render_markdown())
    return EXIT_PASS if summary.failed == 0 else EXIT_FAIL


def _line(result: ItemResult, fmt: str, colour: bool) -> str:
    if fmt == "jsonl":
        return result.to_json_line() + "\n"
    verdict = result.verdict.value.upper()
    if colour:
        verdict = f"\x1b[{'32' if result.passed else '31'}m{verdict}\x1b[0m"
    failed = f"  {', '.join(result.failed)}" if result.failed else ""
    return f"{verdict} {printable(result.path)}{failed}\n"


@contextlib.contextmanager
def _output(path: str | None) -> Iterator[TextIO]:
    """stdout, or an atomic writer on ``path`` (renamed into place when every line is written)."""
    if path is None or path == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    with contextlib.ExitStack() as stack:
        try:
            handle = stack.enter_context(atomic_text_writer(path))
        except OSError as exc:
            raise InputError(f"cannot write: {exc.strerror or exc}", location=path) from None
        yield handle


def _silence_stdout() -> None:
    # Python flushes stdout again at exit; point it at /dev/null so that raises nothing more.
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


class Progress:
    """A progress bar on stderr, only when stderr is a terminal; redrawn at most 10 times/s."""

    WIDTH = 24

    def __init__(
        self,
        stream: TextIO,
        total: int | None,
        *,
        active: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.total = total
        self.active = active
        self.clock = clock
        self.started = clock()
        self._last = -1.0
        self._shown = False

    @classmethod
    def for_stderr(cls, count: Callable[[], int]) -> Progress:
        """Active when stderr is a TTY; ``count`` (a second, cheap walk) is only called then."""
        active = sys.stderr.isatty()
        return cls(sys.stderr, count() if active else None, active=active)

    def render(self, done: int, failed: int, now: float) -> str:
        elapsed = max(now - self.started, 1e-9)
        rate = f"{done / elapsed:.1f}/s"
        if self.total:
            filled = min(self.WIDTH, self.WIDTH * done // self.total)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            return f"[{bar}] {done}/{self.total}  {failed} failed  {rate}"
        return f"{done} verified  {failed} failed  {rate}"

    def update(self, done: int, failed: int) -> None:
        if not self.active:
            return
        now = self.clock()
        if now - self._last < 0.1 and not (self.total and done >= self.total):
            return
        self._last = now
        self.stream.write("\r\x1b[K" + self.render(done, failed, now))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False
            self._last = -1.0

    def close(self) -> None:
        self.clear()
