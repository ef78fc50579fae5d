"""Forge Intel TDX evidence under a test PKI: root CA, PCK chain, CRLs, collateral and v4 quotes.

TEST ONLY. Everything here is signed by a root CA made from a seed, never by Intel; dcap-qvl accepts
it only through ``verify_with_root_ca`` (the verifier's ``--trust-root``), and the verifier reports
such a root with a ``trust_root`` warning. What dcap-qvl 0.7 accepts was established by experiment
(``TEST-PKI-FACTS.md``): raw ``r||s`` ECDSA P-256 signatures, QE auth data of exactly 32 bytes, a
PCK CRL signed by the PCK CA, TD_ATTRIBUTES.SEPT_VE_DISABLE set, a PCK CA whose name says
"Platform".

Determinism: every key is derived from ``seed`` and a label (:func:`derive_key`); ECDSA signatures
of certificates, CRLs, the collateral and the quote use RFC 6979 deterministic nonces
(``cryptography``'s ``deterministic_signing`` / ``ecdsa_deterministic``); serials and times are
fixed. The same options therefore give the same bytes.

Typical use::

    pki = forge_pki(PkiOptions(seed=b"demo"))
    collateral = pki.collateral()
    quote = pki.quote(TdReport(mr_td=..., rtmr=(...), report_data=...))
    dcap_qvl.verify_with_root_ca(quote, collateral.to_dcap(), pki.root_der, now)
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property

import dcap_qvl
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from . import der

# --- determinism: keys, bytes and serials from a seed --------------------------------------------

#: Domain separation for everything derived from a seed (bump to change every forged byte).
_DOMAIN = b"cvm-verifier/testing/v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _seed_bytes(seed: bytes | str) -> bytes:
    return seed.encode("utf-8") if isinstance(seed, str) else bytes(seed)


def derive_bytes(seed: bytes | str, label: str, size: int) -> bytes:
    """``size`` pseudo-random bytes from ``seed`` and ``label`` (SHA-512 in counter mode)."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha512(
            _DOMAIN
            + b"\0"
            + _seed_bytes(seed)
            + b"\0"
            + label.encode()
            + counter.to_bytes(4, "big")
        ).digest()
        counter += 1
    return out[:size]


def derive_key(seed: bytes | str, label: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key whose scalar is a hash of ``seed`` and ``label``, in [1, n-1]."""
    scalar = int.from_bytes(derive_bytes(seed, f"key:{label}", 48), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def derive_serial(seed: bytes | str, label: str) -> int:
    """A positive 20-byte certificate serial whose first byte is 0x10-0x7f (stable hex width)."""
    raw = bytearray(derive_bytes(seed, f"serial:{label}", 20))
    raw[0] = 0x10 + raw[0] % 0x70
    return int.from_bytes(raw, "big")


# --- ECDSA as dcap-qvl wants it ----------------------------------------------------------------

_DETERMINISTIC_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """ECDSA P-256/SHA-256 over ``data`` as 64 raw bytes ``r || s`` (RFC 6979 nonce)."""
    r, s = decode_dss_signature(key.sign(data, _DETERMINISTIC_ECDSA))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_public_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The public key as 64 raw bytes ``X || Y`` (the quote's attestation key encoding)."""
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point[1:]


def spki_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    """SubjectPublicKeyInfo DER of the key's public half."""
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- times -------------------------------------------------------------------------------------


def utc(year: int, month: int = 1, day: int = 1, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Validity:
    """A validity window: certificate notBefore/notAfter, CRL thisUpdate/nextUpdate, or
    TCB info / QE identity issueDate/nextUpdate."""

    start: datetime
    end: datetime


#: The default window of every forged certificate, CRL and collateral item: ten years around
#: 2026-01-01, so that fixtures verified at a fixed time stay far from every edge.
WIDE = Validity(utc(2021), utc(2031))


# --- what the forged platform looks like -------------------------------------------------------

SGX_EXTENSION_OID = "1.2.840.113741.1.13.1"
QE_VENDOR_ID = bytes.fromhex("939a7233f79c4ca9940a0db3957f0607")
TDX_TEE_TYPE = 0x81
SEPT_VE_DISABLE = 1 << 28
TD_DEBUG = 1 << 0
#: The FMSPC of the forged platform family (not an Intel one).
TEST_FMSPC = bytes.fromhex("70a06f000000")

STATUS_UP_TO_DATE = "UpToDate"
STATUS_OUT_OF_DATE = "OutOfDate"
STATUS_REVOKED = "Revoked"


def _svns(*values: int) -> tuple[int, ...]:
    return (*values, *([0] * (16 - len(values))))


#: Platform TCB (CPUSVN components and PCESVN) of each default TCB level, newest first.
UP_TO_DATE_SGX = _svns(4, 4, 3, 3, 255, 255, 0, 3)
OUT_OF_DATE_SGX = _svns(3, 3, 2, 2, 255, 255, 0, 2)
REVOKED_SGX = _svns(2, 2, 1, 1, 255, 255, 0, 1)
TDX_SVNS = _svns(5, 1, 2)
#: Advisories of the OutOfDate level; obviously not real Intel advisories.
OUT_OF_DATE_ADVISORIES = ("INTEL-SA-99901", "INTEL-SA-99902")
REVOKED_ADVISORIES = ("INTEL-SA-99901", "INTEL-SA-99902", "INTEL-SA-99903")


@dataclass(frozen=True)
class PlatformTcb:
    """The platform TCB the PCK certificate certifies (dcap-qvl matches TCB levels on these)."""

    cpusvn: bytes = bytes(UP_TO_DATE_SGX)
    pcesvn: int = 13


UP_TO_DATE_TCB = PlatformTcb(bytes(UP_TO_DATE_SGX), 13)
OUT_OF_DATE_TCB = PlatformTcb(bytes(OUT_OF_DATE_SGX), 11)
REVOKED_TCB = PlatformTcb(bytes(REVOKED_SGX), 9)


@dataclass(frozen=True)
class PkiOptions:
    """The test PKI: who signs what, when it is valid, and what is revoked."""

    seed: bytes | str = b"cvm-verifier"
    root_validity: Validity = WIDE
    pck_ca_validity: Validity = WIDE
    tcb_signing_validity: Validity = WIDE
    pck_validity: Validity = WIDE
    #: thisUpdate/nextUpdate of both CRLs
    crl_validity: Validity = WIDE
    fmspc: bytes = TEST_FMSPC
    pce_id: bytes = b"\x00\x00"
    platform_tcb: PlatformTcb = UP_TO_DATE_TCB
    #: SGX type in the PCK certificate: 0 Standard, 1 Scalable
    sgx_type: int = 1
    #: the PCK configuration (dynamicPlatform, cachedKeys, SMTEnabled); ``None`` omits it.
    #: All off by default, so that dcap-qvl's ``QuotePolicy.strict`` accepts the platform.
    platform_config: tuple[bool, bool, bool] | None = (False, False, False)
    #: list the PCK leaf's serial in the PCK CRL
    pck_revoked: bool = False
    #: certificates the root CA CRL revokes: "pck_ca", "tcb_signing"
    root_crl_revokes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TcbLevel:
    """One ``tcbLevels`` entry of the TDX TCB info."""

    sgx_svns: tuple[int, ...]
    pcesvn: int
    tdx_svns: tuple[int, ...]
    status: str
    date: datetime
    advisory_ids: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        level: dict[str, object] = {
            "tcb": {
                "sgxtcbcomponents": [{"svn": svn} for svn in self.sgx_svns],
                "pcesvn": self.pcesvn,
                "tdxtcbcomponents": [{"svn": svn} for svn in self.tdx_svns],
            },
            "tcbDate": rfc3339(self.date),
            "tcbStatus": self.status,
        }
        if self.advisory_ids:
            level["advisoryIDs"] = list(self.advisory_ids)
        return level


DEFAULT_TCB_LEVELS = (
    TcbLevel(UP_TO_DATE_SGX, 13, TDX_SVNS, STATUS_UP_TO_DATE, utc(2024, 11, 13)),
    TcbLevel(
        OUT_OF_DATE_SGX, 11, TDX_SVNS, STATUS_OUT_OF_DATE, utc(2024, 3, 13), OUT_OF_DATE_ADVISORIES
    ),
    TcbLevel(REVOKED_SGX, 9, TDX_SVNS, STATUS_REVOKED, utc(2023, 8, 9), REVOKED_ADVISORIES),
)


@dataclass(frozen=True)
class IsvLevel:
    """A TCB level keyed by an ISV SVN (QE identity, TDX module identity)."""

    isvsvn: int
    status: str
    date: datetime

    def to_json(self) -> dict[str, object]:
        return {
            "tcb": {"isvsvn": self.isvsvn},
            "tcbDate": rfc3339(self.date),
            "tcbStatus": self.status,
        }


#: The quoting enclave of the forged platform.
QE_MRSIGNER = hashlib.sha256(b"cvm-verifier test quoting enclave signer").digest()
QE_MRENCLAVE = hashlib.sha256(b"cvm-verifier test quoting enclave").digest()
#: SGX attributes of the QE: INIT | MODE64BIT, no DEBUG (the identity's mask keeps DEBUG).
QE_ATTRIBUTES = bytes.fromhex("11000000000000000000000000000000")
QE_ATTRIBUTES_MASK = bytes.fromhex("fbffffffffffffff0000000000000000")
QE_ISVPRODID = 2
QE_ISVSVN = 4
#: The TDX module's identity (MRSIGNERSEAM zero: Intel's module).
TDX_MODULE_MRSIGNER = bytes(48)


@dataclass(frozen=True)
class CollateralOptions:
    """TCB info and QE identity: their validity, levels and what they pin."""

    tcb_info_validity: Validity = WIDE
    qe_identity_validity: Validity = WIDE
    tcb_levels: tuple[TcbLevel, ...] = DEFAULT_TCB_LEVELS
    #: TCB info's fmspc; ``None``: the PCK certificate's
    fmspc: bytes | None = None
    tcb_evaluation_data_number: int = 17
    #: levels of module identity ``TDX_01`` (tee_tcb_svn[1] = 1)
    module_levels: tuple[IsvLevel, ...] = (
        IsvLevel(5, STATUS_UP_TO_DATE, utc(2024, 11, 13)),
        IsvLevel(3, STATUS_OUT_OF_DATE, utc(2024, 3, 13)),
    )
    qe_levels: tuple[IsvLevel, ...] = (
        IsvLevel(QE_ISVSVN, STATUS_UP_TO_DATE, utc(2024, 11, 13)),
        IsvLevel(2, STATUS_OUT_OF_DATE, utc(2023, 8, 9)),
    )
    qe_mrsigner: bytes = QE_MRSIGNER
    qe_isvprodid: int = QE_ISVPRODID


def _check_size(name: str, value: bytes, size: int) -> None:
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")


@dataclass(frozen=True)
class TdReport:
    """The TD report body (TDREPORT v1.0, 584 bytes) a forged quote carries; every field chosen.

    Defaults: an Intel TDX module (MRSIGNERSEAM zero), SEPT_VE_DISABLE set and nothing else, the
    common XFAM ``e702060000000000``, all measurements zero.
    """

    tee_tcb_svn: bytes = bytes(TDX_SVNS)
    mr_seam: bytes = hashlib.sha384(b"cvm-verifier test TDX module").digest()
    mr_signer_seam: bytes = TDX_MODULE_MRSIGNER
    seam_attributes: bytes = bytes(8)
    td_attributes: bytes = SEPT_VE_DISABLE.to_bytes(8, "little")
    xfam: bytes = bytes.fromhex("e702060000000000")
    mr_td: bytes = bytes(48)
    mr_config_id: bytes = bytes(48)
    mr_owner: bytes = bytes(48)
    mr_owner_config: bytes = bytes(48)
    rtmr: tuple[bytes, bytes, bytes, bytes] = (bytes(48), bytes(48), bytes(48), bytes(48))
    report_data: bytes = bytes(64)

    def __post_init__(self) -> None:
        sizes = {
            "tee_tcb_svn": 16,
            "mr_seam": 48,
            "mr_signer_seam": 48,
            "seam_attributes": 8,
            "td_attributes": 8,
            "xfam": 8,
            "mr_td": 48,
            "mr_config_id": 48,
            "mr_owner": 48,
            "mr_owner_config": 48,
            "report_data": 64,
        }
        for name, size in sizes.items():
            _check_size(name, getattr(self, name), size)
        if len(self.rtmr) != 4:
            raise ValueError("rtmr must be four registers")
        for index, register in enumerate(self.rtmr):
            _check_size(f"rtmr{index}", register, 48)

    def to_bytes(self) -> bytes:
        return b"".join(
            (
                self.tee_tcb_svn,
                self.mr_seam,
                self.mr_signer_seam,
                self.seam_attributes,
                self.td_attributes,
                self.xfam,
                self.mr_td,
                self.mr_config_id,
                self.mr_owner,
                self.mr_owner_config,
                *self.rtmr,
                self.report_data,
            )
        )


@dataclass(frozen=True)
class QeOptions:
    """The quoting enclave's report (SGX REPORT body) inside the quote's signature data."""

    #: ``None``: the PCK certificate's CPUSVN
    cpusvn: bytes | None = None
    miscselect: int = 0
    attributes: bytes = QE_ATTRIBUTES
    mrenclave: bytes = QE_MRENCLAVE
    mrsigner: bytes = QE_MRSIGNER
    isvprodid: int = QE_ISVPRODID
    isvsvn: int = QE_ISVSVN
    #: QE authentication data; dcap-qvl 0.7 accepts exactly 32 bytes
    auth_data: bytes = bytes(range(32))
    qe_svn: int = 0
    pce_svn: int = 0
    user_data: bytes = bytes(20)


# --- the collateral ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ForgedCollateral:
    """Collateral with the fields of dcap-qvl's ``QuoteCollateralV3``."""

    pck_crl_issuer_chain: str
    root_ca_crl: bytes
    pck_crl: bytes
    tcb_info_issuer_chain: str
    tcb_info: str
    tcb_info_signature: bytes
    qe_identity_issuer_chain: str
    qe_identity: str
    qe_identity_signature: bytes

    def to_dcap(self) -> dcap_qvl.QuoteCollateralV3:
        return dcap_qvl.QuoteCollateralV3(
            pck_crl_issuer_chain=self.pck_crl_issuer_chain,
            root_ca_crl=self.root_ca_crl,
            pck_crl=self.pck_crl,
            tcb_info_issuer_chain=self.tcb_info_issuer_chain,
            tcb_info=self.tcb_info,
            tcb_info_signature=self.tcb_info_signature,
            qe_identity_issuer_chain=self.qe_identity_issuer_chain,
            qe_identity=self.qe_identity,
            qe_identity_signature=self.qe_identity_signature,
        )

    def to_json(self) -> str:
        """The JSON of ``QuoteCollateralV3.to_json()``: what collateral.json holds."""
        return self.to_dcap().to_json()


def _compact(document: object) -> str:
    return json.dumps(document, separators=(",", ":"))


# --- the PKI -----------------------------------------------------------------------------------

_ORG = "cvm-verifier test PKI (not Intel)"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORG),
        ]
    )


ROOT_NAME = _name("TEST ONLY cvm-verifier SGX Root CA")
PCK_CA_NAME = _name("TEST ONLY cvm-verifier SGX PCK Platform CA")
PCK_NAME = _name("TEST ONLY cvm-verifier SGX PCK Certificate")
TCB_SIGNING_NAME = _name("TEST ONLY cvm-verifier SGX TCB Signing")


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _signer_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def sign_certificate(
    builder: x509.CertificateBuilder, issuer_key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    """Sign with ECDSA P-256/SHA-256 and an RFC 6979 nonce: the same input, the same bytes."""
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def _certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    validity: Validity,
    ca_path_length: int | None,
    extra: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    is_ca = ca_path_length is not None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(validity.start)
        .not_valid_after(validity.end)
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=ca_path_length), critical=True)
        .add_extension(_ca_usage() if is_ca else _signer_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer_key is not key:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return sign_certificate(builder, issuer_key)


def sgx_extension(
    *,
    ppid: bytes,
    tcb: PlatformTcb,
    pce_id: bytes,
    fmspc: bytes,
    sgx_type: int,
    platform_instance_id: bytes,
    configuration: tuple[bool, bool, bool] | None = None,
) -> bytes:
    """DER of the PCK certificate's SGX extension (Intel PCK Certificate and CRL Profile §1.5)."""
    _check_size("ppid", ppid, 16)
    _check_size("cpusvn", tcb.cpusvn, 16)
    _check_size("pce_id", pce_id, 2)
    _check_size("fmspc", fmspc, 6)
    base = SGX_EXTENSION_OID

    def entry(suffix: str, value: bytes) -> bytes:
        return der.sequence([der.oid(f"{base}.{suffix}"), value])

    components = [entry(f"2.{i + 1}", der.integer(svn)) for i, svn in enumerate(tcb.cpusvn)]
    components.append(entry("2.17", der.integer(tcb.pcesvn)))
    components.append(entry("2.18", der.octet_string(tcb.cpusvn)))
    items = [
        entry("1", der.octet_string(ppid)),
        entry("2", der.sequence(components)),
        entry("3", der.octet_string(pce_id)),
        entry("4", der.octet_string(fmspc)),
        entry("5", der.enumerated(sgx_type)),
        entry("6", der.octet_string(platform_instance_id)),
    ]
    if configuration is not None:
        flags = [entry(f"7.{i}", der.boolean(f)) for i, f in enumerate(configuration, start=1)]
        items.append(entry("7", der.sequence(flags)))
    return der.sequence(items)


def _crl(
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    validity: Validity,
    revoked_serials: Sequence[int],
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer)
        .last_update(validity.start)
        .next_update(validity.end)
        .add_extension(x509.CRLNumber(1), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(validity.start)
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256(), ecdsa_deterministic=True)


def pem(*certificates: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode("ascii") for c in certificates)


@dataclass(frozen=True)
class ForgedPki:
    """A test root CA, PCK CA, PCK leaf, TCB-signing certificate and both CRLs (one platform)."""

    options: PkiOptions
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    pck_ca_key: ec.EllipticCurvePrivateKey
    pck_ca: x509.Certificate
    pck_key: ec.EllipticCurvePrivateKey
    pck: x509.Certificate
    tcb_signing_key: ec.EllipticCurvePrivateKey
    tcb_signing: x509.Certificate
    attestation_key: ec.EllipticCurvePrivateKey
    root_crl: x509.CertificateRevocationList
    pck_crl: x509.CertificateRevocationList
    ppid: bytes = field(repr=False)

    @cached_property
    def root_der(self) -> bytes:
        """The trust root (DER) to give ``verify_with_root_ca`` / ``--trust-root``."""
        return self.root.public_bytes(serialization.Encoding.DER)

    @property
    def pck_chain_pem(self) -> str:
        """The PCK chain a quote carries: leaf, PCK CA, root."""
        return pem(self.pck, self.pck_ca, self.root)

    def collateral(self, options: CollateralOptions | None = None) -> ForgedCollateral:
        """Signed TCB info and QE identity, both CRLs and their issuer chains."""
        opts = options or CollateralOptions()
        fmspc = opts.fmspc if opts.fmspc is not None else self.options.fmspc
        tcb_info = {
            "id": "TDX",
            "version": 3,
            "issueDate": rfc3339(opts.tcb_info_validity.start),
            "nextUpdate": rfc3339(opts.tcb_info_validity.end),
            "fmspc": fmspc.hex(),
            "pceId": self.options.pce_id.hex(),
            "tcbType": 0,
            "tcbEvaluationDataNumber": opts.tcb_evaluation_data_number,
            "tdxModule": {
                "mrsigner": TDX_MODULE_MRSIGNER.hex().upper(),
                "attributes": "0000000000000000",
                "attributesMask": "FFFFFFFFFFFFFFFF",
            },
            "tdxModuleIdentities": [
                {
                    "id": "TDX_01",
                    "mrsigner": TDX_MODULE_MRSIGNER.hex().upper(),
                    "attributes": "0000000000000000",
                    "attributesMask": "FFFFFFFFFFFFFFFF",
                    "tcbLevels": [level.to_json() for level in opts.module_levels],
                }
            ],
            "tcbLevels": [level.to_json() for level in opts.tcb_levels],
        }
        qe_identity = {
            "id": "TD_QE",
            "version": 2,
            "issueDate": rfc3339(opts.qe_identity_validity.start),
            "nextUpdate": rfc3339(opts.qe_identity_validity.end),
            "tcbEvaluationDataNumber": opts.tcb_evaluation_data_number,
            "miscselect": "00000000",
            "miscselectMask": "FFFFFFFF",
            "attributes": QE_ATTRIBUTES.hex().upper(),
            "attributesMask": QE_ATTRIBUTES_MASK.hex().upper(),
            "mrsigner": opts.qe_mrsigner.hex().upper(),
            "isvprodid": opts.qe_isvprodid,
            "tcbLevels": [level.to_json() for level in opts.qe_levels],
        }
        # Intel signs the exact UTF-8 text of the inner object; so do we.
        tcb_text, qe_text = _compact(tcb_info), _compact(qe_identity)
        signing_chain = pem(self.tcb_signing, self.root)
        return ForgedCollateral(
            pck_crl_issuer_chain=pem(self.pck_ca, self.root),
            root_ca_crl=self.root_crl.public_bytes(serialization.Encoding.DER),
            pck_crl=self.pck_crl.public_bytes(serialization.Encoding.DER),
            tcb_info_issuer_chain=signing_chain,
            tcb_info=tcb_text,
            tcb_info_signature=raw_signature(self.tcb_signing_key, tcb_text.encode()),
            qe_identity_issuer_chain=signing_chain,
            qe_identity=qe_text,
            qe_identity_signature=raw_signature(self.tcb_signing_key, qe_text.encode()),
        )

    def qe_report(self, attestation_public_key: bytes, qe: QeOptions) -> bytes:
        """The 384-byte SGX report of the QE; its report_data binds the attestation key."""
        cpusvn = qe.cpusvn if qe.cpusvn is not None else self.options.platform_tcb.cpusvn
        _check_size("qe cpusvn", cpusvn, 16)
        _check_size("qe attributes", qe.attributes, 16)
        _check_size("qe mrenclave", qe.mrenclave, 32)
        _check_size("qe mrsigner", qe.mrsigner, 32)
        bound = hashlib.sha256(attestation_public_key + qe.auth_data).digest()
        report = b"".join(
            (
                cpusvn,
                struct.pack("<I", qe.miscselect),
                bytes(28),
                qe.attributes,
                qe.mrenclave,
                bytes(32),
                qe.mrsigner,
                bytes(96),
                struct.pack("<HH", qe.isvprodid, qe.isvsvn),
                bytes(60),
                bound + bytes(32),
            )
        )
        assert len(report) == 384
        return report

    def quote(self, report: TdReport, qe: QeOptions | None = None) -> bytes:
        """A TDX v4 quote of ``report``, signed by the attestation key the QE report certifies."""
        qe = qe or QeOptions()
        _check_size("user_data", qe.user_data, 20)
        header = (
            struct.pack("<HHIHH", 4, 2, TDX_TEE_TYPE, qe.qe_svn, qe.pce_svn)
            + QE_VENDOR_ID
            + qe.user_data
        )
        signed = header + report.to_bytes()
        attestation_public = raw_public_key(self.attestation_key)
        qe_report = self.qe_report(attestation_public, qe)
        chain = self.pck_chain_pem.encode("ascii")
        certification = (
            qe_report
            + raw_signature(self.pck_key, qe_report)
            + struct.pack("<H", len(qe.auth_data))
            + qe.auth_data
            + struct.pack("<HI", 5, len(chain))
            + chain
        )
        signature_data = (
            raw_signature(self.attestation_key, signed)
            + attestation_public
            + struct.pack("<HI", 6, len(certification))
            + certification
        )
        return signed + struct.pack("<I", len(signature_data)) + signature_data


def forge_pki(options: PkiOptions | None = None) -> ForgedPki:
    """Build the test PKI of ``options`` (deterministic in ``options.seed``)."""
    opts = options or PkiOptions()
    seed = opts.seed
    root_key = derive_key(seed, "root-ca")
    pck_ca_key = derive_key(seed, "pck-platform-ca")
    pck_key = derive_key(seed, "pck-leaf")
    tcb_key = derive_key(seed, "tcb-signing")
    serials = {name: derive_serial(seed, name) for name in ("root", "pck_ca", "pck", "tcb_signing")}
    unknown = set(opts.root_crl_revokes) - {"pck_ca", "tcb_signing"}
    if unknown:
        raise ValueError(f"root_crl_revokes: unknown certificates {sorted(unknown)}")
    root = _certificate(
        subject=ROOT_NAME,
        issuer=ROOT_NAME,
        key=root_key,
        issuer_key=root_key,
        serial=serials["root"],
        validity=opts.root_validity,
        ca_path_length=1,
    )
    pck_ca = _certificate(
        subject=PCK_CA_NAME,
        issuer=ROOT_NAME,
        key=pck_ca_key,
        issuer_key=root_key,
        serial=serials["pck_ca"],
        validity=opts.pck_ca_validity,
        ca_path_length=0,
    )
    ppid = derive_bytes(seed, "ppid", 16)
    pck = _certificate(
        subject=PCK_NAME,
        issuer=PCK_CA_NAME,
        key=pck_key,
        issuer_key=pck_ca_key,
        serial=serials["pck"],
        validity=opts.pck_validity,
        ca_path_length=None,
        extra=[
            x509.UnrecognizedExtension(
                x509.ObjectIdentifier(SGX_EXTENSION_OID),
                sgx_extension(
                    ppid=ppid,
                    tcb=opts.platform_tcb,
                    pce_id=opts.pce_id,
                    fmspc=opts.fmspc,
                    sgx_type=opts.sgx_type,
                    platform_instance_id=derive_bytes(seed, "platform-instance-id", 16),
                    configuration=opts.platform_config,
                ),
            )
        ],
    )
    tcb_signing = _certificate(
        subject=TCB_SIGNING_NAME,
        issuer=ROOT_NAME,
        key=tcb_key,
        issuer_key=root_key,
        serial=serials["tcb_signing"],
        validity=opts.tcb_signing_validity,
        ca_path_length=None,
    )
    root_crl = _crl(
        ROOT_NAME, root_key, opts.crl_validity, [serials[n] for n in opts.root_crl_revokes]
    )
    pck_crl = _crl(
        PCK_CA_NAME, pck_ca_key, opts.crl_validity, [serials["pck"]] if opts.pck_revoked else []
    )
    return ForgedPki(
        options=opts,
        root_key=root_key,
        root=root,
        pck_ca_key=pck_ca_key,
        pck_ca=pck_ca,
        pck_key=pck_key,
        pck=pck,
        tcb_signing_key=tcb_key,
        tcb_signing=tcb_signing,
        attestation_key=derive_key(seed, "attestation-key"),
        root_crl=root_crl,
        pck_crl=pck_crl,
        ppid=ppid,
    )
