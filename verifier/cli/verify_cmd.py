"""``cvm-verifier verify``: verify one evidence document (or evidence bundle) at a time."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from ..bundle import Bundle, is_bundle, load_bundle
from ..collateral import Collateral
from ..errors import InputError
from ..evidence import Evidence, load_evidence
from ..policy import BASELINE, Policy
from ..policy_file import load_policy
from ..quote_verification import TrustRoot
from ..report import Report
from ..verification import verify
from . import common, fetch_cmd
from .common import (
    EXIT_FAIL,
    EXIT_PASS,
    add_trust_root_argument,
    checked_chain,
    checked_collateral,
    read_input,
    read_parsed,
    write_output,
)
from .output import FORMATS, emit

T = TypeVar("T")


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="verify an attestation (evidence JSON or an evidence bundle)",
        description="Verify one evidence document or evidence bundle offline (or, with --cvm, "
        "fetch one first). Exit 0 pass, 1 verification or policy failure, 2 usage or input "
        "error, 3 fetch or network error (--cvm).",
    )
    add_evidence_arguments(parser, optional=True)
    parser.add_argument(
        "--cvm",
        metavar="CVM_ID",
        help="fetch the CVM's attestation and collateral (as 'fetch' does) instead of reading "
        "EVIDENCE, and verify at the fetch time",
    )
    parser.add_argument(
        "--save", metavar="FILE", help="with --cvm: keep the fetched bundle in FILE (atomically)"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file (TOML) saying what you accept; default: the baseline policy",
    )
    parser.add_argument(
        "--format", choices=FORMATS, default="text", help="report format (default: text)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write the report to FILE (atomically) instead of stdout",
    )
    parser.add_argument(
        "--summary",
        metavar="FILE",
        help='append a Markdown summary to FILE (e.g. "$GITHUB_STEP_SUMMARY")',
    )
    fetch_cmd.add_connection_arguments(parser)
    parser.set_defaults(handler=run)


def add_evidence_arguments(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """The inputs of one verification (shared by ``verify`` and ``policy init``)."""
    parser.add_argument(
        "evidence",
        metavar="EVIDENCE",
        nargs="?" if optional else None,
        help="CvmAttestation, app instance or GetQuote JSON, or an evidence bundle "
        "(cvm-verifier fetch); '-' for stdin",
    )
    parser.add_argument(
        "--collateral",
        metavar="FILE",
        help="Intel collateral for the quote (dcap-qvl QuoteCollateralV3 JSON); required unless "
        "EVIDENCE is a bundle with collateral, whose collateral it then replaces",
    )
    parser.add_argument(
        "--chain",
        metavar="FILE",
        help="the app's RA-TLS PEM chain, leaf first (replaces a bundle's)",
    )
    parser.add_argument(
        "--compose",
        metavar="FILE",
        help="the app compose file, hashed as its exact bytes (replaces a bundle's)",
    )
    add_trust_root_argument(parser)
    parser.add_argument(
        "--at",
        metavar="RFC3339|fetched",
        help="verification time, e.g. 2025-09-15T00:00:00Z (default: now); 'fetched' is the "
        "bundle's fetch time",
    )


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp with an explicit offset (``Z`` or ``+hh:mm``)."""
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InputError(f"not an RFC 3339 time: {text!r}", location="--at") from None
    if moment.tzinfo is None:
        raise InputError(f"{text!r} has no timezone; add Z or an offset", location="--at")
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class VerifyInputs:
    """Everything one verification reads, parsed (so bad input fails before verifying)."""

    evidence: Evidence
    collateral: Collateral
    at: datetime
    chain: bytes | None
    compose: bytes | None
    trust_root: TrustRoot | None

    def verify(self, policy: Policy = BASELINE) -> Report:
        return verify(
            self.evidence,
            collateral=self.collateral,
            at=self.at,
            policy=policy,
            chain_pem=self.chain,
            compose=self.compose,
            trust_root=self.trust_root,
        )


def _bundle_part(source: str, parse: Callable[[], T]) -> T:
    """Parse a part of a bundle; its errors name the bundle file."""
    try:
        return parse()
    except InputError as exc:
        raise exc.within(source) from None


def _time(text: str | None, bundle: Bundle | None) -> datetime:
    if text == "fetched":
        if bundle is None:
            raise InputError(
                "'fetched' is the fetch time of a bundle; EVIDENCE is not a bundle", location="--at"
            )
        return bundle.fetched_at
    return parse_time(text) if text else common.now()


def load_inputs(args: argparse.Namespace, *, bundle: Bundle | None = None) -> VerifyInputs:
    """Read and parse the inputs named by :func:`add_evidence_arguments`.

    EVIDENCE may be an evidence bundle (detected by its ``schema``): its parts are the defaults
    of ``--collateral``, ``--chain`` and ``--compose``, which replace them when given. A bundle
    already in hand (``verify --cvm``) is passed as ``bundle``. The trust root comes only from
    ``--trust-root``: a bundle never carries one.
    """
    source = "bundle"
    data: bytes | None = None
    if args.at is not None and args.at != "fetched":
        parse_time(args.at)  # a bad --at is a usage error before any file is read
    if bundle is None:
        source = args.evidence
        data = read_input(args.evidence, what="evidence")
        if is_bundle(data):
            raw = data
            bundle = _bundle_part(source, lambda: load_bundle(raw))
    at = _time(args.at, bundle)
    if bundle is not None:
        evidence = _bundle_part(source, bundle.evidence)
    else:
        raw_evidence = data or b""
        evidence = _bundle_part(source, lambda: load_evidence(raw_evidence))
    collateral: Collateral | None
    if args.collateral:
        collateral = read_parsed(args.collateral, what="collateral", parse=Collateral.from_json)
    elif bundle is not None:
        collateral = _bundle_part(source, bundle.parsed_collateral)
    else:
        collateral = None
    if collateral is None:
        why = " (the bundle has none: it was fetched with --no-collateral)" if bundle else ""
        raise InputError(f"--collateral FILE is required{why}", location="--collateral")
    chain = None
    if args.chain:
        # Read once: the bytes that are checked here are the bytes that are verified.
        chain = read_parsed(args.chain, what="certificate chain", parse=checked_chain)
    elif bundle is not None and bundle.chain_pem is not None:
        bundle_chain = bundle.chain_pem
        chain = _bundle_part(source, lambda: checked_chain(bundle_chain))
    compose = read_input(args.compose, what="compose file") if args.compose else None
    if compose is None and bundle is not None:
        compose = bundle.compose_bytes
    trust_root = (
        read_parsed(args.trust_root, what="trust root", parse=TrustRoot.from_der)
        if args.trust_root
        else None
    )
    return VerifyInputs(evidence, collateral, at, chain, compose, trust_root)


def load_policy_file(path: str) -> Policy:
    """Read a policy file named on the command line (``InputError`` names file and line)."""
    return load_policy(read_input(path, what="policy"), source=path)


def run(args: argparse.Namespace) -> int:
    # The policy first: a broken policy is a usage error whatever the evidence says.
    policy = load_policy_file(args.policy) if args.policy else BASELINE
    bundle = None
    if args.cvm is not None:
        if args.evidence is not None:
            raise InputError("give EVIDENCE or --cvm CVM_ID, not both")
        if args.at is not None and args.at != "fetched":
            parse_time(args.at)
        collateral = None
        if args.collateral:  # checked before fetching: a saved bundle holds usable parts only
            collateral = read_parsed(args.collateral, what="collateral", parse=checked_collateral)
        bundle = fetch_cmd.fetch_bundle(args, args.cvm, with_collateral=True, collateral=collateral)
        if args.save:
            write_output(bundle.to_json(), args.save)
        if args.at is None:
            args.at = "fetched"
    elif args.evidence is None:
        raise InputError("give EVIDENCE (a file, '-' or a bundle) or --cvm CVM_ID")
    elif args.save:
        raise InputError("--save keeps what --cvm fetched: give --cvm", location="--save")
    report = load_inputs(args, bundle=bundle).verify(policy)
    emit(report, args.format, args.output, args.summary)
    return EXIT_PASS if report.passed else EXIT_FAIL
