"""Hypothesis strategies for the fuzzers: random inputs, and structure-aware mutations of the real
documents (JSON trees edited, deleted, retyped; quote, PEM and DER bytes changed; TOML edited).

Also the oracles that say when a mutated input may still pass: only when what the verifier
reads from it is what it read from the original (an unknown key added, a display name changed, a
line break of a PEM replaced by other whitespace...), i.e. when the tamper matrix's allow-list
would let it pass too.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.mutations import JsonPath, embedded_json, get_at, set_at
from verifier import Collateral, Evidence, InputError, load_evidence
from verifier.certificates import load_pem_chain
from verifier.eventlog import RTMR_COUNT
from verifier.hexutil import strip_hex
from verifier.quote import QuoteFormatError, parse_td_quote

# --- profiles ---------------------------------------------------------------------------------

#: Number of fuzz tests that share a long run's budget (tests/test_fuzz.py asserts it).
FUZZ_TESTS = 12
#: ``CVM_VERIFIER_FUZZ_EXAMPLES=N``: a long run of at least N inputs, spread over the fuzz tests.
LONG_RUN = int(os.environ.get("CVM_VERIFIER_FUZZ_EXAMPLES", "0") or 0)
_COMMON: dict[str, Any] = {
    "deadline": None,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
#: CI: bounded and reproducible (the same inputs every run).
settings.register_profile("cvm-ci", max_examples=200, derandomize=True, database=None, **_COMMON)
#: The long run: fresh random inputs, failures saved in .hypothesis/ to replay.
settings.register_profile(
    "cvm-long", max_examples=max(1, math.ceil(LONG_RUN / FUZZ_TESTS)), **_COMMON
)
PROFILE = "cvm-long" if LONG_RUN else "cvm-ci"


def fuzz_settings(ci_examples: int) -> settings:
    """The active profile; in CI with ``ci_examples`` examples (the slow tests take fewer)."""
    profile = settings.get_profile(PROFILE)
    return profile if LONG_RUN else settings(profile, max_examples=ci_examples)


# --- random JSON -------------------------------------------------------------------------------

HEX_DIGITS = "0123456789abcdefABCDEF"
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=24)
    | st.text(alphabet=HEX_DIGITS, max_size=130)
    | st.text(alphabet=HEX_DIGITS, max_size=100).map(lambda s: "0x" + s)
    | st.sampled_from(["", "0x", "2025-09-15T00:00:00Z", "v3", "\ud800", "[]", "{}", "kms"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)


_DOCS: dict[bytes, Any] = {}
#: all_paths of the decoded source documents, by identity (the documents stay alive in _DOCS)
_PATHS: dict[int, list[JsonPath]] = {}


def parsed(data: bytes) -> Any:
    """A source document decoded once; edits copy what they change and never mutate it."""
    if data not in _DOCS:
        document = json.loads(data)
        _DOCS[data] = document
        _PATHS[id(document)] = _all_paths(document)
    return _DOCS[data]


def all_paths(node: Any) -> list[JsonPath]:
    """Every node of a JSON tree (containers and leaves), the root first."""
    cached = _PATHS.get(id(node))
    if cached is not None and any(node is d for d in _DOCS.values()):
        return cached
    return _all_paths(node)


def _all_paths(node: Any, path: JsonPath = ()) -> list[JsonPath]:
    out = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _all_paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _all_paths(value, (*path, index))
    return out


def _delete(document: Any, path: JsonPath) -> Any:
    parent = get_at(document, path[:-1])
    key = path[-1]
    if isinstance(parent, dict):
        changed: Any = {k: v for k, v in parent.items() if k != key}
    else:
        assert isinstance(key, int)
        changed = parent[:key] + parent[key + 1 :]
    return set_at(document, path[:-1], changed)


toml_values = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats()
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=24)
    | st.text(alphabet=HEX_DIGITS, max_size=100)
    | st.sampled_from(["UpToDate", "Revoked", "enforce", "warn", "kms", "365d", "INTEL-SA-00001"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3)
    ),
    max_leaves=6,
)


def _pick(draw: st.DrawFn, items: list[Any]) -> Any:
    """One of ``items`` (an index draw: cheaper than a new sampled_from strategy per call)."""
    return items[draw(st.integers(0, len(items) - 1))]


keys = st.text(max_size=12)


@st.composite
def json_edit(
    draw: st.DrawFn,
    document: Any,
    *,
    under: JsonPath = (),
    values: st.SearchStrategy[Any] = json_values,
) -> Any:
    """One structural edit of a JSON tree (of its part ``under``): replace or retype a node,
    delete it, add a key or an element, duplicate or swap elements, or empty a container."""
    paths = all_paths(get_at(document, under))
    path = (*under, *_pick(draw, paths))
    node = get_at(document, path)
    ops = ["replace", "retype"]
    if path:
        ops.append("delete")
    if isinstance(node, dict):
        ops += ["add key", "empty"]
    if isinstance(node, list):
        ops += ["append", "empty"]
        if node:
            ops += ["duplicate", "swap"]
    op = _pick(draw, ops)
    if op == "replace":
        return set_at(document, path, draw(values))
    if op == "retype":
        # the same content in another JSON type: "3" for 3, [x] for x, {"v": x}, str(x)...
        variants: list[Any] = [
            json.dumps(node),
            [node],
            {"value": node},
            None if values is json_values else "",
        ]
        if isinstance(node, str):
            variants += [len(node), node.encode("utf-8", "surrogatepass").hex()]
        return set_at(document, path, _pick(draw, variants))
    if op == "delete":
        return _delete(document, path)
    if op == "add key":
        key = _pick(draw, sorted(node)) if node and draw(st.booleans()) else draw(keys)
        return set_at(document, path, {**node, key: draw(values)})
    if op == "append":
        extra = _pick(draw, node) if node and draw(st.booleans()) else draw(values)
        return set_at(document, path, [*node, extra])
    if op == "empty":
        return set_at(document, path, type(node)())
    index = draw(st.integers(0, len(node) - 1))
    if op == "duplicate":
        return set_at(document, path, [*node[: index + 1], node[index], *node[index + 1 :]])
    other = draw(st.integers(0, len(node) - 1))
    swapped = list(node)
    swapped[index], swapped[other] = swapped[other], swapped[index]
    return set_at(document, path, swapped)


@st.composite
def mutated_document(draw: st.DrawFn, document: Any, *, edits: int = 3) -> Any:
    """1..``edits`` edits of ``document``; a string holding compact JSON (a GetQuote event log,
    vm_config, the collateral's TCB info) is edited inside, as JSON, or broken as text."""
    for _ in range(draw(st.integers(1, edits))):
        embedded = _embedded_paths(document)
        inside: bool = draw(st.booleans())
        if embedded and inside:
            path = _pick(draw, embedded)
            inner = _embedded_at(document, path)
            text = json.dumps(draw(json_edit(inner)), separators=(",", ":"))
            if draw(st.integers(0, 7)) == 0:
                text = text[: draw(st.integers(0, len(text) - 1))]
            document = set_at(document, path, text)
        else:
            document = draw(json_edit(document))
    return document


def _embedded_paths(document: Any) -> list[JsonPath]:
    source = any(document is d for d in _DOCS.values())
    if source and id(document) in _EMBEDDED:
        return _EMBEDDED[id(document)]
    found = [p for p in all_paths(document) if _embedded_at(document, p) is not None]
    if source:
        _EMBEDDED[id(document)] = found
    return found


_EMBEDDED: dict[int, list[JsonPath]] = {}


def _embedded_at(document: Any, path: JsonPath) -> Any | None:
    value = get_at(document, path)
    return embedded_json(value) if isinstance(value, str) else None


@st.composite
def mutated_events(draw: st.DrawFn, document: Any) -> Any:
    """1..3 edits of the event log only, wherever the format keeps it (GetQuote ``event_log``
    and an app instance's ``eventlog``, a list or a JSON string; ``tcb_info.event_log``)."""
    for key in ("event_log", "eventlog"):
        if key in document:
            log = document[key]
            events = json.loads(log) if isinstance(log, str) else log
            for _ in range(draw(st.integers(1, 3))):
                events = draw(json_edit(events))
            text = json.dumps(events, separators=(",", ":"))
            return {**document, key: text if isinstance(log, str) else events}
    for _ in range(draw(st.integers(1, 3))):
        tcb = document.get("tcb_info")
        if not isinstance(tcb, dict) or "event_log" not in tcb:
            break  # the edit before deleted or retyped the log itself
        document = draw(json_edit(document, under=("tcb_info", "event_log")))
    return document


def dump(document: Any) -> bytes:
    """JSON text of a mutated document (NaN and lone surrogates kept, as a sender could)."""
    return json.dumps(document).encode("utf-8", "surrogatepass")


# --- bytes ---------------------------------------------------------------------------------------


@st.composite
def byte_edit(draw: st.DrawFn, data: bytes, *, start: int = 0, end: int | None = None) -> bytes:
    """1..4 byte edits inside ``[start, end)``: change, insert, delete, truncate, or extend."""
    end = len(data) if end is None else end
    for _ in range(draw(st.integers(1, 4))):
        end = min(end, len(data))
        if end <= start:
            break
        i = draw(st.integers(start, end - 1))
        op = draw(st.sampled_from(["xor", "set", "insert", "delete", "truncate", "extend"]))
        if op == "xor":
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
        elif op == "set":
            data = data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i + 1 :]
        elif op == "insert":
            data = data[:i] + draw(st.binary(min_size=1, max_size=8)) + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + draw(st.integers(1, 8)) :]
        elif op == "truncate":
            data = data[:i]
        else:
            data = data + draw(st.binary(min_size=1, max_size=64))
    return data


def pem_ders(pem: bytes) -> list[bytes] | None:
    """The DER of each certificate of a PEM chain as the verifier loads it (None: refused)."""
    try:
        chain = load_pem_chain(pem)
    except InputError:
        return None
    from cryptography.hazmat.primitives.serialization import Encoding

    return [c.public_bytes(Encoding.DER) for c in chain.certificates]


# --- oracles: may a mutated input still pass? -----------------------------------------------------


def _event_view(evidence: Evidence) -> tuple[object, ...]:
    """What the replay and the identity read from the log: per register, boot events' digests and
    runtime events' name, payload, version and preimage (a runtime digest is only compared)."""
    log = evidence.decoded_log
    registers: list[list[object]] = [[] for _ in range(RTMR_COUNT)]
    for event in log.events:
        if event.is_runtime:
            registers[event.imr].append((event.name, event.payload, event.version, event.preimage))
        else:
            registers[event.imr].append(event.replay_digest)
    return (log.problems, tuple(tuple(r) for r in registers))


def _certificate_view(evidence: Evidence) -> list[dict[str, object]]:
    out = []
    for index, cert in enumerate(evidence.certificates):
        data = cert.model_dump()
        data["position_in_chain"] = (
            cert.position_in_chain if cert.position_in_chain is not None else index
        )
        for key in ("quote", "app_id", "fingerprint"):
            if data[key] is not None:
                data[key] = strip_hex(str(data[key])).replace(":", "")
        data["serial_number"] = strip_hex(cert.serial_number).replace(":", "").lstrip("0")
        data["sans"] = tuple(cert.sans or ())
        out.append(data)
    return out


def evidence_view(evidence: Evidence, compose: bytes | None = None) -> tuple[object, ...]:
    """Everything of an evidence document the verifier's checks read (normalised as they do),
    when verified with ``compose`` (the --compose bytes) if given."""
    claims = evidence.claims
    claim_view = None
    if claims is not None:
        claim_view = tuple(
            strip_hex(v) if v else None
            for v in (
                claims.mrtd,
                claims.rtmr0,
                claims.rtmr1,
                claims.rtmr2,
                claims.rtmr3,
                claims.rootfs_hash,
            )
        )
    # An optional claim that is absent or says the truth reads the same: no claim to contradict.
    # The compose texts (--compose, app_compose, compose_file) count by what they say, not where.
    texts = [compose, evidence.compose]
    if evidence.compose_file is not None:
        texts.append(evidence.compose_file.encode("utf-8", "surrogatepass"))
    given = [t for t in texts if t is not None]
    compose_view = (given[0] if given else None, frozenset(given))
    report_data = strip_hex(evidence.report_data) if evidence.report_data is not None else None
    if evidence.quote is not None and report_data == parse_report_data(evidence.quote):
        report_data = None
    return (
        evidence.format,
        evidence.quote,
        compose_view,
        claim_view,
        _certificate_view(evidence),
        report_data,
        _event_view(evidence),
        # the raw events, as the certificate's event-log extension is compared with them
        [
            (e.imr, e.event_type, e.digest.lower(), e.event, e.event_payload.lower())
            for e in evidence.events
        ]
        if evidence.certificates
        else None,
    )


def parse_report_data(quote: bytes) -> str | None:
    try:
        return parse_td_quote(quote).report_data.hex()
    except QuoteFormatError:
        return None


def same_evidence(original: bytes, mutated: bytes, compose: bytes | None = None) -> bool:
    """Whether ``mutated`` says to the verifier exactly what ``original`` says (both verified
    with ``compose`` as --compose, if given)."""
    try:
        old, new = load_evidence(original), load_evidence(mutated)
        return evidence_view(new, compose) == evidence_view(old, compose)
    except InputError:
        return False


def same_collateral(original: bytes, mutated: bytes) -> bool:
    try:
        changed = Collateral.from_json(mutated)
    except InputError:
        return False
    return changed.inner.to_json() == Collateral.from_json(original).inner.to_json()


def same_quote(original: bytes, mutated: bytes) -> bool:
    """Only the PEM text around the PCK certificates (whitespace, the terminator) or the amount
    of zero padding after the signature data differs."""
    try:
        old, new = parse_td_quote(original), parse_td_quote(mutated)
    except QuoteFormatError:
        return False
    start = original.index(old.pck_chain_pem)
    if original[:start] != mutated[:start]:
        return False  # every field and size up to the PEM, so the PEM has the same length
    return pem_ders(old.pck_chain_pem) == pem_ders(new.pck_chain_pem)


@dataclass(frozen=True)
class Source:
    """A real document to mutate, and the case whose other inputs verify it."""

    name: str
    data: bytes
    case: str = ""

    def __str__(self) -> str:
        return self.name

    @property
    def case_name(self) -> str:
        return self.case or self.name


def sampled(items: list[Source]) -> st.SearchStrategy[Source]:
    return st.sampled_from(items)
