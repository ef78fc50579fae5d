"""``cvm-verifier verify``: verify one evidence document against a collateral at a time."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from typing import Any

from ..collateral import Collateral
from ..errors import InputError
from ..evidence import load_evidence
from ..quote_verification import TrustRoot
from ..render import render_text
from ..verification import verify
from .common import EXIT_FAIL, EXIT_PASS, read_input, write_output


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="verify an attestation (CvmAttestation or dstack GetQuote JSON)",
        description="Verify one evidence document offline. Exit 0 pass, 1 fail, 2 usage or "
        "input error.",
    )
    parser.add_argument(
        "evidence", metavar="EVIDENCE", help="CvmAttestation or GetQuote JSON file ('-' for stdin)"
    )
    parser.add_argument(
        "--collateral",
        required=True,
        metavar="FILE",
        help="Intel collateral for the quote (dcap-qvl QuoteCollateralV3 JSON)",
    )
    parser.add_argument("--chain", metavar="FILE", help="the app's RA-TLS PEM chain, leaf first")
    parser.add_argument(
        "--compose", metavar="FILE", help="the app compose file, hashed as its exact bytes"
    )
    parser.add_argument(
        "--trust-root",
        metavar="FILE.der",
        help="verify quotes under this root CA (DER) instead of Intel's; for test PKIs only",
    )
    parser.add_argument(
        "--at",
        metavar="RFC3339",
        help="verification time, e.g. 2025-09-15T00:00:00Z (default: now)",
    )
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="report format (default: text)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout",
    )
    parser.set_defaults(handler=run)


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset (``Z`` or ``+hh:mm``)."""
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InputError(f"not an RFC 3339 time: {text!r}", location="--at") from None
    if moment.tzinfo is None:
        raise InputError(f"{text!r} has no timezone; add Z or an offset", location="--at")
    return moment.astimezone(UTC)


def run(args: argparse.Namespace) -> int:
    at = parse_time(args.at) if args.at else datetime.now(UTC)
    try:
        evidence = load_evidence(read_input(args.evidence, what="evidence"))
    except InputError as exc:
        raise exc.within(args.evidence) from None
    try:
        collateral = Collateral.from_json(read_input(args.collateral, what="collateral"))
    except InputError as exc:
        raise exc.within(args.collateral) from None
    chain = read_input(args.chain, what="certificate chain") if args.chain else None
    compose = read_input(args.compose, what="compose file") if args.compose else None
    trust_root = None
    if args.trust_root:
        try:
            trust_root = TrustRoot.from_der(read_input(args.trust_root, what="trust root"))
        except InputError as exc:
            raise exc.within(args.trust_root) from None
    if chain is not None:
        from ..certificates import load_pem_chain

        try:
            load_pem_chain(chain)
        except InputError as exc:
            raise exc.within(args.chain) from None
    report = verify(
        evidence,
        collateral=collateral,
        at=at,
        chain_pem=chain,
        compose=compose,
        trust_root=trust_root,
    )
    if args.format == "json":
        text = report.to_json()
    else:
        colour = args.output is None and sys.stdout.isatty() and "NO_COLOR" not in os.environ
        text = render_text(report, colour=colour)
    write_output(text, args.output)
    return EXIT_PASS if report.passed else EXIT_FAIL
