"""``cvm-verifier policy init|check``: write a policy from evidence, or check a policy file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..policy_file import dump_policy, load_policy
from ..policy_init import PinRefused, pin_policy
from .common import EXIT_FAIL, EXIT_PASS, error, read_input, write_output
from .verify_cmd import add_evidence_arguments, load_inputs


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "policy", help="write a policy from evidence (init) or check a policy file (check)"
    )
    commands = parser.add_subparsers(dest="policy_command", metavar="ACTION", required=True)

    init = commands.add_parser(
        "init",
        help="verify evidence under the baseline, then pin what it shows",
        description="Verify EVIDENCE under the baseline policy (failing evidence is refused, "
        "exit 1) and write a policy pinning its OS measurements, app, key provider, TD fields "
        "and TCB status, each with a comment saying where it came from.",
    )
    add_evidence_arguments(init)
    init.add_argument("--name", help="the policy's name (default: from the app id or MRTD)")
    init.add_argument(
        "-o", "--output", metavar="FILE", help="write the policy to FILE (atomically)"
    )
    init.set_defaults(handler=run_init)

    check = commands.add_parser(
        "check",
        help="validate a policy file and print it normalised",
        description="Validate FILE (exit 2 with the key and line of the first problem) and print "
        "the normalised policy, defaults spelled out.",
    )
    check.add_argument("file", metavar="FILE", help="policy file (TOML)")
    check.set_defaults(handler=run_check)


def run_init(args: argparse.Namespace) -> int:
    inputs = load_inputs(args)
    report = inputs.verify()
    label = "stdin" if args.evidence == "-" else Path(args.evidence).name
    try:
        text = pin_policy(report, name=args.name, evidence_label=label)
    except PinRefused as exc:
        error(str(exc))
        return EXIT_FAIL
    write_output(text, args.output)
    if args.output:
        print(f"cvm-verifier: wrote {args.output}", file=sys.stderr)
    return EXIT_PASS


def run_check(args: argparse.Namespace) -> int:
    policy = load_policy(read_input(args.file, what="policy"), source=args.file)
    write_output(dump_policy(policy.document), None)
    return EXIT_PASS
