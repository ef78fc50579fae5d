"""Findings: the unit of explanation of a verification.

Every check yields one :class:`Finding` with a stable ``id`` (see :data:`CHECKS`), a
:class:`Status`, the expected and actual values and a one-line reason. A report lists every
finding; the verdict fails when any finding fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from pydantic import ConfigDict


class Status(StrEnum):
    """Outcome of one check."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """The outcome of one check, with enough detail to explain it.

    A plain frozen dataclass, not a pydantic model: a verification makes some thirty of them, and
    a validated model costs three times as much to build (the checks give typed values; pydantic
    still validates findings when a :class:`~verifier.report.Report` is read back from JSON).
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    id: str
    status: Status
    expected: str | None = None
    actual: str | None = None
    reason: str

    @classmethod
    def passed(
        cls, id: str, reason: str, *, expected: str | None = None, actual: str | None = None
    ) -> Finding:
        return cls(id=id, status=Status.PASS, expected=expected, actual=actual, reason=reason)

    @classmethod
    def failed(
        cls, id: str, reason: str, *, expected: str | None = None, actual: str | None = None
    ) -> Finding:
        return cls(id=id, status=Status.FAIL, expected=expected, actual=actual, reason=reason)

    @classmethod
    def warned(
        cls, id: str, reason: str, *, expected: str | None = None, actual: str | None = None
    ) -> Finding:
        return cls(id=id, status=Status.WARN, expected=expected, actual=actual, reason=reason)

    @classmethod
    def skipped(
        cls, id: str, reason: str, *, expected: str | None = None, actual: str | None = None
    ) -> Finding:
        return cls(id=id, status=Status.SKIP, expected=expected, actual=actual, reason=reason)


#: Every finding id the core can emit, with what it checks. The ids are the project's stable
#: vocabulary: CI gates and dashboards filter on them, so an id is never renamed or reused.
CHECKS: dict[str, str] = {
    # evidence as a whole
    "evidence_parse": "the evidence document is well-formed (library calls only; the CLI exits 2)",
    "collateral_parse": "the collateral is well-formed (library calls only; the CLI exits 2)",
    # the TDX quote (dcap-qvl)
    "quote_parse": "the quote is present, a TDX v4/v5 quote, its signature data laid out exactly",
    "quote_verification": "dcap-qvl verifies the quote; any failure not classified below",
    "quote_signature": "quote signature, QE report and its hash, PCK chain, collateral signatures",
    "collateral_expired": "the collateral (TCB info, QE identity, CRLs, signers) has not expired",
    "collateral_not_yet_valid": "the collateral was issued before the verification time",
    "collateral_fmspc_mismatch": "the collateral's TCB info is for the quote's FMSPC",
    "pck_cert_expired": "the quote's PCK certificate has not expired",
    "pck_cert_not_yet_valid": "the quote's PCK certificate is already valid",
    "pck_revoked": "no certificate of the PCK chain is revoked",
    "tcb_level_not_found": "the platform matches a TCB level of the TCB info",
    "qe_identity": "the quoting enclave matches Intel's QE identity",
    "td_attributes": "no forbidden TD attribute (profiling, migration, SEPT_VE_DISABLE off...)",
    "tcb_status": "the TCB status (warn when not UpToDate; fail when Revoked)",
    "td_debug": "the TD is not a debug TD",
    "seam_signer": "MRSIGNERSEAM is zero (the TDX module is Intel's)",
    "trust_root": "the quote chains to Intel's root CA (warn under any other root)",
    "issuer_chains": "the quote's PCK chain and the collateral's issuer chains end at the trust "
    "root; the PCK CRL issuer chain signed the PCK CRL",
    # the event log
    "event_log_parse": "each event is well-formed (hex, digest length, IMR, version; RTMR3: "
    "runtime events only)",
    "event_digest": "each non-empty runtime digest (and preimage) equals the recomputed value",
    "rtmr_replay": "replaying the event log reproduces RTMR0-3 of the quote",
    "tcb_info_mismatch": "tcb_info mrtd/rtmr0-3 claims equal the quote (rootfs_hash: the event)",
    "report_data_mismatch": "the evidence's report_data claim (GetQuote) equals the quote's",
    "duplicate_event": "identity events occur once, before system-ready",
    "quote_only": "the event log is not empty (warn: only the quote was checked)",
    # app binding
    "compose_hash": "sha256 of the exact app compose bytes equals the compose-hash event",
    "compose_not_available": "a compose text is available (warn: compose binding not checked)",
    "compose_file": "compose_file equals tcb_info.app_compose (and --compose)",
    "mr_config_id": "MRCONFIGID is zero or 01 || compose-hash || zeros",
    # certificates
    "cert_chain": "API certificates link: positions, issuer = next subject, self-issued root",
    "cert_validity": "the verification time is inside every certificate's validity",
    "cert_signature": "each PEM certificate is signed by the next; the root by itself",
    "cert_fingerprint": "the PEM certificates are the ones the API describes (SHA-256 of DER)",
    "cert_metadata": "the API's certificate fields equal what the PEM certificates say",
    "cert_extension_mismatch": "the leaf's quote/event-log/app-id extensions equal the evidence",
    "report_data_binding": "quote report_data = SHA512('ratls-cert:' || leaf SPKI DER)",
    "app_id_mismatch": "the certificate's app id equals the app-id event",
    "kms_root_binding": "the chain's root CA key equals the key-provider id measured in RTMR3",
    "chain_not_available": "a PEM certificate chain is given (warn: certificates not verified)",
    # policy
    "policy": "the policy in force and what it pins",
}
