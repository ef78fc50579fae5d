"""Cost of a full ``verify`` relative to the raw dcap-qvl quote verification it wraps.

    python benchmarks/bench_verify.py [--runs N] [--case NAME ...]

For each real corpus case (``$CVM_VERIFIER_FIXTURES``, default ``../shared/fixtures``) it prints the
median wall time of ``dcap_qvl.verify`` on the case's quote and collateral, of the full
``verifier.verify`` (parsing, quote, event-log replay, app binding, certificates, report), and
their ratio. Both are measured in the same run, interleaved, so the ratio is what to compare across
machines. Target: ratio <= 1.15 without the PEM chain (the chain adds ECDSA signature checks).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import dcap_qvl

from verifier import Collateral, load_evidence, verify

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("CVM_VERIFIER_FIXTURES", REPO.parent / "shared" / "fixtures"))
DEFAULT_CASES = ("app-uptodate", "kms-uptodate")


def interleaved_medians(actions: list[Callable[[], object]], runs: int) -> list[float]:
    """Median wall time of each action over ``runs`` rounds; each round calls every action once.

    Interleaving keeps the ratios fair when the machine is busy: a load spike hits every row.
    """
    for action in actions:
        action()  # warm-up
    samples: list[list[float]] = [[] for _ in actions]
    for _ in range(runs):
        for action, row in zip(actions, samples, strict=True):
            start = time.perf_counter()
            action()
            row.append(time.perf_counter() - start)
    return [statistics.median(row) for row in samples]


def bench_case(path: Path, runs: int) -> list[tuple[str, float]]:
    """Rows of (label, median seconds) for one corpus case."""
    expected = json.loads((path / "expected.json").read_text())
    name = "attestation.json" if (path / "attestation.json").exists() else "getquote.json"
    raw = (path / name).read_bytes()
    collateral_raw = (path / "collateral.json").read_bytes()
    chain = (path / "chain.pem").read_bytes() if (path / "chain.pem").exists() else None
    compose_path = path / "app-compose.json"
    compose = compose_path.read_bytes() if compose_path.exists() else None
    at = datetime.fromisoformat(expected["verify_at"])
    at_secs = int(at.timestamp())

    evidence = load_evidence(raw)
    collateral = Collateral.from_json(collateral_raw)
    quote = evidence.quote
    if quote is None:
        raise SystemExit(f"{path.name}: the evidence carries no quote")

    rows = [
        ("dcap_qvl.verify (quote only)", lambda: dcap_qvl.verify(quote, collateral.inner, at_secs)),
        (
            "verify, parsed inputs, no chain",
            lambda: verify(evidence, collateral=collateral, at=at, compose=compose),
        ),
        (
            "verify, raw JSON inputs, no chain",
            lambda: verify(raw, collateral=collateral_raw, at=at, compose=compose),
        ),
    ]
    if chain is not None:
        rows.append(
            (
                "verify, raw JSON inputs + PEM chain",
                lambda: verify(
                    raw, collateral=collateral_raw, at=at, compose=compose, chain_pem=chain
                ),
            )
        )
    medians = interleaved_medians([action for _, action in rows], runs)
    return [(label, seconds) for (label, _), seconds in zip(rows, medians, strict=True)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=300, help="timed runs per row (default 300)")
    parser.add_argument("--case", action="append", help="corpus case name (repeatable)")
    args = parser.parse_args(argv)
    cases = args.case or list(DEFAULT_CASES)
    for name in cases:
        path = FIXTURES / "cases" / name
        if not (path / "expected.json").exists():
            print(f"no corpus case {name} under {FIXTURES}", file=sys.stderr)
            return 2
        rows = bench_case(path, args.runs)
        base = rows[0][1]
        print(f"{name} (median of {args.runs} runs)")
        for label, seconds in rows:
            print(f"  {label:<38} {seconds * 1e3:8.3f} ms   {seconds / base:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
