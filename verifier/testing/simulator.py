"""A dstack CVM simulator: event log, RTMR replay, quote, RA-TLS chain and the API's JSON.

TEST ONLY. :func:`simulate` boots a pretend dstack CVM on the forged platform of
:mod:`verifier.testing.forge`:

1. firmware events extend RTMR0-2 with their digests; dstack's runtime events extend RTMR3
   (``system-preparing``, ``app-id``, ``compose-hash``, ``instance-id``, ``boot-mr-done``,
   ``os-image-hash``, ``key-provider``, ``storage-fs``, ``system-ready``, then the app's events),
   with V1 or V2 digests (ATTESTATION-FACTS §4);
2. the RA-TLS leaf key is chosen first, so that the quote's report_data can bind it
   (``SHA512("ratls-cert:" || SPKI DER)``) and MRCONFIGID the compose (``01 || hash || 0…``);
3. the quote is forged over those registers, then the leaf certificate is issued by the App CA
   (itself issued by the self-signed KMS CA) carrying the quote, the event log, the app id and its
   usage in the dstack extensions ``1.3.6.1.4.1.62397.1.1-4``;
4. the Phala Cloud ``CvmAttestation`` and the dstack ``GetQuote`` JSON are rendered from the real
   certificates and log.

Every :class:`Defects` knob makes the evidence wrong in exactly one way; everything else stays
authentic, so a verifier must name that one defect. The digests and the replay are computed here
independently of :mod:`verifier.eventlog` so that the two implementations check each other.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import der
from .forge import (
    CollateralOptions,
    ForgedCollateral,
    ForgedPki,
    PkiOptions,
    QeOptions,
    TdReport,
    Validity,
    derive_bytes,
    derive_key,
    derive_serial,
    forge_pki,
    pem,
    rfc3339,
    sign_certificate,
    spki_der,
    utc,
)

RUNTIME_EVENT_TYPE = 0x08000001
OID_QUOTE = "1.3.6.1.4.1.62397.1.1"
OID_EVENT_LOG = "1.3.6.1.4.1.62397.1.2"
OID_APP_ID = "1.3.6.1.4.1.62397.1.3"
OID_USAGE = "1.3.6.1.4.1.62397.1.4"
RATLS_TAG = b"ratls-cert:"
#: dstack issues RA-TLS certificates from 1975 (a TD has no trusted clock) to a far end.
RATLS_VALIDITY = Validity(utc(1975), utc(2035, 6, 1))


# --- event digests (dstack cc-eventlog), written independently of verifier.eventlog ----------


def runtime_preimage(name: str, payload: bytes, version: int = 1) -> bytes:
    """What a dstack runtime event's digest hashes: V1 ``le32(type):name:payload``; V2 the
    canonical JSON ``{"name","payload"(lowercase hex),"type"}`` with sorted keys, no spaces."""
    if version == 2:
        name_json = json.dumps(name, ensure_ascii=False)
        text = f'{{"name":{name_json},"payload":"{payload.hex()}","type":{RUNTIME_EVENT_TYPE}}}'
        return text.encode("utf-8")
    return b"%s:%s:%s" % (RUNTIME_EVENT_TYPE.to_bytes(4, "little"), name.encode("utf-8"), payload)


def runtime_digest(name: str, payload: bytes, version: int = 1) -> bytes:
    return hashlib.sha384(runtime_preimage(name, payload, version)).digest()


def extend(register: bytes, digest: bytes) -> bytes:
    """TDX RTMR extend: ``SHA384(register || digest)``."""
    return hashlib.sha384(register + digest).digest()


@dataclass(frozen=True)
class LogEvent:
    """One event as it appears in the log (``version``/``preimage`` only written when set)."""

    imr: int
    event_type: int
    digest: bytes
    name: str
    payload: bytes
    version: int | None = None
    preimage: bytes | None = None

    @property
    def is_runtime(self) -> bool:
        return self.event_type == RUNTIME_EVENT_TYPE

    def to_json(self) -> dict[str, object]:
        """The event as dstack serialises it: imr, event_type, digest, event, event_payload."""
        entry: dict[str, object] = {
            "imr": self.imr,
            "event_type": self.event_type,
            "digest": self.digest.hex(),
            "event": self.name,
            "event_payload": self.payload.hex(),
        }
        if self.version is not None:
            entry["version"] = self.version
        if self.preimage is not None:
            entry["preimage"] = self.preimage.hex()
        return entry

    def replay_digest(self) -> bytes:
        """What this event contributes to its RTMR: runtime digests are recomputed, never read."""
        if self.is_runtime:
            return runtime_digest(self.name, self.payload, self.version or 1)
        return self.digest


def runtime_event(
    name: str, payload: bytes, version: int = 1, *, include_preimage: bool = False
) -> LogEvent:
    """A dstack runtime event (RTMR3) with its correct digest."""
    return LogEvent(
        imr=3,
        event_type=RUNTIME_EVENT_TYPE,
        digest=runtime_digest(name, payload, version),
        name=name,
        payload=payload,
        version=2 if version == 2 else None,
        preimage=runtime_preimage(name, payload, version) if include_preimage else None,
    )


def replay(events: tuple[LogEvent, ...]) -> tuple[bytes, bytes, bytes, bytes]:
    """RTMR0-3 from zero, extending each event's replay digest in log order."""
    registers = [bytes(48)] * 4
    for event in events:
        registers[event.imr] = extend(registers[event.imr], event.replay_digest())
    return registers[0], registers[1], registers[2], registers[3]


@dataclass(frozen=True)
class FirmwareEvent:
    """A boot event of RTMR0-2: its digest is what the firmware measured (payloads are labels)."""

    imr: int
    event_type: int
    payload: bytes
    digest: bytes

    def to_log(self) -> LogEvent:
        return LogEvent(self.imr, self.event_type, self.digest, "", self.payload)


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def default_firmware_events(os_image_hash: bytes) -> tuple[FirmwareEvent, ...]:
    """A TDVF + Linux boot shaped like dstack's (same types and order), digests from the OS image.

    Events whose real digest is the hash of their payload (separators, EFI actions) get exactly
    that; the others get a digest derived from ``os_image_hash`` and a label, so the same OS image
    gives the same RTMR0-2.
    """

    def measured(imr: int, event_type: int, payload: bytes, label: str) -> FirmwareEvent:
        return FirmwareEvent(imr, event_type, payload, derive_bytes(os_image_hash, label, 48))

    def hashed(imr: int, event_type: int, payload: bytes) -> FirmwareEvent:
        return FirmwareEvent(imr, event_type, payload, hashlib.sha384(payload).digest())

    separator = bytes(4)
    return (
        measured(0, 0x8000000B, b"\x09TdxTable\x00", "td-hob"),
        measured(0, 0x8000000A, b")Fv(XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX)\x00", "tdvf"),
        measured(0, 0x80000001, _utf16("SecureBoot"), "var-secureboot"),
        measured(0, 0x80000001, _utf16("PK"), "var-pk"),
        measured(0, 0x80000001, _utf16("KEK"), "var-kek"),
        measured(0, 0x80000001, _utf16("db"), "var-db"),
        measured(0, 0x80000001, _utf16("dbx"), "var-dbx"),
        hashed(0, 0x00000004, separator),
        measured(0, 0x0000000A, b"ACPI DATA", "acpi-loader"),
        measured(0, 0x0000000A, b"ACPI DATA", "acpi-rsdp"),
        measured(0, 0x0000000A, b"ACPI DATA", "acpi-tables"),
        measured(1, 0x80000003, _utf16("kernel"), "kernel"),
        measured(0, 0x80000002, _utf16("BootOrder"), "var-bootorder"),
        measured(0, 0x80000002, _utf16("Boot0000"), "var-boot0000"),
        hashed(1, 0x80000007, b"Calling EFI Application from Boot Option"),
        hashed(1, 0x00000004, separator),
        measured(2, 0x00000006, b"LOADED_IMAGE::LoadOptions\x00", "kernel-cmdline"),
        measured(2, 0x00000006, b"Linux initrd\x00", "initrd"),
        hashed(1, 0x80000007, b"Exit Boot Services Invocation"),
        hashed(1, 0x80000007, b"Exit Boot Services Returned with Success"),
    )


def demo_compose(
    name: str = "cvm-verifier-demo",
    image_tag: str = "1.27-alpine",
    *,
    event_log_version: int | None = None,
) -> bytes:
    """An app-compose.json as dstack hashes it: exact bytes, 4-space JSON, no final newline.

    ``event_log_version=2`` adds the compose setting that makes dstack write V2 event digests.
    """
    image_digest = hashlib.sha256(f"cvm-verifier demo image nginx:{image_tag}".encode()).hexdigest()
    docker_compose = (
        "services:\n"
        "  web:\n"
        f"    image: nginx:{image_tag}@sha256:{image_digest}\n"
        "    ports:\n"
        '      - "8080:80"\n'
        "    restart: unless-stopped\n"
    )
    document = {
        "manifest_version": 2,
        "name": name,
        "runner": "docker-compose",
        "docker_compose_file": docker_compose,
        "kms_enabled": True,
        "gateway_enabled": True,
        "local_key_provider_enabled": False,
        "key_provider_id": "",
        "public_logs": False,
        "public_sysinfo": True,
        "allowed_envs": [],
        "no_instance_id": False,
        "secure_time": False,
    }
    if event_log_version is not None:
        document["event_log_version"] = event_log_version
    return json.dumps(document, indent=4).encode("utf-8")


@dataclass(frozen=True)
class Defects:
    """One knob per defect; each changes exactly one thing about otherwise authentic evidence."""

    #: TD_ATTRIBUTES.DEBUG set in the quote
    debug_td: bool = False
    #: the log's os-image-hash payload (digest recomputed) is not the one RTMR3 measured
    rtmr3_lie: bool = False
    #: the compose text the API shows (app_compose, compose_file) instead of the measured one
    compose_lie: bytes | None = None
    #: one V2 event's ``preimage`` names another payload (needs event_log_version 2 + preimages)
    v2_preimage_mismatch: bool = False
    #: a second, different compose-hash right after the first (both measured)
    duplicate_identity_event: bool = False
    #: an app event named compose-hash after system-ready (measured), claiming another compose
    identity_after_ready: bool = False
    #: the quote's report_data binds another key than the leaf certificate's
    report_data_unbound: bool = False
    #: the leaf is signed by another "Dstack App CA" (same name, other key)
    foreign_app_ca: bool = False
    #: tcb_info.mrtd claims another MRTD than the quote's
    tcb_info_claims_mismatch: bool = False


@dataclass(frozen=True)
class CvmOptions:
    """What CVM to simulate. ``None`` values are derived from ``seed``."""

    seed: bytes | str = b"cvm-verifier demo cvm"
    name: str = "cvm-verifier-demo"
    #: exact bytes of app-compose.json (what compose-hash measures)
    compose: bytes = field(default_factory=demo_compose)
    #: None: compose_hash[:20] (dstack's default when no on-chain app id is set)
    app_id: bytes | None = None
    instance_id: bytes | None = None
    os_image_hash: bytes | None = None
    storage_fs: str = "ext4"
    #: None: derived from the OS image hash (the firmware and VM shape)
    mr_td: bytes | None = None
    #: None: :func:`default_firmware_events`
    firmware_events: tuple[FirmwareEvent, ...] | None = None
    #: runtime events the app emits after system-ready: (name, payload)
    app_events: tuple[tuple[str, bytes], ...] = ()
    #: 1: V1 digests; 2: V2 (canonical JSON) digests and ``version: 2`` on runtime events
    event_log_version: int = 1
    #: write each V2 event's digest preimage into the log (``preimage``)
    include_preimage: bool = False
    #: the TD report's other fields (td_attributes, xfam, mr_seam, tee_tcb_svn, mr_owner, ...);
    #: mr_td, rtmr, mr_config_id and report_data are set by the simulation
    td_report: TdReport = field(default_factory=TdReport)
    leaf_common_name: str = "demo-cert"
    pki: PkiOptions = field(default_factory=PkiOptions)
    collateral: CollateralOptions = field(default_factory=CollateralOptions)
    qe: QeOptions = field(default_factory=QeOptions)
    defects: Defects = field(default_factory=Defects)


def _dstack_name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dstack"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


KMS_CA_NAME = _dstack_name("Dstack KMS CA")
APP_CA_NAME = _dstack_name("Dstack App CA")


def _dstack_extension(oid: str, value: bytes) -> x509.UnrecognizedExtension:
    # dstack wraps each raw value in a DER OCTET STRING
    return x509.UnrecognizedExtension(x509.ObjectIdentifier(oid), der.octet_string(value))


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_certificate(
    *,
    subject: x509.Name,
    issuer: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer_key: ec.EllipticCurvePrivateKey,
    serial: int,
    path_length: int,
    extra: tuple[x509.ExtensionType, ...] = (),
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(RATLS_VALIDITY.start)
        .not_valid_after(RATLS_VALIDITY.end)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
    )
    for extension in extra:
        builder = builder.add_extension(extension, critical=False)
    return sign_certificate(builder, issuer_key)


def _extension_bytes(cert: x509.Certificate, oid: str) -> bytes | None:
    try:
        value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    except x509.ExtensionNotFound:
        return None
    assert isinstance(value, x509.UnrecognizedExtension)
    return der.read_octet_string(value.value)


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def describe_certificate(cert: x509.Certificate, position: int) -> dict[str, object]:
    """A certificate as Phala Cloud's API renders it (a ``Certificate`` of ``CvmAttestation``)."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        sans: list[str] | None = [str(v) for v in san.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        sans = None
    quote = _extension_bytes(cert, OID_QUOTE)
    app_id = _extension_bytes(cert, OID_APP_ID)
    usage = _extension_bytes(cert, OID_USAGE)
    return {
        "subject": {
            "common_name": _attribute(cert.subject, NameOID.COMMON_NAME),
            "organization": _attribute(cert.subject, NameOID.ORGANIZATION_NAME),
            "country": _attribute(cert.subject, NameOID.COUNTRY_NAME),
            "state": _attribute(cert.subject, NameOID.STATE_OR_PROVINCE_NAME),
            "locality": _attribute(cert.subject, NameOID.LOCALITY_NAME),
        },
        "issuer": {
            "common_name": _attribute(cert.issuer, NameOID.COMMON_NAME),
            "organization": _attribute(cert.issuer, NameOID.ORGANIZATION_NAME),
            "country": _attribute(cert.issuer, NameOID.COUNTRY_NAME),
        },
        "serial_number": format(cert.serial_number, "x"),
        "not_before": rfc3339(cert.not_valid_before_utc),
        "not_after": rfc3339(cert.not_valid_after_utc),
        "version": cert.version.name,
        "fingerprint": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        "signature_algorithm": cert.signature_algorithm_oid._name,
        "sans": sans,
        "is_ca": is_ca,
        "position_in_chain": position,
        "quote": quote.hex() if quote is not None else None,
        "app_id": app_id.hex() if app_id is not None else None,
        "cert_usage": usage.decode("utf-8") if usage is not None else None,
    }


def _pretty(document: object) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _compact(document: object) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class SimulatedCvm:
    """Everything a simulated CVM hands out, and what it really measured."""

    options: CvmOptions
    pki: ForgedPki
    collateral: ForgedCollateral
    td_report: TdReport
    quote: bytes
    #: the events extended into the RTMRs (the truth)
    measured_events: tuple[LogEvent, ...]
    #: the events the log reports (differs from the truth only under a log defect)
    event_log: tuple[LogEvent, ...]
    compose_hash: bytes
    app_id: bytes
    instance_id: bytes
    os_image_hash: bytes
    key_provider: bytes
    #: the compose text the API shows
    shown_compose: bytes
    kms_key: ec.EllipticCurvePrivateKey
    app_ca_key: ec.EllipticCurvePrivateKey
    leaf_key: ec.EllipticCurvePrivateKey
    kms_ca: x509.Certificate
    app_ca: x509.Certificate
    leaf: x509.Certificate

    @property
    def chain(self) -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
        return (self.leaf, self.app_ca, self.kms_ca)

    def chain_pem(self) -> str:
        """The RA-TLS chain, leaf first, as PEM."""
        return pem(*self.chain)

    def event_log_json(self) -> list[dict[str, object]]:
        return [event.to_json() for event in self.event_log]

    def tcb_info_claims(self) -> dict[str, str]:
        """The API's mrtd/rtmr claims: the quote's registers, unless a defect says otherwise."""
        report = self.td_report
        mrtd = report.mr_td
        if self.options.defects.tcb_info_claims_mismatch:
            mrtd = derive_bytes(self.options.seed, "claimed-mrtd", 48)
        claims = {"mrtd": mrtd.hex()}
        for index in range(4):
            claims[f"rtmr{index}"] = report.rtmr[index].hex()
        return claims

    def cvm_attestation(self) -> dict[str, object]:
        """The Phala Cloud ``CvmAttestation`` (``GET /api/v1/cvms/{id}/attestation``)."""
        claims = self.tcb_info_claims()
        compose = self.shown_compose.decode("utf-8")
        return {
            "is_online": True,
            "is_public": True,
            "error": None,
            "name": self.options.name,
            "app_certificates": [
                describe_certificate(cert, position) for position, cert in enumerate(self.chain)
            ],
            "tcb_info": {
                "mrtd": claims["mrtd"],
                "rootfs_hash": None,
                "rtmr0": claims["rtmr0"],
                "rtmr1": claims["rtmr1"],
                "rtmr2": claims["rtmr2"],
                "rtmr3": claims["rtmr3"],
                "event_log": self.event_log_json(),
                "app_compose": compose,
            },
            "compose_file": compose,
        }

    def cvm_attestation_json(self) -> str:
        return _pretty(self.cvm_attestation())

    def vm_config(self) -> str:
        """The guest agent's vm_config string (a claim, unsigned)."""
        return json.dumps(
            {
                "spec_version": 1,
                "os_image_hash": self.os_image_hash.hex(),
                "cpu_count": 2,
                "memory_size": 2 * 1024**3,
            }
        )

    def getquote(self) -> dict[str, object]:
        """The dstack guest agent's ``GetQuote`` response for the same quote and log."""
        return {
            "quote": self.quote.hex(),
            "event_log": _compact(self.event_log_json()),
            "report_data": self.td_report.report_data.hex(),
            "vm_config": self.vm_config(),
        }

    def getquote_json(self) -> str:
        return _pretty(self.getquote())


def ratls_report_data(key: ec.EllipticCurvePrivateKey) -> bytes:
    """The report_data of a dstack RA-TLS quote for this certificate key."""
    return hashlib.sha512(RATLS_TAG + spki_der(key)).digest()


def _runtime_log(
    options: CvmOptions,
    *,
    app_id: bytes,
    compose_hash: bytes,
    instance_id: bytes,
    os_image_hash: bytes,
    key_provider: bytes,
) -> tuple[tuple[LogEvent, ...], tuple[LogEvent, ...]]:
    """The measured RTMR3 events and the ones the log reports."""
    version = options.event_log_version
    if version not in (1, 2):
        raise ValueError("event_log_version must be 1 or 2")
    defects = options.defects
    if defects.v2_preimage_mismatch and not (version == 2 and options.include_preimage):
        raise ValueError("v2_preimage_mismatch needs event_log_version=2 and include_preimage")
    preimages = options.include_preimage and version == 2

    def event(name: str, payload: bytes) -> LogEvent:
        return runtime_event(name, payload, version, include_preimage=preimages)

    other_compose = derive_bytes(options.seed, "other-compose-hash", 32)
    boot = [
        event("system-preparing", b""),
        event("app-id", app_id),
        event("compose-hash", compose_hash),
    ]
    if defects.duplicate_identity_event:
        boot.append(event("compose-hash", other_compose))
    boot += [
        event("instance-id", instance_id),
        event("boot-mr-done", b""),
        event("os-image-hash", os_image_hash),
        event("key-provider", key_provider),
        event("storage-fs", options.storage_fs.encode("utf-8")),
        event("system-ready", b""),
    ]
    if defects.identity_after_ready:
        boot.append(event("compose-hash", other_compose))
    boot += [event(name, payload) for name, payload in options.app_events]
    measured = tuple(boot)

    reported = list(measured)
    if defects.rtmr3_lie:
        index = next(i for i, e in enumerate(reported) if e.name == "os-image-hash")
        reported[index] = event("os-image-hash", derive_bytes(options.seed, "claimed-os", 32))
    if defects.v2_preimage_mismatch:
        index = next(i for i, e in enumerate(reported) if e.name == "compose-hash")
        reported[index] = replace(
            reported[index], preimage=runtime_preimage("compose-hash", other_compose, 2)
        )
    return measured, tuple(reported)


def simulate(options: CvmOptions | None = None) -> SimulatedCvm:
    """Boot the CVM of ``options`` on its forged platform and return all it hands out."""
    opts = options or CvmOptions()
    seed = opts.seed
    defects = opts.defects
    pki = forge_pki(opts.pki)
    collateral = pki.collateral(opts.collateral)

    # The RA-TLS keys first: the quote must bind the leaf key, and RTMR3 the KMS root key.
    kms_key = derive_key(seed, "kms-root-ca")
    app_ca_key = derive_key(seed, "app-ca")
    leaf_key = derive_key(seed, "ratls-leaf")

    compose_hash = hashlib.sha256(opts.compose).digest()
    app_id = opts.app_id if opts.app_id is not None else compose_hash[:20]
    instance_id = opts.instance_id or derive_bytes(seed, "instance-id", 20)
    os_image_hash = opts.os_image_hash or derive_bytes(seed, "os-image-hash", 32)
    key_provider = _compact({"name": "kms", "id": spki_der(kms_key).hex()}).encode("utf-8")

    firmware = opts.firmware_events
    if firmware is None:
        firmware = default_firmware_events(os_image_hash)
    measured_rt, reported_rt = _runtime_log(
        opts,
        app_id=app_id,
        compose_hash=compose_hash,
        instance_id=instance_id,
        os_image_hash=os_image_hash,
        key_provider=key_provider,
    )
    boot_log = tuple(event.to_log() for event in firmware)
    measured = boot_log + measured_rt
    reported = boot_log + reported_rt

    # The quote over what was really measured.
    td_attributes = opts.td_report.td_attributes
    if defects.debug_td:
        td_attributes = bytes([td_attributes[0] | 0x01]) + td_attributes[1:]
    report_data = ratls_report_data(leaf_key)
    if defects.report_data_unbound:
        report_data = ratls_report_data(derive_key(seed, "unbound-key"))
    td_report = replace(
        opts.td_report,
        td_attributes=td_attributes,
        mr_td=opts.mr_td or derive_bytes(os_image_hash, "mrtd", 48),
        rtmr=replay(measured),
        mr_config_id=b"\x01" + compose_hash + bytes(15),
        report_data=report_data,
    )
    quote = pki.quote(td_report, opts.qe)

    # The RA-TLS chain: KMS CA (self-signed) -> App CA -> leaf carrying quote and event log.
    kms_ca = _ca_certificate(
        subject=KMS_CA_NAME,
        issuer=KMS_CA_NAME,
        key=kms_key,
        issuer_key=kms_key,
        serial=derive_serial(seed, "kms-ca"),
        path_length=1,
    )
    app_ca = _ca_certificate(
        subject=APP_CA_NAME,
        issuer=KMS_CA_NAME,
        key=app_ca_key,
        issuer_key=kms_key,
        serial=derive_serial(seed, "app-ca"),
        path_length=0,
        extra=(_dstack_extension(OID_APP_ID, app_id), _dstack_extension(OID_USAGE, b"app:ca")),
    )
    leaf_signer = derive_key(seed, "foreign-app-ca") if defects.foreign_app_ca else app_ca_key
    event_log_text = _compact([event.to_json() for event in reported])
    leaf = sign_certificate(
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, opts.leaf_common_name)]))
        .issuer_name(APP_CA_NAME)
        .public_key(leaf_key.public_key())
        .serial_number(derive_serial(seed, "ratls-leaf"))
        .not_valid_before(RATLS_VALIDITY.start)
        .not_valid_after(RATLS_VALIDITY.end)
        .add_extension(_usage(ca=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(_dstack_extension(OID_QUOTE, quote), critical=False)
        .add_extension(_dstack_extension(OID_EVENT_LOG, event_log_text.encode()), critical=False)
        .add_extension(_dstack_extension(OID_APP_ID, app_id), critical=False)
        .add_extension(_dstack_extension(OID_USAGE, b"app:custom"), critical=False),
        leaf_signer,
    )
    return SimulatedCvm(
        options=opts,
        pki=pki,
        collateral=collateral,
        td_report=td_report,
        quote=quote,
        measured_events=measured,
        event_log=reported,
        compose_hash=compose_hash,
        app_id=app_id,
        instance_id=instance_id,
        os_image_hash=os_image_hash,
        key_provider=key_provider,
        shown_compose=defects.compose_lie if defects.compose_lie is not None else opts.compose,
        kms_key=kms_key,
        app_ca_key=app_ca_key,
        leaf_key=leaf_key,
        kms_ca=kms_ca,
        app_ca=app_ca,
        leaf=leaf,
    )


__all__ = [
    "RATLS_VALIDITY",
    "RUNTIME_EVENT_TYPE",
    "CvmOptions",
    "Defects",
    "FirmwareEvent",
    "LogEvent",
    "SimulatedCvm",
    "default_firmware_events",
    "demo_compose",
    "describe_certificate",
    "ratls_report_data",
    "replay",
    "runtime_digest",
    "runtime_event",
    "runtime_preimage",
    "simulate",
]
