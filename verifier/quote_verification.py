"""Quote verification with dcap-qvl, and the mapping of its errors to finding ids.

dcap-qvl checks the quote signature, the QE report and its hash, the PCK certificate chain and
its CRLs, the collateral signatures and validity window, and matches the TCB level. It raises
``ValueError`` with a (possibly multi-line) message on the first failure; the whole text is kept
in the finding and its class is recognised here. Unknown messages fall back to
``quote_verification``: never a pass.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import dcap_qvl
from cryptography import x509

from .collateral import Collateral
from .errors import InputError

INTEL_ROOT_SUBJECT = "CN=Intel SGX Root CA,O=Intel Corporation,L=Santa Clara,ST=CA,C=US"
#: SHA-256 of the DER of Intel's SGX Root CA certificate (the root dcap-qvl builds in).
INTEL_ROOT_SHA256 = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3"

#: Ordered (substring, finding id) rules; the first that occurs in dcap-qvl's message wins.
#: More specific phrases come first ("CertExpired" in the PCK chain before generic expiry).
ERROR_CLASSES: tuple[tuple[str, str], ...] = (
    ("Debug mode is enabled", "td_debug"),
    ("TD profiling is enabled", "td_attributes"),
    ("SERVTD_EXT is enabled", "td_attributes"),
    ("SEPT_VE_DISABLE is not enabled", "td_attributes"),
    ("TD migration is enabled", "td_attributes"),
    ("Reserved bits in TD attributes", "td_attributes"),
    ("TCB status is invalid: Revoked", "tcb_status"),
    ("No matching TCB level found", "tcb_level_not_found"),
    ("Fmspc mismatch", "collateral_fmspc_mismatch"),
    ("issue date is in the future", "collateral_not_yet_valid"),
    ("TCBInfo expired", "collateral_expired"),
    ("QE Identity expired", "collateral_expired"),
    ("Collateral expired", "collateral_expired"),
    ("CrlExpired", "collateral_expired"),
    ("certificate revocation list expired", "collateral_expired"),
    ("CertRevoked", "pck_revoked"),
    ("CertExpired", "pck_cert_expired"),
    ("CertNotValidYet", "pck_cert_not_yet_valid"),
    ("QE MRSIGNER mismatch", "qe_identity"),
    ("QE ISVPRODID mismatch", "qe_identity"),
    ("QE MISCSELECT mismatch", "qe_identity"),
    ("QE ATTRIBUTES mismatch", "qe_identity"),
    ("QE report validation failed", "qe_identity"),
    ("QE TCB too old", "qe_identity"),
    ("Failed to decode quote", "quote_parse"),
    ("Failed to parse quote", "quote_parse"),
    ("Unsupported DCAP quote version", "quote_parse"),
    ("Unsupported quote version", "quote_parse"),
    ("must have version", "quote_parse"),
    ("signature is invalid", "quote_signature"),
    ("Signature is invalid", "quote_signature"),
    ("QE report hash mismatch", "quote_signature"),
    ("Invalid QE auth data length", "quote_signature"),
    ("InvalidSignatureForPublicKey", "quote_signature"),
    ("InvalidCrlSignatureForPublicKey", "quote_signature"),
    ("UnknownIssuer", "quote_signature"),
    ("Failed to verify certificate chain", "quote_signature"),
    ("Unknown QE vendor ID", "quote_signature"),
)


def classify_dcap_error(message: str) -> str:
    """The finding id for a dcap-qvl error message (``quote_verification`` when unknown)."""
    for needle, finding_id in ERROR_CLASSES:
        if needle in message:
            return finding_id
    return "quote_verification"


@dataclass(frozen=True)
class TrustRoot:
    """The root CA that quotes are verified under; ``der=None``: dcap-qvl's built-in Intel root."""

    der: bytes | None
    subject: str
    sha256: str | None

    @property
    def is_intel(self) -> bool:
        return self.der is None or self.sha256 == INTEL_ROOT_SHA256

    @property
    def certificate_sha256(self) -> str:
        """SHA-256 of the root CA certificate's DER (Intel's when ``der`` is ``None``)."""
        return INTEL_ROOT_SHA256 if self.der is None else hashlib.sha256(self.der).hexdigest()

    @classmethod
    def from_der(cls, der: bytes) -> TrustRoot:
        """A custom root CA (a test PKI): :class:`InputError` unless it is a DER certificate."""
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise InputError("trust root is not a DER X.509 certificate") from None
        return cls(
            der=der, subject=cert.subject.rfc4514_string(), sha256=hashlib.sha256(der).hexdigest()
        )


INTEL_ROOT = TrustRoot(der=None, subject=INTEL_ROOT_SUBJECT, sha256=INTEL_ROOT_SHA256)


@dataclass(frozen=True)
class QuoteOutcome:
    """What dcap-qvl said about a quote: a status, or an error with its class."""

    status: str | None
    advisory_ids: tuple[str, ...]
    error: str | None
    error_class: str | None
    #: tcbDate of the matched TCB level (the older of platform and QE); only for non-UpToDate
    tcb_date: str | None = None

    @property
    def verified(self) -> bool:
        return self.error is None


def verify_quote(
    quote: bytes, collateral: Collateral, at_secs: int, trust_root: TrustRoot = INTEL_ROOT
) -> QuoteOutcome:
    """Run dcap-qvl on ``quote`` at ``at_secs`` (Unix seconds); never raises for bad evidence."""
    if at_secs < 0:
        # dcap-qvl takes an unsigned 64-bit time; say so rather than leak an OverflowError.
        return QuoteOutcome(
            status=None,
            advisory_ids=(),
            error_class="quote_verification",
            error="verification time is before 1970-01-01T00:00:00Z",
        )
    try:
        if trust_root.der is None:
            verified = dcap_qvl.verify(quote, collateral.inner, at_secs)
        else:
            verified = dcap_qvl.verify_with_root_ca(
                quote, collateral.inner, trust_root.der, at_secs
            )
    except (ValueError, RuntimeError, OverflowError) as exc:
        message = str(exc).strip() or type(exc).__name__
        return QuoteOutcome(
            status=None, advisory_ids=(), error=message, error_class=classify_dcap_error(message)
        )
    status = verified.status
    return QuoteOutcome(
        status=status,
        advisory_ids=tuple(sorted(verified.advisory_ids)),
        error=None,
        error_class=None,
        tcb_date=None
        if status == "UpToDate"
        else _tcb_date(quote, collateral, at_secs, trust_root),
    )


def _tcb_date(
    quote: bytes, collateral: Collateral, at_secs: int, trust_root: TrustRoot
) -> str | None:
    """The matched TCB levels' date, for a platform that is not UpToDate (the grace rule's input).

    ``VerifiedReport`` does not carry it; dcap-qvl's claims do. Asked only when the status is not
    UpToDate, so the common case pays nothing. The older of the platform and QE levels counts.
    """
    try:
        claims = json.loads(
            dcap_qvl.QuoteVerifier(trust_root.der)
            .verify_with_policy(
                quote, collateral.inner, at_secs, dcap_qvl.QuotePolicy.claims_only(at_secs)
            )
            .to_json()
        )
        dates = [claims[part]["tcb_level"]["tcbDate"] for part in ("platform", "qe")]
    except (ValueError, RuntimeError, KeyError, TypeError):
        return None
    strings = [d for d in dates if isinstance(d, str)]
    return min(strings) if len(strings) == len(dates) else None


def quote_fmspc(quote: bytes) -> str | None:
    """FMSPC of the PCK certificate inside the quote (unverified), upper-case hex."""
    try:
        return dcap_qvl.parse_quote(quote).fmspc().upper()
    except (ValueError, RuntimeError):
        return None
