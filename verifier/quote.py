"""The TDX quote: byte layout of its header, TD report body and signature data (DCAP quote v4/v5).

Parsing here is structural only: it reads fields at their offsets so that they can be reported
and compared. Whether the quote is genuine is decided by :mod:`verifier.quote_verification`.

The signature data is not covered by the quote signature, and dcap-qvl tolerates slack in it (an
unchecked certification data type, a length that overshoots into trailing bytes, trailing bytes
of any value). Slack is where a quote can differ without its meaning changing, so the layout is
checked exactly here: every declared size matches its contents, the certification data is a QE
report (type 6) carrying the PCK chain (type 5), and only zero padding may follow.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TDX_TEE_TYPE = 0x81
HEADER_SIZE = 48
TD_REPORT10_SIZE = 584
TD_REPORT15_SIZE = 648
_V5_BODY_DESCRIPTOR_SIZE = 6  # u16 body type, u32 body size (quote v5 only)
#: Signature data (quote v4 appendix A.4): ECDSA-256 signature, attestation key, then the
#: certification data: u16 type, u32 size, data.
_SIGNATURE_SIZE = 64
_ATTESTATION_KEY_SIZE = 64
CERT_DATA_QE_REPORT = 6
CERT_DATA_PCK_CHAIN = 5
#: QE report certification data: QE report, its signature, u16 auth data size, auth data, then
#: the inner certification data (u16 type, u32 size, data).
_QE_REPORT_SIZE = 384
_QE_REPORT_SIGNATURE_SIZE = 64


class QuoteFormatError(ValueError):
    """The bytes are not a TDX quote this verifier understands."""


@dataclass(frozen=True)
class TdQuote:
    """Header and TD report fields of a TDX quote (all byte strings as in the quote)."""

    version: int
    attestation_key_type: int
    tee_type: int
    tee_tcb_svn: bytes
    mr_seam: bytes
    mr_signer_seam: bytes
    seam_attributes: bytes
    td_attributes: bytes
    xfam: bytes
    mr_td: bytes
    mr_config_id: bytes
    mr_owner: bytes
    mr_owner_config: bytes
    rtmr: tuple[bytes, bytes, bytes, bytes]
    report_data: bytes
    #: the PCK certificate chain (PEM text, as carried: possibly NUL-terminated)
    pck_chain_pem: bytes = b""

    @property
    def debug(self) -> bool:
        """TD_ATTRIBUTES.DEBUG (byte 0, bit 0): the host can read and change the TD's memory."""
        return bool(self.td_attributes[0] & 0x01)


# Offsets inside the TD report body (TDX module ABI, TDREPORT structure).
_FIELDS: tuple[tuple[str, int], ...] = (
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


def parse_td_quote(raw: bytes) -> TdQuote:
    """Read the header and TD report body of a TDX v4/v5 quote.

    Raises :class:`QuoteFormatError` when ``raw`` is too short, not TDX, or of another version.
    """
    if len(raw) < HEADER_SIZE + TD_REPORT10_SIZE:
        raise QuoteFormatError(
            f"{len(raw)} bytes: too short for a TDX quote "
            f"(header {HEADER_SIZE} + TD report {TD_REPORT10_SIZE})"
        )
    version, key_type, tee_type = struct.unpack_from("<HHI", raw, 0)
    if tee_type != TDX_TEE_TYPE:
        raise QuoteFormatError(f"TEE type 0x{tee_type:x} is not TDX (0x81)")
    if version == 4:
        offset = HEADER_SIZE
    elif version == 5:
        body_type, body_size = struct.unpack_from("<HI", raw, HEADER_SIZE)
        if body_type not in (2, 3, 4) or body_size < TD_REPORT10_SIZE:
            raise QuoteFormatError(f"quote v5 body type {body_type} is not a TD report")
        offset = HEADER_SIZE + _V5_BODY_DESCRIPTOR_SIZE
        if len(raw) < offset + body_size:
            raise QuoteFormatError(f"{len(raw)} bytes: too short for its v5 TD report body")
    else:
        raise QuoteFormatError(f"quote version {version} is not 4 or 5")
    values: dict[str, bytes] = {}
    for name, size in _FIELDS:
        values[name] = raw[offset : offset + size]
        offset += size
    pck_chain_pem = _signature_data(raw, offset)
    return TdQuote(
        version=version,
        attestation_key_type=key_type,
        tee_type=tee_type,
        tee_tcb_svn=values["tee_tcb_svn"],
        mr_seam=values["mr_seam"],
        mr_signer_seam=values["mr_signer_seam"],
        seam_attributes=values["seam_attributes"],
        td_attributes=values["td_attributes"],
        xfam=values["xfam"],
        mr_td=values["mr_td"],
        mr_config_id=values["mr_config_id"],
        mr_owner=values["mr_owner"],
        mr_owner_config=values["mr_owner_config"],
        rtmr=(values["rtmr0"], values["rtmr1"], values["rtmr2"], values["rtmr3"]),
        report_data=values["report_data"],
        pck_chain_pem=pck_chain_pem,
    )


class _Reader:
    """Reads little-endian fields of the signature data, refusing to run past its end."""

    def __init__(self, raw: bytes, offset: int, end: int) -> None:
        self.raw, self.offset, self.end = raw, offset, end

    def take(self, size: int, what: str) -> bytes:
        if self.offset + size > self.end:
            raise QuoteFormatError(f"signature data too short for its {what}")
        data = self.raw[self.offset : self.offset + size]
        self.offset += size
        return data

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "little")

    def u32(self, what: str) -> int:
        return int.from_bytes(self.take(4, what), "little")


def _signature_data(raw: bytes, offset: int) -> bytes:
    """Check the signature data's layout after the TD report; return the PCK chain PEM."""
    header = _Reader(raw, offset, len(raw))
    size = header.u32("length")
    end = header.offset + size
    if end > len(raw):
        raise QuoteFormatError(f"signature data length {size} runs past the end of the quote")
    data = _Reader(raw, header.offset, end)
    data.take(_SIGNATURE_SIZE + _ATTESTATION_KEY_SIZE, "signature and attestation key")
    cert_type = data.u16("certification data type")
    if cert_type != CERT_DATA_QE_REPORT:
        raise QuoteFormatError(
            f"certification data type {cert_type} is not {CERT_DATA_QE_REPORT} (QE report)"
        )
    cert_size = data.u32("certification data size")
    if data.offset + cert_size != end:
        raise QuoteFormatError(
            f"certification data size {cert_size} does not fill the signature data "
            f"({end - data.offset} bytes)"
        )
    data.take(_QE_REPORT_SIZE + _QE_REPORT_SIGNATURE_SIZE, "QE report and its signature")
    data.take(data.u16("QE auth data size"), "QE auth data")
    inner_type = data.u16("PCK certification data type")
    if inner_type != CERT_DATA_PCK_CHAIN:
        raise QuoteFormatError(
            f"QE certification data type {inner_type} is not {CERT_DATA_PCK_CHAIN} (PCK chain)"
        )
    inner_size = data.u32("PCK certification data size")
    if data.offset + inner_size != end:
        raise QuoteFormatError(
            f"PCK certification data size {inner_size} does not fill the certification data "
            f"({end - data.offset} bytes)"
        )
    pem = data.take(inner_size, "PCK chain")
    if any(raw[end:]):
        raise QuoteFormatError(
            f"{len(raw) - end} bytes after the signature data are not zero padding"
        )
    return pem
