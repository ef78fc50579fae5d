"""Phala Cloud ``CvmAttestation`` (``GET /api/v1/cvms/{id}/attestation``), parsed tolerantly.

Field names, types and required fields follow the Phala Cloud API schema. The outside world
drifts, so unknown keys are ignored, ``sans`` may be a list or a single string, the event log may
sit at the top level as ``eventlog`` (older responses), and ``app_compose`` may be null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from .. import decoding

_TOLERANT = ConfigDict(extra="ignore", frozen=True)


def json_list_or_list(value: Any) -> Any:
    """Accept an event log given as a JSON string (as dstack serialises it) or as a list."""
    if isinstance(value, str):
        try:
            return decoding.json_loads(value)
        except ValueError as exc:
            raise ValueError(f"event log string is {exc}") from None
    return value


class EventLogEntry(BaseModel):
    """One event of a dstack event log, as JSON (semantics: :mod:`verifier.eventlog`)."""

    model_config = _TOLERANT

    imr: StrictInt
    event_type: StrictInt
    digest: str = ""
    event: str = ""
    event_payload: str = ""
    #: dstack event log format version (absent = 1; 2 = canonical-JSON digests).
    version: StrictInt | None = None
    #: the digest preimage, hex; dstack names it ``hash_input``.
    preimage: str | None = Field(
        default=None, validation_alias=AliasChoices("preimage", "hash_input")
    )

    @field_validator("digest", "event_payload", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


#: The seed schema calls the event log entry type ``EventLog``.
EventLog = EventLogEntry


class CertificateSubject(BaseModel):
    model_config = _TOLERANT

    common_name: str | None = None
    organization: str | None = None
    country: str | None = None
    state: str | None = None
    locality: str | None = None


class CertificateIssuer(BaseModel):
    model_config = _TOLERANT

    common_name: str | None = None
    organization: str | None = None
    country: str | None = None


class Certificate(BaseModel):
    """One certificate of the app's RA-TLS chain, as the API describes it (claims)."""

    model_config = _TOLERANT

    subject: CertificateSubject
    issuer: CertificateIssuer
    serial_number: str
    not_before: datetime
    not_after: datetime
    version: str
    fingerprint: str
    signature_algorithm: str
    sans: tuple[str, ...] | None = None
    is_ca: StrictBool = False
    position_in_chain: StrictInt | None = None
    quote: str | None = None
    app_id: str | None = None
    cert_usage: str | None = None

    @field_validator("sans", mode="before")
    @classmethod
    def _sans_string_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("not_before", "not_after")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp has no timezone")
        return value


class TcbInfo(BaseModel):
    """Measurement claims and the event log. Unsigned: every value is checked against the quote."""

    model_config = _TOLERANT

    mrtd: str
    rootfs_hash: str | None = None
    rtmr0: str
    rtmr1: str
    rtmr2: str
    rtmr3: str
    event_log: tuple[EventLogEntry, ...] | None = None
    app_compose: str | None = None

    _event_log_string = field_validator("event_log", mode="before")(json_list_or_list)


class CvmAttestation(BaseModel):
    """The response of ``GET /api/v1/cvms/{cvm_id}/attestation``."""

    model_config = _TOLERANT

    name: str | None = None
    is_online: StrictBool
    is_public: StrictBool = True
    error: str | None = None
    app_certificates: tuple[Certificate, ...] | None = None
    tcb_info: TcbInfo | None = None
    compose_file: str | None = None
    #: older responses carry the event log here instead of in ``tcb_info``
    eventlog: tuple[EventLogEntry, ...] | None = None

    _eventlog_string = field_validator("eventlog", mode="before")(json_list_or_list)


class AppInstance(BaseModel):
    """One entry of ``instances`` of the public ``GET /api/v1/apps/{app_id}/attestations``.

    Drifts like the rest: the quote is top-level (or only in the leaf certificate), the event log
    is ``eventlog`` (a list or a JSON string) or inside ``tcb_info``; a stopped instance has
    ``quote: null``. ``runtime_data``, ``image_version``, ``ppid`` and the like are claims the
    verifier does not need and ignores.
    """

    model_config = _TOLERANT

    quote: str | None = None
    eventlog: tuple[EventLogEntry, ...] | None = None
    tcb_info: TcbInfo | None = None
    compose_file: str | None = None
    app_certificates: tuple[Certificate, ...] | None = None
    image_version: str | None = None
    error: str | None = None

    _eventlog_string = field_validator("eventlog", mode="before")(json_list_or_list)
