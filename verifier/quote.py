"""The TDX quote: byte layout of its header and TD report body (Intel TDX DCAP quote v4/v5).

Parsing here is structural only: it reads fields at their offsets so that they can be reported
and compared. Whether the quote is genuine is decided by :mod:`verifier.quote_verification`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TDX_TEE_TYPE = 0x81
HEADER_SIZE = 48
TD_REPORT10_SIZE = 584
TD_REPORT15_SIZE = 648
_V5_BODY_DESCRIPTOR_SIZE = 6  # u16 body type, u32 body size (quote v5 only)


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
    )
