"""Policy files (TOML, ``version = 1``): what a user accepts, as data.

A policy file turns authentic evidence of *some* CVM into evidence of *your* CVM: it pins the OS
measurements, the app, the key provider and the TCB statuses you accept. It is read with
:mod:`tomllib`, validated strictly (unknown keys, bad hex, wrong lengths and unknown status names
are an :class:`~verifier.errors.InputError` naming the key and its line) and normalised (hex
lower-case, ``0x`` stripped). :class:`FilePolicy` implements :class:`~verifier.policy.Policy`:
each rule yields one ``policy.<rule>`` finding; ``mode = "warn"`` turns its failure into a warning.

A rule validates only what the signed quote proves: measurements come from the verified quote,
and app values from RTMR3 only when the event log replayed to it (``rtmr_replay`` passed).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    ValidationError,
    model_validator,
)

from .errors import InputError
from .findings import Finding, Status
from .hexutil import json_path
from .report import Report

POLICY_VERSION = 1

#: dcap-qvl's TCB statuses. ``Revoked`` is never acceptable (dcap-qvl rejects it anyway).
TCB_STATUSES = (
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
)
#: dstack key providers (the ``name`` of the ``key-provider`` runtime event).
KEY_PROVIDERS = ("kms", "local-sgx", "tpm", "none")

_ADVISORY = re.compile(r"INTEL-SA-\d{5}")
_AGE = re.compile(r"(\d{1,5})d")
_HEX = re.compile(r"[0-9a-f]*")


class Mode(StrEnum):
    """What a failing rule does: fail the verdict (``enforce``) or only warn."""

    ENFORCE = "enforce"
    WARN = "warn"


def _hex_of(length: int | None) -> Callable[[str], str]:
    """A validator: hex normalised to lower case without ``0x``; ``length`` bytes if given."""

    def check(value: str) -> str:
        body = value.strip().lower().removeprefix("0x")
        if not body or len(body) % 2 or not _HEX.fullmatch(body):
            raise ValueError("not an even number of hex digits")
        if length is not None and len(body) != 2 * length:
            raise ValueError(
                f"expected {length} bytes ({2 * length} hex digits), got {len(body) // 2}"
            )
        return body

    return check


def _one_or_many(value: Any) -> Any:
    """A single value is a one-element list (``compose_hash = "..."``)."""
    return [value] if isinstance(value, str | dict) else value


def _non_empty(values: tuple[Any, ...]) -> tuple[Any, ...]:
    if not values:
        raise ValueError("an empty list accepts nothing; remove the key or list values")
    return values


def _advisory(value: str) -> str:
    normalised = value.strip().upper()
    if not _ADVISORY.fullmatch(normalised):
        raise ValueError(f"{value!r} is not an Intel advisory id (INTEL-SA-NNNNN)")
    return normalised


def _status(value: str) -> str:
    if value == "Revoked":
        raise ValueError("Revoked can never be accepted")
    if value not in TCB_STATUSES:
        raise ValueError(f"unknown TCB status {value!r}; one of {', '.join(TCB_STATUSES)}")
    return value


def _age(value: str) -> str:
    if not _AGE.fullmatch(value):
        raise ValueError(f'{value!r} is not an age in days such as "90d"')
    return value


Hex8 = Annotated[StrictStr, AfterValidator(_hex_of(8))]
Hex20 = Annotated[StrictStr, AfterValidator(_hex_of(20))]
Hex32 = Annotated[StrictStr, AfterValidator(_hex_of(32))]
Hex48 = Annotated[StrictStr, AfterValidator(_hex_of(48))]
HexAny = Annotated[StrictStr, AfterValidator(_hex_of(None))]
Advisory = Annotated[StrictStr, AfterValidator(_advisory)]
TcbStatus = Annotated[StrictStr, AfterValidator(_status)]
Name = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Age = Annotated[StrictStr, AfterValidator(_age)]

# A key that takes one value or a non-empty list of them (``compose_hash = "..."`` or ``[...]``).
Statuses = Annotated[
    tuple[TcbStatus, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)
]
Hex8s = Annotated[tuple[Hex8, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)]
Hex20s = Annotated[tuple[Hex20, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)]
Hex32s = Annotated[tuple[Hex32, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)]
Hex48s = Annotated[tuple[Hex48, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)]


_OWNED = ConfigDict(extra="forbid", frozen=True)


class TcbRule(BaseModel):
    """``[tcb]``: the platform TCB statuses and advisories accepted."""

    model_config = _OWNED

    mode: Mode = Mode.ENFORCE
    accept: Statuses = ("UpToDate",)
    reject_advisories: tuple[Advisory, ...] = ()
    #: when set, a non-UpToDate status passes only if each of its advisories is listed
    accept_advisories: tuple[Advisory, ...] | None = None
    #: grace: a non-UpToDate status passes only while its TCB level is at most this old ("90d")
    max_tcb_date_age: Age | None = None


class TdRule(BaseModel):
    """``[td]``: allow-lists for TD fields of the quote. A debug TD is never allowed (core)."""

    model_config = _OWNED

    mode: Mode = Mode.ENFORCE
    xfam: Hex8s | None = None
    mr_seam: Hex48s | None = None


class OsSet(BaseModel):
    """``[[os]]``: one named set of OS measurements; the evidence must match one set entirely."""

    model_config = _OWNED

    name: Name
    mode: Mode = Mode.ENFORCE
    mrtd: Hex48
    rtmr0: Hex48
    rtmr1: Hex48
    rtmr2: Hex48
    os_image_hash: Hex32 | None = None


class KeyProviderPin(BaseModel):
    """A key provider: ``{name = "kms", id = "<hex>"}``."""

    model_config = _OWNED

    name: Literal["kms", "local-sgx", "tpm", "none"]
    id: HexAny


KeyProviders = Annotated[
    tuple[KeyProviderPin, ...], BeforeValidator(_one_or_many), AfterValidator(_non_empty)
]


class AppRule(BaseModel):
    """``[app]``: the app measured in RTMR3."""

    model_config = _OWNED

    mode: Mode = Mode.ENFORCE
    compose_hash: Hex32s | None = None
    app_id: Hex20s | None = None
    key_provider: KeyProviders | None = None
    instance_id: Hex20s | None = None
    #: the compose text must be present and hash to the measured compose-hash
    require_compose_text: StrictBool = True
    #: names of application events allowed after system-ready (absent: any)
    allow_events_after_ready: tuple[Name, ...] | None = None

    @property
    def pins_app(self) -> bool:
        return any(v is not None for v in (self.compose_hash, self.app_id, self.instance_id))


class CertificatesRule(BaseModel):
    """``[certificates]``: what the RA-TLS certificate chain must prove."""

    model_config = _OWNED

    mode: Mode = Mode.ENFORCE
    #: the PEM chain must be given, its signatures verify and its leaf carry this quote
    require_chain: StrictBool = False
    #: the quote's report_data must bind the leaf certificate's key (RA-TLS)
    require_report_data_binding: StrictBool = False


class PolicyDocument(BaseModel):
    """A policy file, validated and normalised."""

    model_config = _OWNED

    version: Literal[1]
    name: Name | None = None
    #: explicitly accept evidence of any OS and app (every report then warns)
    unpinned: StrictBool = False
    tcb: TcbRule = TcbRule()
    td: TdRule | None = None
    os: tuple[OsSet, ...] = ()
    app: AppRule | None = None
    certificates: CertificatesRule | None = None

    @model_validator(mode="after")
    def _pins_something(self) -> PolicyDocument:
        pins = bool(self.os) or (self.app is not None and self.app.pins_app)
        if not pins and not self.unpinned:
            raise ValueError(
                "the policy pins no OS ([[os]]) and no app ([app] compose_hash, app_id or "
                "instance_id): it would accept any CVM; pin them, or set unpinned = true"
            )
        if pins and self.unpinned:
            raise ValueError("unpinned = true, but the policy pins an OS or an app")
        names = [s.name for s in self.os]
        if len(set(names)) != len(names):
            raise ValueError("two [[os]] sets have the same name")
        if len({s.mode for s in self.os}) > 1:
            raise ValueError("mode must be the same in every [[os]] set")
        return self

    @property
    def os_mode(self) -> Mode:
        return self.os[0].mode if self.os else Mode.ENFORCE


# --- loading -------------------------------------------------------------------------------


def load_policy(data: bytes, *, source: str) -> FilePolicy:
    """Parse a policy file; :class:`InputError` names the key and line (``source:line``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte {exc.start})", location=source) from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        message = re.sub(r"\s*\(at [^)]*\)$", "", str(exc))
        raise InputError(f"not TOML: {message}", location=_at(source, line)) from None
    except RecursionError:
        raise InputError("not TOML: nested too deeply", location=source) from None
    except ValueError:  # an integer of more than 4300 digits
        raise InputError("not TOML: a number has too many digits", location=source) from None
    if "version" not in document:
        raise InputError("missing 'version = 1'", location=_at(source, 1))
    if document.get("version") != POLICY_VERSION:
        raise InputError(
            f"version {document.get('version')!r} is not supported; this verifier reads "
            f"version {POLICY_VERSION}",
            location=_at(source, locate_key(text, ("version",))),
        )
    try:
        parsed = PolicyDocument.model_validate(document)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        loc = tuple(first["loc"])
        message = _MESSAGES.get(first["type"], first["msg"].removeprefix("Value error, "))
        if not loc:
            raise InputError(message, location=source) from None
        where = _at(source, locate_key(text, loc))
        raise InputError(f"{json_path(loc)}: {message}", location=where) from None
    return FilePolicy(
        document=parsed,
        name=parsed.name or source,
        sha256=hashlib.sha256(data).hexdigest(),
    )


#: Clearer words for pydantic's error types, in the policy file's terms.
_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "tuple_type": "must be a list",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
}


def dump_policy(document: PolicyDocument) -> str:
    """The normalised policy as TOML (defaults spelled out, hex lower-case, no ``0x``)."""
    import tomlkit  # only needed to write; reading uses the standard library

    return tomlkit.dumps(document.model_dump(mode="json", exclude_none=True))


def _at(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line else source


def _toml_error_line(message: str) -> int | None:
    match = re.search(r"at line (\d+)", message)
    return int(match.group(1)) if match else None


_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\s\"']+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-]+)\s*=")


def locate_key(text: str, loc: tuple[int | str, ...]) -> int | None:
    """The line (1-based) of the TOML key at ``loc`` (a pydantic error location), if found.

    tomllib keeps no positions, so this follows table headers (``[app]``, ``[[os]]`` with its
    index) and ``key =`` lines; a value's inner position (``[0]``) maps to its key's line.
    """
    wanted = list(loc)
    table: list[int | str] = []
    counters: dict[str, int] = {}
    best: tuple[int, int] | None = None  # (matched parts, line)
    for number, line in enumerate(text.splitlines(), start=1):
        header = _TABLE.match(line)
        if header:
            name = header.group(2).replace('"', "").replace("'", "").replace(" ", "")
            parts: list[int | str] = list(name.split("."))
            if header.group(1) == "[[":
                counters[name] = counters.get(name, -1) + 1
                parts.append(counters[name])
            table = parts
            candidate = table
        else:
            key = _KEY.match(line)
            if not key:
                continue
            candidate = [*table, key.group(1)]
        matched = _common_prefix(candidate, wanted)
        if matched == len(candidate) and (best is None or matched > best[0]):
            best = (matched, number)
    return best[1] if best else None


def _common_prefix(a: Sequence[int | str], b: Sequence[int | str]) -> int:
    count = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        count += 1
    return count


# --- validation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FilePolicy:
    """A loaded policy file: implements :class:`verifier.policy.Policy` (and pickles)."""

    document: PolicyDocument
    name: str
    sha256: str | None

    def validate(self, report: Report) -> Sequence[Finding]:
        doc = self.document
        findings = [self._header()]
        findings.append(_apply(doc.tcb.mode, _check_tcb(doc.tcb, report)))
        findings.append(
            _apply(doc.td.mode, _check_td(doc.td, report))
            if doc.td is not None
            else Finding.skipped("policy.td", "no [td] rule: xfam and mr_seam are not pinned")
        )
        findings.append(
            _apply(doc.os_mode, _check_os(doc.os, report))
            if doc.os
            else Finding.skipped("policy.os", "no [[os]] set: the OS measurements are not pinned")
        )
        findings.append(
            _apply(doc.app.mode, _check_app(doc.app, report))
            if doc.app is not None
            else Finding.skipped("policy.app", "no [app] rule: the app is not pinned")
        )
        findings.append(
            _apply(doc.certificates.mode, _check_certificates(doc.certificates, report))
            if doc.certificates is not None
            else Finding.skipped("policy.certificates", "no [certificates] rule")
        )
        return findings

    def _header(self) -> Finding:
        doc = self.document
        if doc.unpinned:
            return Finding.warned(
                "policy",
                f"policy {self.name!r} is explicitly unpinned: any OS and app are accepted",
                expected="a policy pinning the OS measurements and the app",
                actual=f"unpinned sha256={self.sha256}",
            )
        pinned = []
        if doc.os:
            pinned.append(f"{len(doc.os)} OS set{'s' if len(doc.os) > 1 else ''}")
        if doc.app is not None and doc.app.pins_app:
            pinned.append("the app")
        return Finding.passed(
            "policy",
            f"policy {self.name!r} pins {' and '.join(pinned)}",
            actual=f"sha256={self.sha256}",
        )


def _apply(mode: Mode, finding: Finding) -> Finding:
    """In ``warn`` mode a failing rule only warns, and says so."""
    if mode is Mode.WARN and finding.status is Status.FAIL:
        return Finding.warned(
            finding.id,
            f"{finding.reason} (rule in warn mode)",
            expected=finding.expected,
            actual=finding.actual,
        )
    return finding


def _passed(report: Report, finding_id: str) -> bool:
    found = report.finding(finding_id)
    return found is not None and found.status is Status.PASS


def _status_of(report: Report, finding_id: str) -> str:
    found = report.finding(finding_id)
    return found.status.value if found is not None else "absent"


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _check_tcb(rule: TcbRule, report: Report) -> Finding:
    """``policy.tcb``: status accepted, no rejected advisory, accepted advisories, grace."""
    status = report.quote.status
    advisories = tuple(report.quote.advisory_ids)
    expected = f"status in {list(rule.accept)}"
    if rule.reject_advisories:
        expected += f"; none of {list(rule.reject_advisories)}"
    if rule.accept_advisories is not None:
        expected += f"; advisories within {list(rule.accept_advisories)} unless UpToDate"
    if rule.max_tcb_date_age is not None:
        expected += f"; TCB level at most {rule.max_tcb_date_age} old unless UpToDate"
    actual = f"{status} {' '.join(advisories)}".strip() if status else "not verified"
    if status is None:
        return Finding.failed(
            "policy.tcb",
            "the TCB status is unknown: the quote did not verify",
            expected=expected,
            actual=actual,
        )
    rejected = sorted(set(advisories) & set(rule.reject_advisories))
    if rejected:
        return Finding.failed(
            "policy.tcb",
            f"rejected advisories: {', '.join(rejected)}",
            expected=expected,
            actual=actual,
        )
    if status not in rule.accept:
        return Finding.failed(
            "policy.tcb", f"TCB status {status} is not accepted", expected=expected, actual=actual
        )
    if status != "UpToDate":
        if rule.accept_advisories is not None:
            unaccepted = sorted(set(advisories) - set(rule.accept_advisories))
            if unaccepted:
                return Finding.failed(
                    "policy.tcb",
                    f"{status} with advisories not accepted: {', '.join(unaccepted)}",
                    expected=expected,
                    actual=actual,
                )
        if rule.max_tcb_date_age is not None:
            days = int(rule.max_tcb_date_age.removesuffix("d"))
            tcb_date = _parse_time(report.quote.tcb_date or "")
            verified_at = _parse_time(report.verified_at.replace("Z", "+00:00"))
            if tcb_date is None or verified_at is None:
                return Finding.failed(
                    "policy.tcb",
                    f"{status}: the TCB level's date is unknown, so the grace cannot apply",
                    expected=expected,
                    actual=actual,
                )
            age = verified_at - tcb_date
            if age > timedelta(days=days):
                return Finding.failed(
                    "policy.tcb",
                    f"{status} and its TCB level dates from {report.quote.tcb_date} "
                    f"({age.days} days old, grace {days} days)",
                    expected=expected,
                    actual=f"{actual} tcb_date={report.quote.tcb_date}",
                )
    return Finding.passed(
        "policy.tcb", f"TCB status {status} is accepted", expected=expected, actual=actual
    )


def _quote_proven(report: Report) -> bool:
    return report.quote.status is not None


def _check_td(rule: TdRule, report: Report) -> Finding:
    """``policy.td``: the quote's XFAM and MRSEAM are in the allow-lists."""
    expected = []
    if rule.xfam is not None:
        expected.append(f"xfam in {list(rule.xfam)}")
    if rule.mr_seam is not None:
        expected.append(f"mr_seam in {list(rule.mr_seam)}")
    actual = f"xfam={report.quote.xfam} mr_seam={report.quote.mr_seam}"
    if not _quote_proven(report):
        return Finding.failed(
            "policy.td",
            "the quote did not verify: its TD fields prove nothing",
            expected="; ".join(expected) or None,
            actual=actual,
        )
    wrong = []
    if rule.xfam is not None and report.quote.xfam not in rule.xfam:
        wrong.append("xfam")
    if rule.mr_seam is not None and report.quote.mr_seam not in rule.mr_seam:
        wrong.append("mr_seam")
    if wrong:
        return Finding.failed(
            "policy.td",
            f"{' and '.join(wrong)} not allowed",
            expected="; ".join(expected),
            actual=actual,
        )
    return Finding.passed(
        "policy.td", "TD fields are allowed", expected="; ".join(expected) or None, actual=actual
    )


_OS_FIELDS = ("mrtd", "rtmr0", "rtmr1", "rtmr2")


def _check_os(sets: Sequence[OsSet], report: Report) -> Finding:
    """``policy.os``: MRTD and RTMR0-2 (and the os-image-hash) equal one named set entirely."""
    m = report.measurements
    actual = " ".join(f"{f}={getattr(m, f)}" for f in _OS_FIELDS)
    if report.app.os_image_hash:
        actual += f" os_image_hash={report.app.os_image_hash}"
    names = [s.name for s in sets]
    if not _quote_proven(report):
        return Finding.failed(
            "policy.os",
            "the quote did not verify: its measurements prove nothing",
            expected=f"one of {names}",
            actual=actual,
        )
    replayed = _passed(report, "rtmr_replay")
    best: tuple[int, OsSet, list[str]] | None = None
    for os_set in sets:
        differs = [f for f in _OS_FIELDS if getattr(m, f) != getattr(os_set, f)]
        if os_set.os_image_hash is not None:
            # os-image-hash is an RTMR3 event: proven only when the log replayed to the quote.
            if not replayed:
                differs.append("os_image_hash (not proven: rtmr_replay did not pass)")
            elif report.app.os_image_hash != os_set.os_image_hash:
                differs.append("os_image_hash")
        if not differs:
            return Finding.passed(
                "policy.os",
                f"the OS measurements are set {os_set.name!r}",
                expected=f"one of {names}",
                actual=actual,
            )
        if best is None or len(differs) < best[0]:
            best = (len(differs), os_set, differs)
    assert best is not None  # sets is never empty here
    _, closest, differs = best
    return Finding.failed(
        "policy.os",
        f"the OS measurements match no set; closest {closest.name!r} differs in "
        f"{', '.join(differs)}",
        expected=f"one of {names}",
        actual=actual,
    )


def _check_app(rule: AppRule, report: Report) -> Finding:
    """``policy.app``: the measured app (RTMR3) is the pinned one."""
    app = report.app
    key_provider = f"{app.key_provider.name}:{app.key_provider.id}" if app.key_provider else None
    actual = (
        f"compose_hash={app.compose_hash} app_id={app.app_id} key_provider={key_provider} "
        f"instance_id={app.instance_id}"
    )
    expected_parts = []
    for label, values in (
        ("compose_hash", rule.compose_hash),
        ("app_id", rule.app_id),
        ("instance_id", rule.instance_id),
    ):
        if values is not None:
            expected_parts.append(f"{label} in {list(values)}")
    if rule.key_provider is not None:
        expected_parts.append(f"key_provider in {[f'{k.name}:{k.id}' for k in rule.key_provider]}")
    if rule.require_compose_text:
        expected_parts.append("compose text hashes to compose-hash")
    if rule.allow_events_after_ready is not None:
        expected_parts.append(
            f"events after system-ready within {list(rule.allow_events_after_ready)}"
        )
    expected = "; ".join(expected_parts) or None
    if not (_quote_proven(report) and _passed(report, "rtmr_replay")):
        return Finding.failed(
            "policy.app",
            f"the app identity is not proven: quote {report.quote.status or 'not verified'}, "
            f"rtmr_replay {_status_of(report, 'rtmr_replay')}",
            expected=expected,
            actual=actual,
        )
    problems = []
    for label, values, value in (
        ("compose_hash", rule.compose_hash, app.compose_hash),
        ("app_id", rule.app_id, app.app_id),
        ("instance_id", rule.instance_id, app.instance_id),
    ):
        if values is not None and value not in values:
            problems.append(f"{label} {value} not pinned")
    if rule.key_provider is not None and not any(
        app.key_provider is not None
        and (k.name, k.id) == (app.key_provider.name, app.key_provider.id.lower())
        for k in rule.key_provider
    ):
        problems.append(f"key provider {key_provider} not pinned")
    if rule.require_compose_text and not _passed(report, "compose_hash"):
        problems.append(
            f"compose text required, compose_hash is {_status_of(report, 'compose_hash')}"
        )
    if rule.allow_events_after_ready is not None:
        extra = [e for e in app.events_after_ready if e not in rule.allow_events_after_ready]
        if extra:
            problems.append(
                f"events after system-ready not allowed: {', '.join(sorted(set(extra)))}"
            )
    if problems:
        return Finding.failed("policy.app", "; ".join(problems), expected=expected, actual=actual)
    return Finding.passed(
        "policy.app", "the measured app is the pinned one", expected=expected, actual=actual
    )


def _check_certificates(rule: CertificatesRule, report: Report) -> Finding:
    """``policy.certificates``: the chain (and the RA-TLS binding) the policy requires."""
    required = []
    if rule.require_chain:
        required += ["cert_signature", "cert_extension_mismatch"]
    if rule.require_report_data_binding:
        required.append("report_data_binding")
    if not required:
        return Finding.passed("policy.certificates", "nothing required of the certificates")
    missing = [f"{i} {_status_of(report, i)}" for i in required if not _passed(report, i)]
    expected = " and ".join(f"{i} pass" for i in required)
    if missing:
        return Finding.failed(
            "policy.certificates",
            f"required certificate checks did not pass: {', '.join(missing)}",
            expected=expected,
            actual=", ".join(f"{i} {_status_of(report, i)}" for i in required),
        )
    return Finding.passed(
        "policy.certificates",
        "the required certificate checks passed",
        expected=expected,
        actual=", ".join(f"{i} pass" for i in required),
    )
