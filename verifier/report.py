"""The verification report: verdict, what the signed quote says, and every finding.

A :class:`Report` is immutable and deterministic: the same evidence, collateral, policy and
verification time give the same report, byte for byte (:meth:`Report.to_json`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .findings import Finding, Status

REPORT_SCHEMA = "cvm-verifier.report/1"

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_surrogate(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


_OWNED = ConfigDict(frozen=True, extra="forbid")


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"


class EvidenceInfo(BaseModel):
    """What was verified, by SHA-256, so a report can be tied to its inputs."""

    model_config = _OWNED

    format: str | None
    sha256: str
    collateral_sha256: str | None = None
    chain_sha256: str | None = None
    compose_sha256: str | None = None


class TrustRootInfo(BaseModel):
    """The root CA the quote was verified under. Anything but Intel's is a test setup."""

    model_config = _OWNED

    intel: bool
    subject: str
    sha256: str | None = None


class QuoteInfo(BaseModel):
    """The quote as dcap-qvl verified it (``status`` is null when verification failed)."""

    model_config = _OWNED

    status: str | None = None
    advisory_ids: tuple[str, ...] = ()
    fmspc: str | None = None
    td_attributes: str | None = None
    xfam: str | None = None
    mr_seam: str | None = None
    tee_tcb_svn: str | None = None
    trust_root: TrustRootInfo
    error: str | None = None
    #: tcbDate of the matched TCB level (older of platform and QE); set when not UpToDate
    tcb_date: str | None = None


class Measurements(BaseModel):
    """Registers of the TD report, hex, read from the quote (the signed evidence)."""

    model_config = _OWNED

    mrtd: str | None = None
    rtmr0: str | None = None
    rtmr1: str | None = None
    rtmr2: str | None = None
    rtmr3: str | None = None
    mr_config_id: str | None = None
    report_data: str | None = None


class KeyProvider(BaseModel):
    model_config = _OWNED

    name: str
    id: str


class AppIdentity(BaseModel):
    """dstack runtime events of RTMR3 before ``system-ready``: who the app is.

    Only meaningful when the verdict passes (then RTMR3 replayed to the verified quote).
    """

    model_config = _OWNED

    app_id: str | None = None
    compose_hash: str | None = None
    instance_id: str | None = None
    key_provider: KeyProvider | None = None
    os_image_hash: str | None = None
    #: names of the runtime events the application emitted after ``system-ready``, in log order
    events_after_ready: tuple[str, ...] = ()


class PolicyInfo(BaseModel):
    model_config = _OWNED

    name: str
    sha256: str | None = None


class ToolInfo(BaseModel):
    model_config = _OWNED

    name: str = "cvm-verifier"
    version: str
    dcap_qvl: str


class Report(BaseModel):
    """The result of one verification. ``verdict`` is ``fail`` iff any finding failed."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    schema_: str = Field(default=REPORT_SCHEMA, alias="schema")
    verdict: Verdict
    verified_at: str
    tool: ToolInfo
    policy: PolicyInfo
    evidence: EvidenceInfo
    quote: QuoteInfo
    measurements: Measurements
    app: AppIdentity
    findings: tuple[Finding, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Report:
        ids = [f.id for f in self.findings]
        duplicated = sorted(i for i, n in Counter(ids).items() if n > 1)
        if duplicated:
            raise ValueError(f"finding ids must be unique, repeated: {duplicated}")
        if self.verdict is not verdict_of(self.findings):
            raise ValueError("verdict does not follow from the findings")
        return self

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.PASS

    def finding(self, id: str) -> Finding | None:
        """The finding with this id, if the report has one."""
        return next((f for f in self.findings if f.id == id), None)

    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status is Status.FAIL)

    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status is Status.WARN)

    def with_findings(self, extra: tuple[Finding, ...] | list[Finding]) -> Report:
        """A copy with ``extra`` findings appended and the verdict recomputed."""
        findings = (*self.findings, *extra)
        return self.model_copy(update={"findings": findings, "verdict": verdict_of(findings)})

    def to_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)

    def to_json(self) -> str:
        """Canonical JSON: stable key order, two-space indent, trailing newline.

        Always encodable as UTF-8: a lone surrogate that evidence smuggled into a string (JSON
        allows ``"\\ud800"``) is written as that same JSON escape, not as an unencodable character.
        """
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"
        return text if text.isascii() else _LONE_SURROGATE.sub(_escape_surrogate, text)

    def to_json_line(self) -> str:
        """Compact one-line JSON for JSON Lines: the keys and values of :meth:`to_json`.

        ASCII only (non-ASCII is escaped), no newline inside or at the end, so a line can never
        be split by a reader and always encodes; ``json.loads`` gives what it gives for
        :meth:`to_json`.
        """
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=True)


def verdict_of(findings: tuple[Finding, ...] | list[Finding]) -> Verdict:
    """Fail when any finding fails; nothing else can make a report fail or pass."""
    if any(f.status is Status.FAIL for f in findings):
        return Verdict.FAIL
    return Verdict.PASS
