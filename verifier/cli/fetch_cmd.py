"""``cvm-verifier fetch``: from a CVM id (or an app id) to evidence bundles.

The network code is imported only when a fetch runs, so the rest of the CLI never loads an HTTP
client.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..atomicfile import write_atomic
from ..errors import FetchError, InputError
from . import common
from .common import EXIT_FETCH, EXIT_PASS, checked_chain, read_input, read_parsed, write_output

if TYPE_CHECKING:
    from ..bundle import Bundle
    from ..fetch import PccsClient, PhalaCloudClient


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "fetch",
        help="fetch a CVM's attestation and Intel collateral into an evidence bundle",
        description="Fetch the attestation of CVM_ID from the Phala Cloud API (key in "
        "PHALA_CLOUD_API_KEY) and the Intel collateral for its quote from a PCCS, and freeze "
        "them into one evidence bundle that 'cvm-verifier verify BUNDLE' checks offline. With "
        "--app, fetch every running instance of a public app (no key), one bundle each. "
        "Exit 0 on success, 2 usage error, 3 fetch or network error.",
    )
    parser.add_argument(
        "cvm_id", metavar="CVM_ID", nargs="?", help="CVM id, uuid, app_<app id> or instance id"
    )
    parser.add_argument(
        "--app", metavar="APP_ID", help="fetch all instances of this app (public endpoint)"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE|DIR",
        help="write the bundle to FILE (default: stdout); with --app, the directory to write "
        "APP_ID-N.bundle.json into (required)",
    )
    parser.add_argument(
        "--no-collateral",
        action="store_true",
        help="do not fetch collateral (verify will then need --collateral)",
    )
    parser.add_argument(
        "--chain", metavar="FILE", help="also freeze this RA-TLS PEM chain into the bundle"
    )
    parser.add_argument(
        "--compose", metavar="FILE", help="also freeze this app compose file into the bundle"
    )
    add_connection_arguments(parser)
    parser.set_defaults(handler=run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 10:
        raise argparse.ArgumentTypeError("must be an integer from 0 to 10")
    return int(text)


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """Where and how to fetch (shared by ``fetch`` and ``verify --cvm``)."""
    group = parser.add_argument_group("fetching")
    group.add_argument(
        "--api-prefix",
        metavar="URL",
        help="Phala Cloud API prefix (default: $PHALA_CLOUD_API_PREFIX or "
        "https://cloud-api.phala.com/api/v1)",
    )
    group.add_argument(
        "--api-version",
        metavar="VERSION",
        help="X-Phala-Version to request (default: the version this verifier was written for)",
    )
    group.add_argument(
        "--pccs-url",
        metavar="URL",
        help="PCCS to fetch collateral from (default: $PCCS_URL or https://pccs.phala.network)",
    )
    group.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="collateral cache, reused while valid (default: the user cache directory)",
    )
    group.add_argument("--no-cache", action="store_true", help="do not read or write the cache")
    group.add_argument(
        "--timeout",
        type=_positive,
        default=30.0,
        metavar="SECONDS",
        help="connect and read timeout per request (default: 30)",
    )
    group.add_argument(
        "--retries",
        type=_count,
        default=3,
        metavar="N",
        help="retries on connection errors, 429 and 502/503/504 (default: 3)",
    )


def default_cache_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("cvm-verifier")) / "collateral"


def api_client(args: argparse.Namespace) -> PhalaCloudClient:
    from ..fetch import DEFAULT_API_VERSION, PhalaCloudClient

    return PhalaCloudClient.from_env(
        prefix=args.api_prefix,
        api_version=args.api_version or DEFAULT_API_VERSION,
        timeout=args.timeout,
        retries=args.retries,
    )


def pccs_client(args: argparse.Namespace) -> PccsClient:
    from ..fetch import CollateralCache, PccsClient

    cache = None
    if not args.no_cache:
        cache = CollateralCache(args.cache_dir or default_cache_dir())
    return PccsClient.from_env(
        base_url=args.pccs_url, cache=cache, timeout=args.timeout, retries=args.retries
    )


def fetch_bundle(
    args: argparse.Namespace,
    cvm_id: str,
    *,
    with_collateral: bool,
    collateral: bytes | None = None,
) -> Bundle:
    """Fetch one CVM's bundle as the options say (``collateral``: the user's, no PCCS)."""
    from ..fetch import fetch_cvm_bundle

    chain = None
    if args.chain:  # freeze usable parts only
        chain = read_parsed(args.chain, what="certificate chain", parse=checked_chain)
    compose = read_input(args.compose, what="compose file") if args.compose else None
    with api_client(args) as api:
        if collateral is not None or not with_collateral:
            return fetch_cvm_bundle(
                cvm_id,
                api=api,
                pccs=None,
                clock=common.now,
                chain=chain,
                compose=compose,
                collateral=collateral,
            )
        with pccs_client(args) as pccs:
            return fetch_cvm_bundle(
                cvm_id, api=api, pccs=pccs, clock=common.now, chain=chain, compose=compose
            )


def run(args: argparse.Namespace) -> int:
    if (args.cvm_id is None) == (args.app is None):
        raise InputError("give a CVM_ID or --app APP_ID (exactly one)")
    if args.app is not None:
        return _run_app(args)
    bundle = fetch_bundle(args, args.cvm_id, with_collateral=not args.no_collateral)
    write_output(bundle.to_json(), args.output)
    if args.output not in (None, "-"):
        print(f"cvm-verifier: wrote {args.output}", file=sys.stderr)
    return EXIT_PASS


def _run_app(args: argparse.Namespace) -> int:
    from ..fetch import fetch_app_bundles

    if not args.output or args.output == "-":
        raise InputError("--app writes one bundle per instance: give -o DIR")
    if args.chain or args.compose:
        raise InputError("--chain and --compose are per CVM: not with --app")
    directory = Path(args.output)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create: {exc.strerror or exc}", location=args.output) from None
    tty = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if tty:
            end = "\n" if done == total else ""
            print(f"\rcvm-verifier: instance {done}/{total}", end=end, file=sys.stderr, flush=True)

    with api_client(args) as api:
        if args.no_collateral:
            results = fetch_app_bundles(
                args.app, api=api, pccs=None, clock=common.now, progress=progress
            )
        else:
            with pccs_client(args) as pccs:
                results = fetch_app_bundles(
                    args.app, api=api, pccs=pccs, clock=common.now, progress=progress
                )
    failed = 0
    written = 0
    for result in results:
        label = f"instance {result.index}" + (
            f" ({result.instance_id})" if result.instance_id else ""
        )
        if result.bundle is not None:
            target = directory / f"{args.app}-{result.index}.bundle.json"
            try:
                write_atomic(target, result.bundle.to_json())
            except OSError as exc:
                raise InputError(
                    f"cannot write: {exc.strerror or exc}", location=str(target)
                ) from None
            written += 1
            print(f"cvm-verifier: wrote {target}", file=sys.stderr)
        elif result.skipped is not None:
            print(f"cvm-verifier: skipped {label}: {result.skipped}", file=sys.stderr)
        elif result.error is not None:
            failed += 1
            common.error(f"{label}: {result.error}")
    if failed:
        return EXIT_FETCH
    if written == 0:
        raise FetchError(f"app {args.app} has no running instance with a quote")
    return EXIT_PASS
