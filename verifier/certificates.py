"""The app's dstack RA-TLS certificate chain: the API's description of it, and the PEM itself.

Chain (dstack): app leaf (``app:custom``) <- "Dstack App CA" (``app:ca``) <- "Dstack KMS CA"
(self-signed). The leaf carries the quote in extension ``1.3.6.1.4.1.62397.1.1``; the quote's
report_data is ``SHA512("ratls-cert:" || leaf SubjectPublicKeyInfo DER)``, which binds the key of
the certificate to the TD. The API's certificate fields are claims; the PEM is checked for real.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from . import decoding
from .errors import InputError
from .evidence.phala import Certificate
from .findings import Finding
from .hexutil import strip_hex

OID_QUOTE = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.1")
OID_EVENT_LOG = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.2")
OID_APP_ID = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.3")
OID_USAGE = x509.ObjectIdentifier("1.3.6.1.4.1.62397.1.4")
RATLS_CERT_TAG = b"ratls-cert:"
#: The most certificates a chain may have; dstack's has three.
MAX_CHAIN_LENGTH = 16


@dataclass(frozen=True)
class PemChain:
    """A parsed PEM chain, leaf first, with its SHA-256."""

    certificates: tuple[x509.Certificate, ...]
    sha256: str

    @property
    def leaf(self) -> x509.Certificate:
        return self.certificates[0]


def load_pem_chain(pem: bytes | str) -> PemChain:
    """Parse a PEM certificate chain (leaf first); :class:`InputError` if it is not one."""
    try:
        data = decoding.utf8(pem)
        certificates = tuple(x509.load_pem_x509_certificates(data))
    except (ValueError, x509.InvalidVersion) as exc:
        raise InputError(f"not a PEM certificate chain: {exc}") from None
    if len(certificates) > MAX_CHAIN_LENGTH:
        raise InputError(f"{len(certificates)} certificates; at most {MAX_CHAIN_LENGTH}")
    for index, cert in enumerate(certificates):
        _parsed_fully(cert, index)
    return PemChain(certificates=certificates, sha256=hashlib.sha256(data).hexdigest())


def _parsed_fully(cert: x509.Certificate, index: int) -> None:
    """Decode every part the checks read. cryptography parses names, extensions and keys lazily:
    a certificate that is malformed there must be an input error now, not a crash in a check."""
    try:
        _ = (
            cert.subject,
            cert.issuer,
            cert.extensions,
            cert.public_key(),
            cert.signature_hash_algorithm,
            cert.not_valid_before_utc,
            cert.not_valid_after_utc,
        )
    except (ValueError, UnsupportedAlgorithm) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"certificate {index} is malformed: {reason}") from None


def der_octet_string(value: bytes) -> bytes:
    """Unwrap a DER OCTET STRING (dstack extension values wrap the raw bytes in one)."""
    if len(value) < 2 or value[0] != 0x04:
        raise ValueError("not a DER OCTET STRING")
    length = value[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(value) < 2 + count:
            raise ValueError("bad DER length")
        length = int.from_bytes(value[2 : 2 + count], "big")
        offset = 2 + count
    if offset + length != len(value):
        raise ValueError("DER length does not match the value")
    return value[offset:]


def dstack_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    """The raw bytes of a dstack extension, ``None`` when absent; ``ValueError`` if malformed."""
    try:
        ext = cert.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise ValueError(f"extension {oid.dotted_string} has an unexpected type")
    return der_octet_string(value.value)


def spki_der(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def ratls_report_data(cert: x509.Certificate) -> bytes:
    """The report_data a dstack RA-TLS quote must carry for this certificate's key."""
    return hashlib.sha512(RATLS_CERT_TAG + spki_der(cert)).digest()


# --- the API's description of the chain (claims) ---------------------------------------------


def _positioned(certs: Sequence[Certificate]) -> list[tuple[int, Certificate]]:
    return [
        (c.position_in_chain if c.position_in_chain is not None else i, c)
        for i, c in enumerate(certs)
    ]


def _name(common_name: str | None, organization: str | None, country: str | None) -> str:
    return f"CN={common_name},O={organization},C={country}"


def check_api_chain(certs: Sequence[Certificate]) -> Finding:
    """``cert_chain``: the API's certificates form one chain from the quote-carrying leaf."""
    if not certs:
        return Finding.skipped("cert_chain", "the evidence has no certificates")
    positioned = sorted(_positioned(certs), key=lambda pc: pc[0])
    positions = [p for p, _ in positioned]
    if positions != list(range(len(certs))):
        return Finding.failed(
            "cert_chain",
            "positions in chain are not 0..n-1, each once",
            expected=str(list(range(len(certs)))),
            actual=str(positions),
        )
    chain = [c for _, c in positioned]
    for i in range(len(chain) - 1):
        issuer = _name(
            chain[i].issuer.common_name, chain[i].issuer.organization, chain[i].issuer.country
        )
        subject = _name(
            chain[i + 1].subject.common_name,
            chain[i + 1].subject.organization,
            chain[i + 1].subject.country,
        )
        if issuer != subject:
            return Finding.failed(
                "cert_chain",
                f"certificate {i}'s issuer is not certificate {i + 1}'s subject",
                expected=subject,
                actual=issuer,
            )
        if not chain[i + 1].is_ca:
            return Finding.failed(
                "cert_chain",
                f"certificate {i + 1} issues but is not a CA",
                expected="is_ca true",
                actual="is_ca false",
            )
    last = chain[-1]
    last_issuer = _name(last.issuer.common_name, last.issuer.organization, last.issuer.country)
    last_subject = _name(last.subject.common_name, last.subject.organization, last.subject.country)
    if last_issuer != last_subject and not last.is_ca:
        return Finding.failed(
            "cert_chain",
            "the last certificate is neither self-issued nor a CA",
            expected=last_subject,
            actual=last_issuer,
        )
    if chain[0].quote is None:
        return Finding.failed(
            "cert_chain",
            "the leaf (position 0) carries no quote",
            expected="a quote",
            actual="null",
        )
    return Finding.passed(
        "cert_chain",
        f"{len(chain)} certificates link from the leaf to {last.subject.common_name!r}",
        actual=f"{len(chain)} certificates",
    )


def check_api_validity(certs: Sequence[Certificate], at: datetime) -> Finding:
    """``cert_validity``: ``at`` lies inside every certificate's validity period."""
    if not certs:
        return Finding.skipped("cert_validity", "the evidence has no certificates")
    for position, cert in sorted(_positioned(certs), key=lambda pc: pc[0]):
        if not cert.not_before <= at <= cert.not_after:
            return Finding.failed(
                "cert_validity",
                f"certificate {position} ({cert.subject.common_name}) is not valid at this time",
                expected=f"{_iso(cert.not_before)} .. {_iso(cert.not_after)}",
                actual=_iso(at),
            )
    return Finding.passed(
        "cert_validity", f"all {len(certs)} certificates are valid at this time", actual=_iso(at)
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the PEM chain (real certificates) ---------------------------------------------------------


def check_signatures(chain: PemChain) -> Finding:
    """``cert_signature``: each certificate is signed by the next, the root by itself."""
    certs = chain.certificates
    if not certs:
        return Finding.failed("cert_signature", "the PEM holds no certificate")
    for i, cert in enumerate(certs):
        issuer = certs[i + 1] if i + 1 < len(certs) else cert
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as exc:
            what = "itself (root)" if issuer is cert else f"certificate {i + 1}"
            return Finding.failed(
                "cert_signature",
                f"certificate {i} is not signed by {what}",
                expected=issuer.subject.rfc4514_string(),
                actual=f"{cert.issuer.rfc4514_string()}: {type(exc).__name__} {exc}".strip(),
            )
    return Finding.passed(
        "cert_signature",
        f"{len(certs)} signatures verify up to a self-signed root",
        actual=certs[-1].subject.rfc4514_string(),
    )


def check_fingerprints(chain: PemChain, api: Sequence[Certificate]) -> Finding:
    """``cert_fingerprint``: the PEM certificates are the ones the API describes."""
    if not api:
        return Finding.skipped("cert_fingerprint", "the evidence describes no certificates")
    pem = [
        hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest()
        for c in chain.certificates
    ]
    described = [
        c.fingerprint.lower().removeprefix("0x").replace(":", "")
        for _, c in sorted(_positioned(api), key=lambda pc: pc[0])
    ]
    if pem != described:
        return Finding.failed(
            "cert_fingerprint",
            "the PEM chain is not the chain the API describes",
            expected=",".join(described),
            actual=",".join(pem),
        )
    return Finding.passed("cert_fingerprint", f"{len(pem)} fingerprints match", actual=pem[0])


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(str(name) for name in san.get_values_for_type(x509.DNSName))


def _describe(cert: x509.Certificate) -> dict[str, object]:
    """Every field the API describes a certificate with, as the PEM certificate says it."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    quote = dstack_extension(cert, OID_QUOTE)
    app_id = dstack_extension(cert, OID_APP_ID)
    usage = dstack_extension(cert, OID_USAGE)
    return {
        "subject.common_name": _attr(cert.subject, NameOID.COMMON_NAME),
        "subject.organization": _attr(cert.subject, NameOID.ORGANIZATION_NAME),
        "subject.country": _attr(cert.subject, NameOID.COUNTRY_NAME),
        "subject.state": _attr(cert.subject, NameOID.STATE_OR_PROVINCE_NAME),
        "subject.locality": _attr(cert.subject, NameOID.LOCALITY_NAME),
        "issuer.common_name": _attr(cert.issuer, NameOID.COMMON_NAME),
        "issuer.organization": _attr(cert.issuer, NameOID.ORGANIZATION_NAME),
        "issuer.country": _attr(cert.issuer, NameOID.COUNTRY_NAME),
        "serial_number": cert.serial_number,
        "not_before": cert.not_valid_before_utc,
        "not_after": cert.not_valid_after_utc,
        "version": cert.version.name,
        "signature_algorithm": cert.signature_algorithm_oid._name,
        "sans": frozenset(_dns_names(cert)),
        "is_ca": is_ca,
        "quote": quote.hex() if quote is not None else None,
        "app_id": app_id.hex() if app_id is not None else None,
        "cert_usage": usage.decode("utf-8", "replace") if usage is not None else None,
    }


def _claimed(cert: Certificate) -> dict[str, object]:
    try:
        serial: object = int(cert.serial_number.removeprefix("0x").replace(":", ""), 16)
    except ValueError:
        serial = cert.serial_number
    return {
        "subject.common_name": cert.subject.common_name,
        "subject.organization": cert.subject.organization,
        "subject.country": cert.subject.country,
        "subject.state": cert.subject.state,
        "subject.locality": cert.subject.locality,
        "issuer.common_name": cert.issuer.common_name,
        "issuer.organization": cert.issuer.organization,
        "issuer.country": cert.issuer.country,
        "serial_number": serial,
        "not_before": cert.not_before,
        "not_after": cert.not_after,
        "version": cert.version,
        "signature_algorithm": cert.signature_algorithm,
        # the API lists the DNS names of the SAN extension; null or [] when there are none
        "sans": frozenset(cert.sans or ()),
        "is_ca": cert.is_ca,
        "quote": strip_hex(cert.quote) if cert.quote is not None else None,
        "app_id": cert.app_id.lower().removeprefix("0x") if cert.app_id is not None else None,
        "cert_usage": cert.cert_usage,
    }


def check_metadata(
    chain: PemChain, api: Sequence[Certificate], evidence_quote: bytes | None = None
) -> Finding:
    """``cert_metadata``: every field the API reports equals what the PEM certificate says.

    The leaf's quote field, when it is the evidence's quote (``evidence_quote``), is left to
    ``cert_extension_mismatch``, which compares that quote with the leaf's extension.
    """
    evidence_hex = evidence_quote.hex() if evidence_quote is not None else None
    if not api:
        return Finding.skipped("cert_metadata", "the evidence describes no certificates")
    claimed = [c for _, c in sorted(_positioned(api), key=lambda pc: pc[0])]
    if len(claimed) != len(chain.certificates):
        return Finding.failed(
            "cert_metadata",
            "the API and the PEM have different chain lengths",
            expected=str(len(chain.certificates)),
            actual=str(len(claimed)),
        )
    for position, (cert, claim) in enumerate(zip(chain.certificates, claimed, strict=True)):
        try:
            real = _describe(cert)
        except ValueError as exc:
            return Finding.failed(
                "cert_metadata", f"certificate {position}: malformed dstack extension: {exc}"
            )
        said = _claimed(claim)
        for key, value in real.items():
            leaf_quote = key == "quote" and position == 0 and evidence_hex is not None
            if leaf_quote and said[key] == evidence_hex:
                continue
            if said[key] != value:
                return Finding.failed(
                    "cert_metadata",
                    f"certificate {position}: the API's {key} is not the PEM's",
                    expected=_shown(value),
                    actual=_shown(said[key]),
                )
    return Finding.passed("cert_metadata", "the API's certificate fields match the PEM")


def _shown(value: object) -> str:
    """A field value for a finding: sets sorted, long values (a quote) by their SHA-256."""
    if isinstance(value, frozenset):
        return ",".join(sorted(str(v) for v in value))
    text = str(value)
    if len(text) > 200:
        return f"sha256:{hashlib.sha256(text.encode('utf-8', 'replace')).hexdigest()}"
    return text


def _event_tuples(events: object) -> list[tuple[object, ...]] | None:
    if not isinstance(events, list):
        return None
    out: list[tuple[object, ...]] = []
    for e in events:
        if not isinstance(e, dict):
            return None
        out.append(
            (
                e.get("imr"),
                e.get("event_type"),
                str(e.get("digest") or "").lower(),
                e.get("event"),
                str(e.get("event_payload") or "").lower(),
            )
        )
    return out


def check_extensions(
    chain: PemChain, quote: bytes | None, events: Sequence[object], api_leaf: Certificate | None
) -> Finding:
    """``cert_extension_mismatch``: the leaf's quote, event log and app id equal the evidence's."""
    leaf = chain.leaf
    try:
        ext_quote = dstack_extension(leaf, OID_QUOTE)
        ext_log = dstack_extension(leaf, OID_EVENT_LOG)
        ext_app = dstack_extension(leaf, OID_APP_ID)
    except ValueError as exc:
        return Finding.failed("cert_extension_mismatch", f"malformed dstack extension: {exc}")
    if ext_quote is None:
        return Finding.failed(
            "cert_extension_mismatch",
            "the PEM leaf carries no quote extension",
            expected="extension 1.3.6.1.4.1.62397.1.1",
            actual="absent",
        )
    if quote is None or ext_quote != quote:
        return Finding.failed(
            "cert_extension_mismatch",
            "the evidence's quote is not the one in the leaf certificate",
            expected=hashlib.sha256(ext_quote).hexdigest(),
            actual=hashlib.sha256(quote).hexdigest() if quote is not None else None,
        )
    if ext_log is not None:
        try:
            in_cert = _event_tuples(decoding.json_loads(ext_log))
        except ValueError:
            in_cert = None
        given = _event_tuples(list(events))
        if in_cert is None or in_cert != given:
            where = _first_difference(in_cert, given)
            return Finding.failed(
                "cert_extension_mismatch",
                f"the evidence's event log differs from the leaf certificate's ({where})",
                expected=f"{len(in_cert) if in_cert is not None else 'unparseable'} events",
                actual=f"{len(given) if given is not None else 'unparseable'} events",
            )
    if ext_app is not None and api_leaf is not None and api_leaf.app_id is not None:
        claimed = api_leaf.app_id.lower().removeprefix("0x")
        if claimed != ext_app.hex():
            return Finding.failed(
                "cert_extension_mismatch",
                "the API's leaf app_id is not the certificate's",
                expected=ext_app.hex(),
                actual=claimed,
            )
    return Finding.passed(
        "cert_extension_mismatch", "the leaf certificate's quote and event log are the evidence's"
    )


def _first_difference(
    a: list[tuple[object, ...]] | None, b: list[tuple[object, ...]] | None
) -> str:
    if a is None or b is None:
        return "event log not parseable"
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at event {i}"
    return f"{len(a)} vs {len(b)} events"


def check_report_data(chain: PemChain, report_data: bytes) -> Finding:
    """``report_data_binding``: the quote was made for this certificate's key."""
    expected = ratls_report_data(chain.leaf)
    if report_data != expected:
        return Finding.failed(
            "report_data_binding",
            "quote report_data is not SHA512('ratls-cert:' || leaf public key)",
            expected=expected.hex(),
            actual=report_data.hex(),
        )
    return Finding.passed(
        "report_data_binding", "the quote binds the leaf certificate's key", actual="ratls-cert"
    )


def leaf_app_id(chain: PemChain | None, api_leaf: Certificate | None) -> str | None:
    """The app id the leaf certificate claims: the PEM extension, else the API's field."""
    if chain is not None:
        try:
            value = dstack_extension(chain.leaf, OID_APP_ID)
        except ValueError:
            value = None
        if value is not None:
            return value.hex()
    if api_leaf is not None and api_leaf.app_id is not None:
        return api_leaf.app_id.lower().removeprefix("0x")
    return None


def check_kms_root(chain: PemChain, key_provider: dict[str, str] | None) -> Finding:
    """``kms_root_binding``: the chain's root is the KMS that RTMR3 says provided the keys."""
    if key_provider is None:
        return Finding.skipped("kms_root_binding", "no key-provider event")
    if key_provider.get("name") != "kms":
        return Finding.skipped(
            "kms_root_binding", f"key provider is {key_provider.get('name')!r}, not a KMS"
        )
    root = spki_der(chain.certificates[-1]).hex()
    measured = key_provider.get("id", "").lower()
    if root != measured:
        return Finding.failed(
            "kms_root_binding",
            "the chain's root CA key is not the measured key provider's",
            expected=measured,
            actual=root,
        )
    return Finding.passed(
        "kms_root_binding", "the chain's root CA is the measured KMS", actual=root[-16:]
    )
