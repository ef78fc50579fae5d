"""Valid-shaped mutations of real documents, for the tamper matrix and the fuzzers.

Each mutation changes one thing of an otherwise authentic input into a *different* value of the
same shape (a hex digit flipped, an int changed, a bool toggled, a string or time changed, a null
given a value, one byte of a quote or certificate changed, two events swapped). The byte layout of
the TDX quote is written down here from the DCAP quote v4 format (Intel TDX DCAP Quote Generation
Library and Quote Verification Library API, appendix A), independently of ``verifier.quote``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from tests.corpus import Case
from verifier import Collateral, Report, TrustRoot, verify

JsonPath = tuple[str | int, ...]

# --- the inputs of one verification ---------------------------------------------------------


#: Authentic collaterals, parsed once.
_PARSED: dict[bytes, Collateral] = {}


@dataclass(frozen=True)
class Inputs:
    """Everything one ``verify`` call reads (as a corpus :class:`Case` gives it)."""

    evidence: bytes
    collateral: bytes
    at: datetime
    chain: bytes | None
    compose: bytes | None
    trust_root: bytes | None

    @classmethod
    def of(cls, case: Case) -> Inputs:
        """The authentic inputs of ``case``."""
        if case.collateral not in _PARSED:
            _PARSED[case.collateral] = Collateral.from_json(case.collateral)
        return cls(
            case.evidence, case.collateral, case.at, case.chain, case.compose, case.trust_root
        )

    def verify(self) -> Report:
        root = TrustRoot.from_der(self.trust_root) if self.trust_root is not None else None
        # An authentic collateral is parsed once (as a caller verifying many quotes would); a
        # changed one goes through verify() as bytes, parse errors and all.
        collateral: Collateral | bytes = _PARSED.get(self.collateral) or self.collateral
        return verify(
            self.evidence,
            collateral=collateral,
            at=self.at,
            chain_pem=self.chain,
            compose=self.compose,
            trust_root=root,
        )


@dataclass(frozen=True)
class Mutation:
    """One changed input: ``id`` says which input, where and how (``evidence:tcb_info.mrtd``)."""

    id: str
    inputs: Inputs


# --- counting what the matrix and the fuzzers tried (printed at the end of the session) -------


@dataclass
class Tally:
    """How many inputs a test family tried, refused (verdict fail or an ``InputError``) and let
    pass on purpose (allow-listed)."""

    name: str
    tried: int = 0
    refused: int = 0
    allowed: int = 0

    def line(self) -> str:
        allowed = f", {self.allowed} allowed (cannot matter)" if self.allowed else ""
        return f"{self.name}: {self.tried} inputs tried, {self.refused} refused{allowed}"


TALLIES: dict[str, Tally] = {}


def tally(name: str) -> Tally:
    """The session-wide :class:`Tally` called ``name``."""
    return TALLIES.setdefault(name, Tally(name))


# --- JSON trees -----------------------------------------------------------------------------


def render_path(path: JsonPath) -> str:
    """``("a", 0, "b")`` -> ``a[0].b``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "$"


def leaves(node: Any, path: JsonPath = ()) -> Iterator[tuple[JsonPath, Any]]:
    """Every scalar of a JSON tree (null, bool, number, string) with its path, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*path, index))
    else:
        yield path, node


def get_at(node: Any, path: JsonPath) -> Any:
    for part in path:
        node = node[part]
    return node


def set_at(node: Any, path: JsonPath, value: Any) -> Any:
    """A copy of ``node`` with ``value`` at ``path`` (only the spine is copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        copy: Any = dict(node)
    else:
        copy = list(node)
    copy[head] = set_at(node[head], rest, value)
    return copy


def embedded_json(text: str) -> Any | None:
    """The JSON object or list a string holds, if it re-serialises to exactly the same text.

    dstack writes its event log as a compact JSON string, dcap-qvl keeps Intel's TCB info and QE
    identity as compact JSON strings: such a string is mutated leaf by leaf, not only as text.
    """
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if compact(value) == text else None


def compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


_HEX = re.compile(r"(0x)?([0-9a-fA-F]{2})+")
#: Keys whose strings are text even when they happen to be hex digits only.
_TEXT_KEYS = frozenset({"event", "name", "common_name", "organization", "country", "version"})


def is_hex_text(key: str | int | None, value: str) -> bool:
    return key not in _TEXT_KEYS and _HEX.fullmatch(value) is not None


def flip_hex_digit(text: str, index: int = -1) -> str:
    """``text`` with one hex digit changed (``index`` counts digits after any ``0x``)."""
    prefix = "0x" if text[:2] in ("0x", "0X") else ""
    body = text[len(prefix) :]
    i = index % len(body)
    digit = (int(body[i], 16) + 1) % 16
    new = format(digit, "x" if not body[i].isupper() else "X")
    return prefix + body[:i] + new + body[i + 1 :]


def _shifted_time(text: str) -> str | None:
    if "T" not in text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    shifted = moment + timedelta(seconds=1)
    out = shifted.isoformat()
    if text.endswith("Z"):
        out = shifted.replace(tzinfo=None).isoformat() + "Z"
    return out if out != text else None


def _flip_char(text: str) -> str:
    i = len(text) // 2
    return text[:i] + chr(ord(text[i]) ^ 1) + text[i + 1 :]


#: Values a null leaf becomes (a plausible claim of the right shape); default: a text.
NULL_VALUES: dict[str, Any] = {
    "app_id": "00" * 20,
    "cert_usage": "app:custom",
    "rootfs_hash": "00" * 32,
    "app_compose": '{"manifest_version":2}',
    "compose_file": '{"manifest_version":2}',
    "sans": ["tampered.example"],
    "error": "CVM is stopped",
    "country": "ZZ",
}


def scalar_mutations(
    key: str | int | None, value: Any, *, null_values: dict[str, Any] | None = None
) -> list[tuple[str, Any]]:
    """Different values of the same shape for one JSON scalar, each with a short description."""
    if isinstance(value, bool):
        return [("toggled", not value)]
    if isinstance(value, int):
        return [("+1", value + 1)]
    if isinstance(value, float):
        return [("+1", value + 1.0)]
    if value is None:
        table = {**NULL_VALUES, **(null_values or {})}
        return [("null->value", table.get(str(key), "tampered"))]
    assert isinstance(value, str)
    if value == "":
        return [("empty->value", "00" * 48 if key == "digest" else "00")]
    if is_hex_text(key, value):
        changed = [("last hex digit", flip_hex_digit(value, -1))]
        if len(value) > 2:
            changed.append(("first hex digit", flip_hex_digit(value, 0)))
        return changed
    shifted = _shifted_time(value)
    if shifted is not None:
        return [("+1s", shifted)]
    return [("char changed", _flip_char(value))]


def json_mutations(
    document: Any,
    *,
    skip: Callable[[JsonPath], bool] = lambda path: False,
    null_values: dict[str, Any] | None = None,
    sample: int | None = None,
) -> Iterator[tuple[str, Any]]:
    """``(description, changed document)`` for every leaf (and every leaf of embedded JSON).

    A string holding compact JSON is mutated as text once and then leaf by leaf (path
    ``field::inner.path``). ``sample`` keeps every n-th embedded leaf (big signed documents).
    """
    for path, value in leaves(document):
        if skip(path):
            continue
        where = render_path(path)
        inner = embedded_json(value) if isinstance(value, str) else None
        if inner is not None:
            yield f"{where}: text changed", set_at(document, path, value + " ")
            inner_leaves = list(json_mutations(inner, null_values=null_values))
            step = max(1, len(inner_leaves) // sample) if sample else 1
            for description, changed in inner_leaves[::step]:
                yield f"{where}::{description}", set_at(document, path, compact(changed))
            continue
        key = path[-1] if path else None
        for how, new in scalar_mutations(key, value, null_values=null_values):
            yield f"{where}: {how}", set_at(document, path, new)


# --- bytes: the TDX quote, DER certificates, PEM ----------------------------------------------

#: TD report (TDX 1.0) fields, in order, with their sizes.
TD_REPORT_FIELDS: tuple[tuple[str, int], ...] = (
    ("tee_tcb_svn", 16),
    ("mr_seam", 48),
    ("mr_signer_seam", 48),
    ("seam_attributes", 8),
    ("td_attributes", 8),
    ("xfam", 8),
    ("mr_td", 48),
    ("mr_config_id", 48),
    ("mr_owner", 48),
    ("mr_owner_config", 48),
    ("rtmr0", 48),
    ("rtmr1", 48),
    ("rtmr2", 48),
    ("rtmr3", 48),
    ("report_data", 64),
)
HEADER_FIELDS: tuple[tuple[str, int], ...] = (
    ("version", 2),
    ("att_key_type", 2),
    ("tee_type", 4),
    ("qe_svn", 2),
    ("pce_svn", 2),
    ("qe_vendor_id", 16),
    ("user_data", 20),
)
QE_REPORT_FIELDS: tuple[tuple[str, int], ...] = (
    ("cpusvn", 16),
    ("miscselect", 4),
    ("reserved1", 28),
    ("attributes", 16),
    ("mrenclave", 32),
    ("reserved2", 32),
    ("mrsigner", 32),
    ("reserved3", 96),
    ("isvprodid", 2),
    ("isvsvn", 2),
    ("reserved4", 60),
    ("report_data", 64),
)


@dataclass(frozen=True)
class Region:
    """A named byte range of a quote: ``[start, end)``."""

    name: str
    start: int
    end: int


def quote_regions(quote: bytes) -> list[Region]:
    """The fields of a TDX v4 quote with ECDSA-256 key and PCK chain certification data."""
    regions: list[Region] = []
    offset = 0

    def take(prefix: str, fields: tuple[tuple[str, int], ...]) -> None:
        nonlocal offset
        for name, size in fields:
            regions.append(Region(f"{prefix}.{name}", offset, offset + size))
            offset += size

    assert struct.unpack_from("<H", quote, 0)[0] == 4, "the matrix knows the v4 layout"
    take("header", HEADER_FIELDS)
    take("body", TD_REPORT_FIELDS)
    (sig_len,) = struct.unpack_from("<I", quote, offset)
    take("sig", (("data_len", 4),))
    sig_end = offset + sig_len
    take("sig", (("quote_signature", 64), ("attestation_key", 64)))
    take("sig", (("cert_data_type", 2), ("cert_data_size", 4)))
    take("qe_report", QE_REPORT_FIELDS)
    take("qe", (("report_signature", 64),))
    (auth_len,) = struct.unpack_from("<H", quote, offset)
    take("qe", (("auth_data_len", 2), ("auth_data", auth_len)))
    take("pck", (("cert_data_type", 2),))
    (pem_len,) = struct.unpack_from("<I", quote, offset)
    take("pck", (("cert_data_size", 4),))
    pem = quote[offset : offset + pem_len]
    regions.extend(pem_regions(pem, offset, "pck"))
    offset += pem_len
    assert offset == sig_end, "signature data length covers exactly its parts"
    if offset < len(quote):
        regions.append(Region("padding", offset, len(quote)))
    return regions


_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----\n(.*?)-----END CERTIFICATE-----\n?", re.S)


def pem_regions(pem: bytes, base: int, prefix: str) -> list[Region]:
    """Armor, base64 text and line breaks of each certificate of a PEM text, and what follows."""
    regions: list[Region] = []
    end = 0
    for index, block in enumerate(_PEM_BLOCK.finditer(pem)):
        name = f"{prefix}.cert{index}"
        regions.append(Region(f"{name}.begin_armor", base + block.start(), base + block.start(1)))
        body_start = block.start(1)
        for line in re.finditer(rb"[^\n]+|\n", block.group(1)):
            kind = "line_break" if line.group() == b"\n" else "base64"
            start = base + body_start + line.start()
            regions.append(Region(f"{name}.{kind}", start, start + len(line.group())))
        regions.append(Region(f"{name}.end_armor", base + block.end(1), base + block.end()))
        end = block.end()
    if end < len(pem):
        regions.append(Region(f"{prefix}.after_pem", base + end, base + len(pem)))
    return regions


def changed_byte(data: bytes, index: int) -> bytes:
    """``data`` with the byte at ``index`` changed to another value of the same kind: a base64
    character to the next base64 character, any other byte to ``byte ^ 1``."""
    old = data[index]
    where = _B64.find(bytes([old]))
    new = _B64[(where + 1) % 64] if where >= 0 else old ^ 0x01
    return data[:index] + bytes([new]) + data[index + 1 :]


def spread(start: int, end: int, count: int) -> list[int]:
    """``count`` positions spread evenly over ``[start, end)``, first and last included."""
    size = end - start
    if size <= count:
        return list(range(start, end))
    if count == 1:
        return [start]
    return sorted({start + (size - 1) * i // (count - 1) for i in range(count)})


def quote_sample(quote: bytes) -> list[tuple[str, int]]:
    """The quote bytes the matrix changes: the first and last byte of every header and TD report
    field (each 48-byte measurement among them), every byte of the small (type, size, version)
    fields, a spread of the signatures and QE report, base64, armor and some line breaks of each
    certificate, what follows the PEM, and the padding."""
    picks: list[tuple[str, int]] = []
    lines_seen: dict[str, int] = {}
    for region in quote_regions(quote):
        size = region.end - region.start
        if region.name.endswith(".base64"):
            cert = region.name.rsplit(".", 1)[0]
            lines_seen[cert] = lines_seen.get(cert, 0) + 1
            # every fourth line of base64: each certificate's DER is hit in many places
            positions = [region.start + size // 2] if lines_seen[cert] % 6 == 1 else []
        elif region.name.endswith(".line_break"):
            positions = [region.start] if region.start % 7 == 0 else []
        elif region.name.endswith("_armor"):
            positions = [region.start + size // 2]
        elif size <= 6:
            positions = list(range(region.start, region.end))
        elif region.name.startswith(("header", "body")):
            positions = [region.start, region.end - 1]
        else:
            positions = spread(region.start, region.end, 3)
        picks.extend((region.name, p) for p in positions)
    return picks


def der_sample(der: bytes, count: int) -> list[int]:
    """Positions of a DER certificate to change: spread over the whole encoding."""
    return spread(0, len(der), count)


def pem_certificates(pem: bytes) -> list[bytes]:
    """The DER of each certificate of a PEM text."""
    return [base64.b64decode(b"".join(m.group(1).split())) for m in _PEM_BLOCK.finditer(pem)]


def pem_with_der(pem: bytes, index: int, der: bytes) -> bytes:
    """``pem`` with its ``index``-th certificate replaced by ``der`` (re-armored, 64-char lines)."""
    blocks = list(_PEM_BLOCK.finditer(pem))
    block = blocks[index]
    text = base64.b64encode(der)
    body = b"".join(text[i : i + 64] + b"\n" for i in range(0, len(text), 64))
    new = b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"
    return pem[: block.start()] + new + pem[block.end() :]


def with_inputs(inputs: Inputs, **changes: Any) -> Inputs:
    return replace(inputs, **changes)
