"""Fleet verification: many evidence items, verified in parallel processes, reported in order.

An *item* is one verification: a case directory (``attestation.json`` or ``getquote.json`` with
``collateral.json``, optional ``chain.pem`` and ``app-compose.json``), a plain evidence file
(verified with the fleet's default collateral) or an evidence bundle file. :func:`discover` walks
paths lazily in a deterministic order; :func:`verify_items` verifies items in worker processes
(dcap-qvl holds the GIL while it verifies, so threads would not run in parallel) and yields their
results in input order while at most a bounded window of items is in flight, so memory stays flat
however many items there are; :class:`FleetSummary` counts them.

What is trusted comes from the caller only: the trust root, the verification time and the policy
are :class:`FleetOptions`. Nothing an item directory holds (a ``trust-root.der``, an
``expected.json``) is ever read: an attacker-supplied directory could carry its own root.

A bad item never stops the fleet: an unreadable file or malformed evidence is a failing report
(``evidence_parse`` / ``collateral_parse``) for that item, as :func:`verifier.verify` gives for
bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import multiprocessing
import multiprocessing.context
import os
import pickle
import signal
import threading
from collections import OrderedDict, deque
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from .bundle import BUNDLE_SCHEMA, BUNDLE_SCHEMA_PREFIX, is_bundle, load_bundle
from .collateral import Collateral
from .errors import InputError, VerifierError
from .evidence import load_evidence
from .policy import BASELINE, Policy
from .quote_verification import TrustRoot
from .report import Report, Verdict
from .verification import unusable_input_report, verify

#: File names of a case directory (the evidence corpus layout).
CASE_EVIDENCE_NAMES = ("attestation.json", "getquote.json")
CASE_COLLATERAL = "collateral.json"
CASE_CHAIN = "chain.pem"
CASE_COMPOSE = "app-compose.json"
#: Files a directory walk picks up as items (a file named on the command line is always one).
WALKED_SUFFIX = ".json"

#: Largest file an item reads; evidence, collateral and chains are far smaller.
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Items a worker verifies per task: amortises the inter-process round trip (~0.1 ms) over a few
#: verifications (~2 ms each) without hurting the load balance.
CHUNK = 8
#: Tasks in flight per worker: keeps every worker busy while results wait to be written in order.
WINDOW_PER_JOB = 4
#: Parsed collaterals a worker keeps (a fleet has a few platform families, one collateral each).
COLLATERAL_CACHE = 32
#: Example paths the summary keeps per failing finding id (memory stays bounded).
SUMMARY_EXAMPLES = 5


class ItemKind(StrEnum):
    CASE = "case"  # a case directory
    FILE = "file"  # evidence JSON or an evidence bundle (told apart by content)
    UNLISTABLE = "unlistable"  # a directory that could not be listed: a failing item


@dataclass(frozen=True)
class Item:
    """One verification to do: ``path`` is what the results name (as discovered, not resolved)."""

    path: str
    kind: ItemKind
    error: str | None = None


@dataclass(frozen=True)
class FleetOptions:
    """What every item is verified with; picklable (it is sent to every worker process).

    ``collateral`` is the raw collateral for plain evidence files (case directories and bundles
    carry their own). ``trust_root`` ``None`` is Intel's root. ``policy`` must pickle
    (:class:`~verifier.policy_file.FilePolicy` and the baseline do).
    """

    at: datetime
    policy: Policy = BASELINE
    trust_root: TrustRoot | None = None
    collateral: bytes | None = None
    #: verify each bundle at its own ``fetched_at`` (``--at fetched``); an item that is not a
    #: bundle then has no verification time and fails; ``at`` dates only those failing reports
    at_fetched: bool = False


@dataclass(frozen=True)
class ItemResult:
    """The outcome of one item: the report as compact JSON (:meth:`Report.to_json_line`) and
    what a summary needs, so that results cross process boundaries cheaply."""

    path: str
    verdict: Verdict
    failed: tuple[str, ...]
    warnings: int
    report_json: str

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    def report(self) -> Report:
        """The :class:`Report` (parsed back from :attr:`report_json`)."""
        return Report.model_validate_json(self.report_json)

    def to_json_line(self) -> str:
        """``{"path": ..., "report": {...}}`` on one ASCII line, without the newline."""
        return '{"path":' + json.dumps(self.path) + ',"report":' + self.report_json + "}"

    @classmethod
    def of(cls, path: str, report: Report) -> ItemResult:
        return cls(
            path=path,
            verdict=report.verdict,
            failed=tuple(f.id for f in report.failures()),
            warnings=len(report.warnings()),
            report_json=report.to_json_line(),
        )


# --- discovery -------------------------------------------------------------------------------


def discover(
    paths: Sequence[str | os.PathLike[str]], *, exclude: Sequence[str | os.PathLike[str]] = ()
) -> Iterator[Item]:
    """The items under ``paths``, in order, lazily.

    A file is one item; a case directory is one item; any other directory is walked: entries
    sorted by name, hidden ones (``.name``) skipped, subdirectories recursed into (symbolic links
    to directories are not followed), ``*.json`` files taken as items. Files in ``exclude`` (the
    default collateral, say) are skipped by the walk. Raises :class:`InputError` at once if a path
    does not exist; a directory that cannot be listed is a failing item, not an error.
    """
    roots = [os.fspath(p) for p in paths]
    for root in roots:
        if not os.path.exists(root):
            raise InputError("no such file or directory", location=root)
    skip = {_identity(os.fspath(p)) for p in exclude} - {None}
    return itertools.chain.from_iterable(_items_under(root, skip) for root in roots)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def is_case_directory(path: str) -> bool:
    """A directory with a ``collateral.json`` and an ``attestation.json`` or ``getquote.json``."""
    return os.path.isfile(os.path.join(path, CASE_COLLATERAL)) and any(
        os.path.isfile(os.path.join(path, name)) for name in CASE_EVIDENCE_NAMES
    )


def _items_under(path: str, skip: set[tuple[int, int] | None]) -> Iterator[Item]:
    if not os.path.isdir(path):
        yield Item(path, ItemKind.FILE)
        return
    if is_case_directory(path):
        yield Item(path, ItemKind.CASE)
        return
    try:
        with os.scandir(path) as listing:
            entries = sorted(
                (e.name, e.is_dir(follow_symlinks=False), e.is_file()) for e in listing
            )
    except OSError as exc:
        yield Item(path, ItemKind.UNLISTABLE, f"cannot list the directory: {_why(exc)}")
        return
    for name, is_dir, is_file in entries:
        if name.startswith("."):
            continue
        child = os.path.join(path, name)
        if is_dir:
            yield from _items_under(child, skip)
        elif is_file and name.endswith(WALKED_SUFFIX) and not (skip and _identity(child) in skip):
            yield Item(child, ItemKind.FILE)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


# --- loading one item ------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemInputs:
    """The inputs of one :func:`verifier.verify` call; ``collateral`` ``None``: the default."""

    evidence: bytes
    collateral: bytes | None
    chain: bytes | None = None
    compose: bytes | None = None
    #: when the evidence was fetched (bundles only)
    fetched_at: datetime | None = None


class ItemUnusable(Exception):
    """An item whose inputs cannot be read: it becomes a failing report, not an error."""

    def __init__(self, finding_id: str, reason: str, evidence: bytes = b"") -> None:
        super().__init__(reason)
        self.finding_id = finding_id
        self.reason = reason
        self.evidence_sha256 = hashlib.sha256(evidence).hexdigest()


def load_item(item: Item) -> ItemInputs:
    """Read one item's inputs: the one place that knows the kinds of items.

    Raises :class:`ItemUnusable` for an item that cannot be read. A bundle file is recognised by
    its ``schema`` and handed to :func:`_load_bundle`; anything else is evidence JSON.
    """
    if item.kind is ItemKind.UNLISTABLE:
        raise ItemUnusable("evidence_parse", item.error or "cannot list the directory")
    if item.kind is ItemKind.CASE:
        return _load_case(item.path)
    data = _read(item.path, "evidence", "evidence_parse")
    # Cheap first: an evidence file never holds the schema name, so it is not parsed twice.
    if BUNDLE_SCHEMA_PREFIX.encode() in data and is_bundle(data):
        return _load_bundle(data)
    return ItemInputs(evidence=data, collateral=None)


def _load_bundle(data: bytes) -> ItemInputs:
    """A bundle's parts, checked against their digests; never a trust root (it has none)."""
    try:
        bundle = load_bundle(data)
    except InputError as exc:
        raise ItemUnusable("evidence_parse", f"not a usable {BUNDLE_SCHEMA}: {exc}", data) from None
    return ItemInputs(
        evidence=bundle.evidence_bytes,
        collateral=bundle.collateral.data if bundle.collateral is not None else None,
        chain=bundle.chain_pem,
        compose=bundle.compose_bytes,
        fetched_at=bundle.fetched_at,
    )


def _load_case(directory: str) -> ItemInputs:
    present = [n for n in CASE_EVIDENCE_NAMES if os.path.isfile(os.path.join(directory, n))]
    if len(present) != 1:
        # Both (or, after a race, neither): which one would be verified is not for us to guess.
        raise ItemUnusable(
            "evidence_parse",
            f"a case directory holds exactly one of {' or '.join(CASE_EVIDENCE_NAMES)}; "
            f"found {len(present)}",
        )
    (name,) = present
    evidence = _read(os.path.join(directory, name), name, "evidence_parse")
    collateral_path = os.path.join(directory, CASE_COLLATERAL)
    collateral = _read(collateral_path, CASE_COLLATERAL, "collateral_parse", evidence)
    return ItemInputs(
        evidence=evidence,
        collateral=collateral,
        chain=_read_optional(os.path.join(directory, CASE_CHAIN), evidence),
        compose=_read_optional(os.path.join(directory, CASE_COMPOSE), evidence),
    )


def _read(path: str, what: str, finding_id: str, evidence: bytes = b"") -> bytes:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ItemUnusable(finding_id, f"cannot read {what}: {_why(exc)}", evidence) from None
    if len(data) > MAX_FILE_BYTES:
        raise ItemUnusable(finding_id, f"{what} is larger than {MAX_FILE_BYTES} bytes", evidence)
    return data


def _read_optional(path: str, evidence: bytes) -> bytes | None:
    if not os.path.lexists(path):
        return None
    return _read(path, os.path.basename(path), "evidence_parse", evidence)


# --- the worker ------------------------------------------------------------------------------


class Worker:
    """Verifies items with one :class:`FleetOptions`; caches parsed collaterals by SHA-256."""

    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self._collaterals: OrderedDict[str, Collateral] = OrderedDict()
        # The default collateral is parsed once, here, not once per item.
        if options.collateral is not None:
            self._collateral(options.collateral)

    def run(self, item: Item) -> ItemResult:
        """Verify one item; never raises for a bad item (it is a failing result)."""
        try:
            report = self._verify(item)
        except ItemUnusable as exc:
            report = self._unusable(exc.finding_id, exc.reason, exc.evidence_sha256)
        except Exception as exc:  # fail closed: a bug is a failing item, not a lost fleet
            report = self._unusable(
                "evidence_parse",
                f"internal error while verifying this item: {type(exc).__name__}: {exc}",
                hashlib.sha256(b"").hexdigest(),
            )
        return ItemResult.of(item.path, report)

    def _verify(self, item: Item) -> Report:
        inputs = load_item(item)
        at = self.options.at
        if self.options.at_fetched:
            if inputs.fetched_at is None:
                raise ItemUnusable(
                    "evidence_parse",
                    "--at fetched verifies bundles at their fetch time; this item is not a "
                    "bundle and records none",
                    inputs.evidence,
                )
            at = inputs.fetched_at
        raw_collateral = inputs.collateral
        if raw_collateral is None:
            raw_collateral = self.options.collateral
        if raw_collateral is None:
            try:  # malformed evidence is the more useful thing to say
                load_evidence(inputs.evidence)
            except InputError as exc:
                raise ItemUnusable(
                    "evidence_parse", f"not usable evidence: {exc}", inputs.evidence
                ) from None
            raise ItemUnusable(
                "collateral_parse",
                "no collateral for this evidence file: give a default collateral (--collateral) "
                "or use a case directory or a bundle",
                inputs.evidence,
            )
        return verify(
            inputs.evidence,
            collateral=self._collateral(raw_collateral),
            at=at,
            policy=self.options.policy,
            chain_pem=inputs.chain,
            compose=inputs.compose,
            trust_root=self.options.trust_root,
        )

    def _collateral(self, data: bytes) -> Collateral | bytes:
        """The parsed collateral (cached); malformed bytes are returned for verify() to report."""
        digest = hashlib.sha256(data).hexdigest()
        cached = self._collaterals.get(digest)
        if cached is not None:
            self._collaterals.move_to_end(digest)
            return cached
        try:
            parsed = Collateral.from_json(data)
        except InputError:
            return data  # verify() turns it into a collateral_parse finding
        self._collaterals[digest] = parsed
        if len(self._collaterals) > COLLATERAL_CACHE:
            self._collaterals.popitem(last=False)
        return parsed

    def _unusable(self, finding_id: str, reason: str, sha256: str) -> Report:
        return unusable_input_report(
            finding_id,
            reason,
            at=self.options.at,
            policy=self.options.policy,
            trust_root=self.options.trust_root,
            evidence_sha256=sha256,
        )


_WORKER: Worker | None = None


def _init_worker(options: FleetOptions) -> None:
    """Process-pool initializer: one :class:`Worker` per process, for every task it runs."""
    global _WORKER
    # Ctrl-C is the parent's to handle (it stops the fleet cleanly); a worker finishes its task.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER = Worker(options)


def _run_chunk(items: list[Item]) -> list[ItemResult]:
    worker = _WORKER
    if worker is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("fleet worker not initialised")
    return [worker.run(item) for item in items]


# --- the ordered, bounded parallel map -------------------------------------------------------


def default_jobs() -> int:
    """The CPUs this process may run on (``os.cpu_count()`` where affinity is unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def verify_items(
    items: Iterable[Item],
    options: FleetOptions,
    *,
    jobs: int = 1,
    chunk: int = CHUNK,
    window: int | None = None,
    mp_context: multiprocessing.context.BaseContext | None = None,
) -> Generator[ItemResult, None, None]:
    """Verify ``items`` and yield one :class:`ItemResult` each, in input order.

    ``jobs`` 1 verifies in this process; more starts that many worker processes. At most
    ``window`` tasks of ``chunk`` items are in flight (default: ``4 * jobs`` tasks) and ``items``
    is consumed lazily, so memory does not grow with the number of items. Results are the same
    whatever ``jobs`` is. Raises :class:`VerifierError` if a worker process dies.
    ``mp_context``: how workers start (default: ``forkserver`` where available, else ``spawn``).
    """
    if jobs < 1 or chunk < 1:
        raise ValueError("jobs and chunk must be at least 1")
    if jobs == 1:
        worker = Worker(options)
        for item in items:
            yield worker.run(item)
        return
    try:
        pickle.dumps(options)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise TypeError(f"fleet options must pickle to reach worker processes: {exc}") from exc
    limit = window or WINDOW_PER_JOB * jobs
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=mp_context or _context(),
        initializer=_init_worker,
        initargs=(options,),
    )
    pending: deque[Future[list[ItemResult]]] = deque()
    try:
        for batch in _batched(items, chunk):
            with _sigint_deferred():  # a submit may start a worker: never interrupt it halfway
                pending.append(pool.submit(_run_chunk, batch))
            if len(pending) >= limit:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    except BrokenProcessPool as exc:
        raise VerifierError(f"a verification worker process died: {exc}") from None
    finally:
        # Normal end, error, Ctrl-C or a consumer that stopped early: drop what has not started
        # and wait for the tasks already running (milliseconds), so no process is left behind.
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _batched(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` where it exists (workers fork from a clean, single-threaded server that has
    imported the verifier already: fast to start, safe with threads), else ``spawn``. Either way
    the worker functions are top-level and their arguments pickle."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        _start_forkserver()
        return context
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


@contextlib.contextmanager
def _sigint_deferred() -> Iterator[None]:
    """Hold Ctrl-C back (blocked, so pending, never lost) until the block completes."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def _start_forkserver() -> None:
    """Start the fork server with SIGINT ignored, so that Ctrl-C stays the parent's alone.

    An ignored signal stays ignored across ``exec``: the server, and the workers it forks, then
    print no traceback when Ctrl-C lands while they import the verifier. Meanwhile SIGINT is
    blocked here so that a Ctrl-C in that window is not lost: a blocked signal stays pending and
    reaches the restored handler (one already pending when SIG_IGN is set would be discarded, so
    that case is raised first). The resource tracker starts before: starting it unblocks SIGINT.
    Only the main thread may change handlers; elsewhere the server starts as multiprocessing does.
    """
    from multiprocessing import forkserver, resource_tracker

    resource_tracker.ensure_running()
    if threading.current_thread() is not threading.main_thread():
        forkserver.ensure_running()
        return
    with _sigint_deferred():
        if signal.SIGINT in signal.sigpending():
            raise KeyboardInterrupt
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            forkserver.ensure_running()
        finally:
            signal.signal(signal.SIGINT, handler if handler is not None else signal.SIG_DFL)


# --- the summary -----------------------------------------------------------------------------


@dataclass
class _Group:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class FleetSummary:
    """Pass/fail counts and the failures grouped by finding id (a few example paths each)."""

    policy: str
    verified_at: str
    total: int = 0
    passed: int = 0
    failed: int = 0
    groups: dict[str, _Group] = field(default_factory=dict)

    def add(self, result: ItemResult) -> None:
        self.total += 1
        if result.passed:
            self.passed += 1
            return
        self.failed += 1
        for finding_id in result.failed:
            group = self.groups.setdefault(finding_id, _Group())
            group.count += 1
            if len(group.examples) < SUMMARY_EXAMPLES:
                group.examples.append(result.path)

    def by_finding(self) -> list[tuple[str, int, list[str]]]:
        """(finding id, failing items, example paths), most frequent first, then by id."""
        ordered = sorted(self.groups.items(), key=lambda kv: (-kv[1].count, kv[0]))
        return [(fid, group.count, list(group.examples)) for fid, group in ordered]

    @property
    def verdict(self) -> Verdict:
        return Verdict.FAIL if self.failed else Verdict.PASS

    def headline(self) -> str:
        return (
            f"{self.total} item{'s' if self.total != 1 else ''}: {self.passed} passed, "
            f"{self.failed} failed (policy {self.policy}; at {self.verified_at})"
        )

    def render_text(self) -> str:
        """The summary as plain text, ``summary: ...`` first."""
        lines = [f"summary: {self.verdict.value.upper()} {self.headline()}"]
        if self.groups:
            lines.append("failures by finding id:")
            width = max(len(fid) for fid in self.groups)
            for finding_id, count, examples in self.by_finding():
                more = count - len(examples)
                tail = f", … {more} more" if more else ""
                shown = ", ".join(printable(p) for p in examples)
                lines.append(f"  {finding_id.ljust(width)}  {count:>5}  {shown}{tail}")
        return "\n".join(lines) + "\n"

    def render_markdown(self) -> str:
        """The summary as Markdown (for ``$GITHUB_STEP_SUMMARY``)."""
        lines = [
            f"### cvm-verifier verify-many: {self.verdict.value.upper()}",
            "",
            f"{self.total} items · {self.passed} passed · {self.failed} failed · policy "
            f"`{_md(self.policy)}` · verified at `{self.verified_at}`",
        ]
        if self.groups:
            lines += ["", "| finding | failing items | examples |", "|---|---|---|"]
            for finding_id, count, examples in self.by_finding():
                more = count - len(examples)
                shown = ", ".join(f"`{_md(printable(p))}`" for p in examples) + (
                    f" … {more} more" if more else ""
                )
                lines.append(f"| `{finding_id}` | {count} | {shown} |")
        return "\n".join(lines) + "\n"


def printable(path: str) -> str:
    """``path`` as text that always encodes: undecodable file-name bytes become ``\\udcXX``."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _md(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("`", "'")
