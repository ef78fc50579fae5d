"""Evidence documents: what a CVM hands out to prove what it runs.

:func:`load_evidence` detects the format of a JSON document and returns an :class:`Evidence`: the
quote (the only signed part), the event log and the unsigned claims around it. Nothing here is
trusted yet; :func:`verifier.verify` checks every claim against the quote.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from .. import decoding
from ..errors import InputError
from ..hexutil import decode_hex, json_path
from .getquote import GetQuoteResponse
from .phala import (
    AppInstance,
    Certificate,
    CertificateIssuer,
    CertificateSubject,
    CvmAttestation,
    EventLog,
    EventLogEntry,
    TcbInfo,
)

__all__ = [
    "AppInstance",
    "Certificate",
    "CertificateIssuer",
    "CertificateSubject",
    "CvmAttestation",
    "EventLog",
    "EventLogEntry",
    "Evidence",
    "EvidenceFormat",
    "GetQuoteResponse",
    "TcbClaims",
    "TcbInfo",
    "load_evidence",
    "parse_model",
]

if TYPE_CHECKING:
    from ..eventlog import DecodedLog

M = TypeVar("M", bound=BaseModel)

#: Upper bound on an evidence document; real ones are ~100 KiB.
MAX_EVIDENCE_BYTES = 16 * 1024 * 1024


class EvidenceFormat(StrEnum):
    PHALA_CVM_ATTESTATION = "phala-cvm-attestation"
    DSTACK_GETQUOTE = "dstack-getquote"
    #: one instance of the public ``GET /api/v1/apps/{app_id}/attestations`` (``instances[i]``)
    PHALA_APP_INSTANCE = "phala-app-instance"


@dataclass(frozen=True)
class TcbClaims:
    """``tcb_info`` register claims (hex as given, normalised): to be compared with the quote."""

    mrtd: str
    rtmr0: str
    rtmr1: str
    rtmr2: str
    rtmr3: str
    rootfs_hash: str | None


@dataclass(frozen=True)
class Evidence:
    """One evidence document, parsed but not yet verified.

    ``quote`` is ``None`` when the document carries no quote (an offline CVM, say): verification
    then fails. ``compose`` is the exact bytes of the app compose the document carries, if any.
    """

    format: EvidenceFormat
    raw: bytes
    sha256: str
    quote: bytes | None
    quote_location: str
    events: tuple[EventLogEntry, ...]
    compose: bytes | None = None
    compose_file: str | None = None
    claims: TcbClaims | None = None
    certificates: tuple[Certificate, ...] = ()
    #: the API's ``error`` field (set when the CVM is offline)
    error: str | None = None
    #: GetQuote's ``report_data``: a claim repeating the quote's, compared with it
    report_data: str | None = None

    @cached_property
    def decoded_log(self) -> DecodedLog:
        """The event log decoded to bytes (once per document; verifying again reuses it)."""
        from ..eventlog import decode_event_log  # eventlog imports this package's models

        return decode_event_log(self.events)


def parse_model(model: type[M], data: object) -> M:
    """Validate ``data`` as ``model``, turning pydantic's errors into one :class:`InputError`."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise InputError(f"{first['msg']}{more}", location=json_path(tuple(first["loc"]))) from None


def _decode_json(raw: bytes) -> object:
    if len(raw) > MAX_EVIDENCE_BYTES:
        raise InputError(f"larger than {MAX_EVIDENCE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 (byte {exc.start})") from None
    try:
        return decoding.json_loads(text)
    except ValueError as exc:
        raise InputError(str(exc)) from None


#: keys only an app instance of ``/apps/{app_id}/attestations`` carries
_INSTANCE_KEYS = ("eventlog", "image_version", "runtime_data")


def detect_format(document: object) -> EvidenceFormat:
    """Tell which evidence format a decoded JSON document is, or raise :class:`InputError`."""
    if isinstance(document, dict):
        if "is_online" in document:
            return EvidenceFormat.PHALA_CVM_ATTESTATION
        api_shaped = "app_certificates" in document or "tcb_info" in document
        if any(key in document for key in _INSTANCE_KEYS) or ("quote" in document and api_shaped):
            return EvidenceFormat.PHALA_APP_INSTANCE
        if api_shaped:
            return EvidenceFormat.PHALA_CVM_ATTESTATION
        if "quote" in document:
            return EvidenceFormat.DSTACK_GETQUOTE
    raise InputError(
        "unrecognised evidence: expected a Phala Cloud CvmAttestation (app_certificates, "
        "tcb_info, ...), an app instance (quote, eventlog, ...) or a dstack GetQuote response "
        "(quote, event_log, ...)"
    )


def load_evidence(raw: bytes | str, *, format: EvidenceFormat | None = None) -> Evidence:
    """Parse an evidence document (its format detected automatically unless ``format`` is given).

    Raises :class:`InputError` naming the JSON path of the first problem.
    """
    try:
        data = decoding.utf8(raw)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    document = _decode_json(data)
    digest = hashlib.sha256(data).hexdigest()
    fmt = format if format is not None else detect_format(document)
    if fmt is EvidenceFormat.PHALA_CVM_ATTESTATION:
        return _from_cvm_attestation(parse_model(CvmAttestation, document), data, digest)
    if fmt is EvidenceFormat.PHALA_APP_INSTANCE:
        return _from_app_instance(parse_model(AppInstance, document), data, digest)
    return _from_getquote(parse_model(GetQuoteResponse, document), data, digest)


def _from_getquote(doc: GetQuoteResponse, raw: bytes, digest: str) -> Evidence:
    return Evidence(
        format=EvidenceFormat.DSTACK_GETQUOTE,
        raw=raw,
        sha256=digest,
        quote=decode_hex(doc.quote, location="quote"),
        quote_location="quote",
        events=doc.event_log,
        report_data=doc.report_data,
    )


def _leaf_quote(certificates: tuple[Certificate, ...]) -> tuple[bytes | None, str]:
    """The quote of the chain's leaf (``position_in_chain`` 0, or the first entry)."""
    for index, cert in enumerate(certificates):
        position = cert.position_in_chain if cert.position_in_chain is not None else index
        if position == 0 and cert.quote is not None:
            location = f"app_certificates[{index}].quote"
            return decode_hex(cert.quote, location=location), location
    return None, "app_certificates"


def _claims(tcb: TcbInfo | None) -> tuple[TcbClaims | None, bytes | None]:
    """``tcb_info``'s register claims and the exact bytes of its ``app_compose``."""
    if tcb is None:
        return None, None
    claims = TcbClaims(
        mrtd=tcb.mrtd,
        rtmr0=tcb.rtmr0,
        rtmr1=tcb.rtmr1,
        rtmr2=tcb.rtmr2,
        rtmr3=tcb.rtmr3,
        rootfs_hash=tcb.rootfs_hash,
    )
    compose = None
    if tcb.app_compose is not None:
        # compose-hash covers the exact bytes dstack hashed: the string's UTF-8 encoding.
        compose = decoding.utf8_text(tcb.app_compose, location="tcb_info.app_compose")
    return claims, compose


def _from_cvm_attestation(doc: CvmAttestation, raw: bytes, digest: str) -> Evidence:
    quote, quote_location = _leaf_quote(doc.app_certificates or ())
    tcb = doc.tcb_info
    events: tuple[EventLogEntry, ...] = ()
    if tcb is not None and tcb.event_log is not None:
        events = tcb.event_log
    elif doc.eventlog is not None:
        events = doc.eventlog
    return _api_evidence(
        EvidenceFormat.PHALA_CVM_ATTESTATION, doc, raw, digest, quote, quote_location, events
    )


def _from_app_instance(doc: AppInstance, raw: bytes, digest: str) -> Evidence:
    if doc.quote is not None:
        # The instance's own quote is what the API attests; a leaf quote, if any, is compared
        # with the certificate extension like any other claim.
        quote: bytes | None = decode_hex(doc.quote, location="quote")
        quote_location = "quote"
    else:
        quote, quote_location = _leaf_quote(doc.app_certificates or ())
        if quote is None:
            quote_location = "quote"
    tcb = doc.tcb_info
    events: tuple[EventLogEntry, ...] = ()
    if doc.eventlog is not None:
        events = doc.eventlog
    elif tcb is not None and tcb.event_log is not None:
        events = tcb.event_log
    return _api_evidence(
        EvidenceFormat.PHALA_APP_INSTANCE, doc, raw, digest, quote, quote_location, events
    )


def _api_evidence(
    fmt: EvidenceFormat,
    doc: CvmAttestation | AppInstance,
    raw: bytes,
    digest: str,
    quote: bytes | None,
    quote_location: str,
    events: tuple[EventLogEntry, ...],
) -> Evidence:
    """Evidence from a Phala Cloud API document once its quote and event log are located (the
    two API shapes differ only there): certificates, tcb_info claims, compose texts, error."""
    claims, compose = _claims(doc.tcb_info)
    return Evidence(
        format=fmt,
        raw=raw,
        sha256=digest,
        quote=quote,
        quote_location=quote_location,
        events=events,
        compose=compose,
        compose_file=doc.compose_file,
        claims=claims,
        certificates=doc.app_certificates or (),
        error=doc.error,
    )
