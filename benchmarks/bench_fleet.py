"""Throughput of fleet verification (``verify-many``) with 1 and with 2 worker processes.

    python benchmarks/bench_fleet.py [--items N] [--rounds R] [--case NAME | --forged]

Builds a fleet of N case directories in a temporary directory: a real corpus case replicated
(``$CVM_VERIFIER_FIXTURES``, default ``../shared/fixtures``; its files are linked, never copied
into the repository) or, with ``--forged``, N distinct CVMs forged by ``verifier.testing`` (one
instance id each, one test PKI and collateral). It then verifies the fleet as ``verify-many``
does (discovery, workers, ordered results) with ``--jobs 1`` (in this process) and ``--jobs 2``,
interleaved over R rounds, and prints the median throughput of each and their ratio (target: at
least 1.8x on a machine with 2 free cores). Last, the peak RSS of the parent and of the largest
worker after N and after 4N items: it should not grow with the number of items.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from verifier import TrustRoot
from verifier.fleet import FleetOptions, discover, verify_items

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("CVM_VERIFIER_FIXTURES", REPO.parent / "shared" / "fixtures"))
CASE_FILES = (
    "attestation.json",
    "getquote.json",
    "collateral.json",
    "chain.pem",
    "app-compose.json",
)


def replicate_case(case: Path, into: Path, items: int) -> datetime:
    """``items`` case directories whose files link to ``case``'s; returns its verify_at."""
    for n in range(items):
        target = into / f"cvm-{n:06d}"
        target.mkdir()
        for name in CASE_FILES:
            if (case / name).exists():
                (target / name).symlink_to(case / name)
    return datetime.fromisoformat(json.loads((case / "expected.json").read_text())["verify_at"])


def forge_fleet(into: Path, items: int) -> tuple[datetime, TrustRoot]:
    """``items`` distinct forged CVMs (test-only tooling; imported only when asked for)."""
    from verifier.testing import CvmOptions, simulate
    from verifier.testing.fixtures import VERIFY_AT

    root = None
    for n in range(items):
        cvm = simulate(CvmOptions(instance_id=n.to_bytes(20, "big")))
        target = into / f"cvm-{n:06d}"
        target.mkdir()
        (target / "attestation.json").write_text(cvm.cvm_attestation_json())
        (target / "collateral.json").write_text(cvm.collateral.to_json())
        (target / "chain.pem").write_text(cvm.chain_pem())
        root = cvm.pki.root_der
    assert root is not None
    return VERIFY_AT, TrustRoot.from_der(root)


def run_fleet(
    paths: Sequence[Path],
    options: FleetOptions,
    jobs: int,
    context: multiprocessing.context.BaseContext | None = None,
) -> tuple[float, int]:
    """Wall time of one fleet run (discovery to last result) and the number of items."""
    start = time.perf_counter()
    count = 0
    for result in verify_items(discover(paths), options, jobs=jobs, mp_context=context):
        count += 1
        if not result.passed:
            raise SystemExit(f"{result.path} failed {result.failed}: not a benchmark fleet")
    return time.perf_counter() - start, count


def _mib(kib: int) -> str:
    return f"{kib / 1024:.1f} MiB"  # ru_maxrss is in KiB on Linux


def peak_rss(fleet: Path, options: FleetOptions) -> list[str]:
    """Peak RSS of this process and of the largest worker, after N items then after 4N items.

    Workers are started with ``spawn`` here so that they are this process's children and their
    peak shows in ``RUSAGE_CHILDREN`` once the pool has reaped them.
    """
    spawn = multiprocessing.get_context("spawn")
    rows = []
    for copies in (1, 4):
        _, count = run_fleet([fleet] * copies, options, 2, spawn)
        parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        rows.append(f"after {count} items: parent {_mib(parent)}, largest worker {_mib(worker)}")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    # 1600 items: a run then lasts seconds, so starting the worker pool (a fixed ~0.1 s that
    # --jobs 1 does not pay) no longer hides the per-item throughput the ratio is about.
    parser.add_argument("--items", type=int, default=1600, help="fleet size (default 1600)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (default 3)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--case", default="app-uptodate", help="corpus case to replicate")
    source.add_argument("--forged", action="store_true", help="forge distinct CVMs instead")
    args = parser.parse_args(argv)
    if args.items < 1 or args.rounds < 1:
        print("--items and --rounds must be at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-fleet-") as tmp:
        fleet = Path(tmp) / "fleet"
        fleet.mkdir()
        if args.forged:
            at, root = forge_fleet(fleet, args.items)
            options = FleetOptions(at=at, trust_root=root)
            label = "forged CVMs, distinct"
        else:
            case = FIXTURES / "cases" / args.case
            if not (case / "expected.json").exists():
                print(f"no corpus case {args.case} under {FIXTURES}", file=sys.stderr)
                return 2
            options = FleetOptions(at=replicate_case(case, fleet, args.items))
            label = f"corpus case {args.case}, replicated"
        # Memory first: this process's peak RSS must not include the in-process --jobs 1 runs.
        memory = peak_rss(fleet, options)
        run_fleet([fleet], options, 2)  # warm-up: starts the fork server, fills the page cache
        samples: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(args.rounds):
            for jobs in samples:  # interleaved: a load spike hits both rows
                seconds, _ = run_fleet([fleet], options, jobs)
                samples[jobs].append(args.items / seconds)
    rates = {jobs: statistics.median(rows) for jobs, rows in samples.items()}
    print(f"fleet of {args.items} items ({label}), median of {args.rounds} rounds")
    print(f"  1 process    {rates[1]:9.1f} items/s   1.00x")
    print(f"  2 processes  {rates[2]:9.1f} items/s   {rates[2] / rates[1]:.2f}x (target >= 1.8x)")
    for row in memory:
        print(f"  peak RSS {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
