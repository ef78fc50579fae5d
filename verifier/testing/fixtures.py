"""The committed fixtures: a passing demo and one negative case per defect, all forged.

Each :class:`FixtureCase` is a simulated CVM (:mod:`verifier.testing.simulator`) plus what a
verifier must say about it, decided by design (the knob that was turned), not by running the
verifier. :func:`render` turns a case into the files of one folder, laid out like the shared real
corpus (``attestation.json``, ``chain.pem``, ``app-compose.json``, ``collateral.json``,
``expected.json``) plus ``trust-root.der``. The values in ``expected.json`` come from the forge
inputs, from the simulator's own replay and hashing, and from dcap-qvl itself.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime

import dcap_qvl
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from .forge import (
    OUT_OF_DATE_TCB,
    REVOKED_TCB,
    CollateralOptions,
    PkiOptions,
    Validity,
    rfc3339,
    spki_der,
    utc,
)
from .simulator import (
    CvmOptions,
    Defects,
    SimulatedCvm,
    demo_compose,
    ratls_report_data,
    replay,
    runtime_digest,
    runtime_preimage,
    simulate,
)

#: When every fixture is verified. The forged PKI, collateral and certificates are valid from
#: 2021-01-01 to 2031-01-01, so this is five years from either edge.
VERIFY_AT = utc(2026)
EVIDENCE_FORMAT = "phala-cvm-attestation"
#: Identity runtime events (dstack): each once, before system-ready.
IDENTITY_EVENTS = ("app-id", "compose-hash", "instance-id", "key-provider", "os-image-hash")
#: What the baseline policy always warns about forged evidence.
BASE_WARNINGS = ("policy", "trust_root")

_EXPIRED = Validity(utc(2025, 11, 1), utc(2025, 12, 1))


@dataclass(frozen=True)
class FixtureCase:
    """One fixture folder: how it is made and what the verifier must say."""

    name: str
    description: str
    options: CvmOptions
    verdict: str
    failed: tuple[str, ...] = ()
    extra_warnings: tuple[str, ...] = ()
    quote_status: str | None = "UpToDate"
    advisory_ids: tuple[str, ...] = ()
    #: the finding id of dcap-qvl's error (None: the quote verifies)
    quote_error_class: str | None = None
    notes: tuple[str, ...] = ()
    verify_at: datetime = VERIFY_AT
    derived_from: str | None = "demo"

    @property
    def folder(self) -> str:
        return "demo" if self.name == "demo" else f"cases/{self.name}"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(sorted({*BASE_WARNINGS, *self.extra_warnings}))


DEMO = CvmOptions()


def _with(defects: Defects) -> CvmOptions:
    return replace(DEMO, defects=defects)


FIXTURES: tuple[FixtureCase, ...] = (
    FixtureCase(
        name="demo",
        description="A dstack app CVM on the forged platform: UpToDate TCB, full event log, "
        "compose bound by compose-hash and MRCONFIGID, RA-TLS chain binding the quote.",
        options=DEMO,
        verdict="pass",
        derived_from=None,
        notes=("The only warnings are trust_root (forged test root) and policy (baseline).",),
    ),
    FixtureCase(
        name="debug-td",
        description="The TD is a debug TD: TD_ATTRIBUTES bit 0 set in the quote.",
        options=_with(Defects(debug_td=True)),
        verdict="fail",
        failed=("td_debug",),
        quote_status=None,
        quote_error_class="td_debug",
    ),
    FixtureCase(
        name="pck-revoked",
        description="The PCK certificate's serial is listed in the PCK CRL.",
        options=replace(DEMO, pki=PkiOptions(pck_revoked=True)),
        verdict="fail",
        failed=("pck_revoked",),
        quote_status=None,
        quote_error_class="pck_revoked",
    ),
    FixtureCase(
        name="tcb-outofdate",
        description="The PCK certificate's CPUSVN/PCESVN match only the OutOfDate TCB level, "
        "which carries advisories.",
        options=replace(DEMO, pki=PkiOptions(platform_tcb=OUT_OF_DATE_TCB)),
        verdict="pass",
        extra_warnings=("tcb_status",),
        quote_status="OutOfDate",
        advisory_ids=("INTEL-SA-99901", "INTEL-SA-99902"),
        notes=(
            "The baseline policy accepts every TCB status but Revoked: the verdict is pass with "
            "a tcb_status warning. A policy that requires UpToDate must reject it.",
        ),
    ),
    FixtureCase(
        name="tcb-revoked",
        description="The PCK certificate's TCB matches only the Revoked TCB level.",
        options=replace(DEMO, pki=PkiOptions(platform_tcb=REVOKED_TCB)),
        verdict="fail",
        failed=("tcb_status",),
        quote_status=None,
        quote_error_class="tcb_status",
    ),
    FixtureCase(
        name="collateral-expired",
        description="Both CRLs, the TCB info and the QE identity were valid only from "
        "2025-11-01 to 2025-12-01, a month before verify_at.",
        options=replace(
            DEMO,
            pki=PkiOptions(crl_validity=_EXPIRED),
            collateral=CollateralOptions(tcb_info_validity=_EXPIRED, qe_identity_validity=_EXPIRED),
        ),
        verdict="fail",
        failed=("collateral_expired",),
        quote_status=None,
        quote_error_class="collateral_expired",
    ),
    FixtureCase(
        name="pck-cert-expired",
        description="The PCK certificate expired on 2025-12-01, a month before verify_at.",
        options=replace(DEMO, pki=PkiOptions(pck_validity=Validity(utc(2021), utc(2025, 12)))),
        verdict="fail",
        failed=("pck_cert_expired",),
        quote_status=None,
        quote_error_class="pck_cert_expired",
    ),
    FixtureCase(
        name="rtmr3-lie",
        description="The event log claims another os-image-hash (with a correctly recomputed "
        "digest) than the one RTMR3 measured.",
        options=_with(Defects(rtmr3_lie=True)),
        verdict="fail",
        failed=("rtmr_replay",),
    ),
    FixtureCase(
        name="compose-hash-lie",
        description="The API shows another compose (nginx 1.28 instead of 1.27) than the one "
        "measured by the compose-hash event and MRCONFIGID.",
        options=_with(Defects(compose_lie=demo_compose(image_tag="1.28-alpine"))),
        verdict="fail",
        failed=("compose_hash",),
        notes=("app_compose, compose_file and app-compose.json all hold the shown compose.",),
    ),
    FixtureCase(
        name="v2-preimage-mismatch",
        description="A V2 event log (version 2, preimages included) whose compose-hash event "
        "carries a preimage naming another payload; its digest and payload are authentic.",
        options=replace(
            DEMO,
            compose=demo_compose(event_log_version=2),
            event_log_version=2,
            include_preimage=True,
            defects=Defects(v2_preimage_mismatch=True),
        ),
        verdict="fail",
        failed=("event_digest",),
        notes=("The compose enables V2 digests (event_log_version 2), so its hash differs.",),
    ),
    FixtureCase(
        name="duplicate-identity-event",
        description="A second compose-hash event, with another payload, right after the first; "
        "both are measured in RTMR3.",
        options=_with(Defects(duplicate_identity_event=True)),
        verdict="fail",
        failed=("duplicate_event",),
    ),
    FixtureCase(
        name="identity-after-ready",
        description="An app event named compose-hash, with another payload, after system-ready "
        "(measured in RTMR3).",
        options=_with(Defects(identity_after_ready=True)),
        verdict="fail",
        failed=("duplicate_event",),
        notes=(
            "The event after system-ready is the app's and never identity: report.app is the "
            "demo's, with the compose-hash measured before system-ready.",
        ),
    ),
    FixtureCase(
        name="report-data-unbound",
        description="The quote's report_data is SHA512('ratls-cert:' || SPKI) of another key, "
        "not of the leaf certificate's.",
        options=_with(Defects(report_data_unbound=True)),
        verdict="fail",
        failed=("report_data_binding",),
    ),
    FixtureCase(
        name="foreign-app-ca",
        description="The leaf is signed by another 'Dstack App CA' (same name, other key) than "
        "the App CA in the chain.",
        options=_with(Defects(foreign_app_ca=True)),
        verdict="fail",
        failed=("cert_signature",),
    ),
    FixtureCase(
        name="tcb-info-claims-mismatch",
        description="tcb_info.mrtd claims another MRTD than the quote's.",
        options=_with(Defects(tcb_info_claims_mismatch=True)),
        verdict="fail",
        failed=("tcb_info_mismatch",),
    ),
)


def fixture(name: str) -> FixtureCase:
    return next(case for case in FIXTURES if case.name == name)


# --- knobs, for humans -------------------------------------------------------------------------


def _describe_value(value: object) -> str:
    if isinstance(value, bytes):
        if len(value) > 24:
            return f"<{len(value)} bytes sha256:{hashlib.sha256(value).hexdigest()[:12]}>"
        return value.hex()
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, Validity):
        return f"{rfc3339(value.start)}..{rfc3339(value.end)}"
    return repr(value)


def knobs(options: object, default: object, prefix: str = "") -> list[str]:
    """The options that differ from the demo's, as ``path=value`` lines."""
    out: list[str] = []
    if not (is_dataclass(options) and is_dataclass(default)):
        return out
    for f in fields(options):
        value, base = getattr(options, f.name), getattr(default, f.name)
        if value == base:
            continue
        path = f"{prefix}{f.name}"
        if is_dataclass(value) and not isinstance(value, Validity) and is_dataclass(base):
            out += knobs(value, base, f"{path}.")
        else:
            out.append(f"{path}={_describe_value(value)}")
    return out


# --- rendering ---------------------------------------------------------------------------------


def _json(document: object) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _dcap_outcome(cvm: SimulatedCvm, at: datetime) -> tuple[str | None, list[str], str | None]:
    """What dcap-qvl itself says about the forged quote under the forged root."""
    try:
        verified = dcap_qvl.verify_with_root_ca(
            cvm.quote, cvm.collateral.to_dcap(), cvm.pki.root_der, int(at.timestamp())
        )
    except ValueError as exc:
        return None, [], str(exc).strip()
    return verified.status, sorted(verified.advisory_ids), None


def _identity(cvm: SimulatedCvm) -> dict[str, bytes]:
    """First occurrence of each identity event before system-ready, as the log reports it."""
    values: dict[str, bytes] = {}
    for event in cvm.event_log:
        if not event.is_runtime:
            continue
        if event.name == "system-ready":
            break
        if event.name in IDENTITY_EVENTS:
            values.setdefault(event.name, event.payload)
    return values


def _signatures_valid(chain: tuple[x509.Certificate, ...]) -> bool:
    for index, cert in enumerate(chain):
        issuer = chain[index + 1] if index + 1 < len(chain) else cert
        try:
            cert.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature):
            return False
    return True


def expected(case: FixtureCase, cvm: SimulatedCvm, files: list[str]) -> dict[str, object]:
    """expected.json: the forge's inputs and the outcome the case was designed to have."""
    at = case.verify_at
    status, advisories, error = _dcap_outcome(cvm, at)
    if (status, tuple(advisories)) != (case.quote_status, case.advisory_ids) or (error is None) != (
        case.quote_error_class is None
    ):
        raise RuntimeError(
            f"{case.name}: dcap-qvl says {status} {advisories} {error!r}, "
            f"the case expects {case.quote_status} {case.advisory_ids} {case.quote_error_class}"
        )
    report = cvm.td_report
    quote_regs = {
        "mrtd": report.mr_td.hex(),
        **{f"rtmr{i}": report.rtmr[i].hex() for i in range(4)},
    }
    replayed = replay(cvm.event_log)
    claims = cvm.tcb_info_claims()
    identity = _identity(cvm)
    compose_event = identity.get("compose-hash")
    compose_hash = hashlib.sha256(cvm.shown_compose).hexdigest()
    key_provider = identity.get("key-provider")
    invalid_digests = [
        {"index": i, "event": e.name, "digest": e.digest.hex(), "computed": computed.hex()}
        for i, e in enumerate(cvm.event_log)
        if e.is_runtime
        and e.digest
        and e.digest != (computed := runtime_digest(e.name, e.payload, e.version or 1))
    ]
    invalid_preimages = [
        {"index": i, "event": e.name}
        for i, e in enumerate(cvm.event_log)
        if e.is_runtime
        and e.preimage is not None
        and e.preimage != runtime_preimage(e.name, e.payload, e.version or 1)
    ]
    leaf_fingerprint = hashlib.sha256(cvm.leaf.public_bytes(serialization.Encoding.DER))
    tcb_info = json.loads(cvm.collateral.tcb_info)
    qe_identity = json.loads(cvm.collateral.qe_identity)
    pki = cvm.pki.options
    starts = [
        tcb_info["issueDate"],
        qe_identity["issueDate"],
        rfc3339(pki.crl_validity.start),
        rfc3339(pki.root_validity.start),
        rfc3339(pki.pck_ca_validity.start),
        rfc3339(pki.tcb_signing_validity.start),
    ]
    ends = [
        tcb_info["nextUpdate"],
        qe_identity["nextUpdate"],
        rfc3339(pki.crl_validity.end),
        rfc3339(pki.root_validity.end),
        rfc3339(pki.pck_ca_validity.end),
        rfc3339(pki.tcb_signing_validity.end),
    ]
    return {
        "case": case.name,
        "description": case.description,
        "derived_from": case.derived_from,
        "forged": True,
        "knobs": knobs(case.options, DEMO),
        "evidence_format": EVIDENCE_FORMAT,
        "files": files,
        "verify_at": rfc3339(at),
        "verify_at_unix": int(at.timestamp()),
        "trust_root": {
            "file": "trust-root.der",
            "subject": cvm.pki.root.subject.rfc4514_string(),
            "sha256": hashlib.sha256(cvm.pki.root_der).hexdigest(),
        },
        "collateral": {
            "fmspc": tcb_info["fmspc"],
            "tcb_info_issue_date": tcb_info["issueDate"],
            "tcb_info_next_update": tcb_info["nextUpdate"],
            "window_start": max(starts),
            "window_end": min(ends),
        },
        "pck_cert": {
            "not_before": rfc3339(pki.pck_validity.start),
            "not_after": rfc3339(pki.pck_validity.end),
            "revoked": pki.pck_revoked,
            "cpusvn": pki.platform_tcb.cpusvn.hex(),
            "pcesvn": pki.platform_tcb.pcesvn,
        },
        "fmspc": pki.fmspc.hex().upper(),
        "quote_status": status,
        "advisory_ids": advisories,
        "quote_error": error.splitlines()[0] if error else None,
        "quote_error_detail": error,
        "quote_error_class": case.quote_error_class,
        **quote_regs,
        "mr_config_id": report.mr_config_id.hex(),
        "report_data": report.report_data.hex(),
        "td_attributes": report.td_attributes.hex(),
        "td_debug": bool(report.td_attributes[0] & 1),
        "xfam": report.xfam.hex(),
        "mr_seam": report.mr_seam.hex(),
        "mr_signer_seam": report.mr_signer_seam.hex(),
        "tee_tcb_svn": report.tee_tcb_svn.hex(),
        "tcb_info_matches_quote": {k: claims[k] == v for k, v in quote_regs.items()},
        "scope": "cvm",
        "event_count": len(cvm.event_log),
        "event_log_version": cvm.options.event_log_version,
        "runtime_events": [e.name for e in cvm.event_log if e.is_runtime],
        "replayed": {f"rtmr{i}": replayed[i].hex() for i in range(4)},
        "replay_applicable": True,
        "replay_matches": {f"rtmr{i}": replayed[i] == report.rtmr[i] for i in range(4)},
        "invalid_event_digests": invalid_digests,
        "invalid_event_preimages": invalid_preimages,
        "compose_hash": compose_hash,
        "compose_hash_event": compose_event.hex() if compose_event is not None else None,
        "compose_hash_matches_event": (
            compose_event is not None and compose_event.hex() == compose_hash
        ),
        "compose_file_equals_app_compose": True,
        "mr_config_id_matches_compose_hash_event": (
            compose_event is not None and report.mr_config_id == b"\x01" + compose_event + bytes(15)
        ),
        "app_id": identity["app-id"].hex() if "app-id" in identity else None,
        "instance_id": identity["instance-id"].hex() if "instance-id" in identity else None,
        "key_provider": json.loads(key_provider) if key_provider is not None else None,
        "os_image_hash": (identity["os-image-hash"].hex() if "os-image-hash" in identity else None),
        "mr_kms": None,
        "rootfs_hash": None,
        "cert_chain": {
            "length": len(cvm.chain),
            "signatures_valid": _signatures_valid(cvm.chain),
            "leaf_fingerprint": leaf_fingerprint.hexdigest(),
            "leaf_app_id": cvm.app_id.hex(),
            "leaf_cert_usage": "app:custom",
            "root_is_key_provider": (
                key_provider is not None
                and json.loads(key_provider).get("id") == spki_der(cvm.kms_key).hex()
            ),
        },
        "report_data_binding": (
            "ratls-cert" if report.report_data == ratls_report_data(cvm.leaf_key) else None
        ),
        "failed_checks": list(case.failed),
        "warnings": list(case.warnings),
        "verdict": case.verdict,
        "reasons": list(case.failed),
        "reasons_optional": [],
        "notes": list(case.notes),
    }


def render(case: FixtureCase) -> dict[str, bytes]:
    """The files of one fixture folder, by name."""
    cvm = simulate(case.options)
    files = {
        "attestation.json": cvm.cvm_attestation_json().encode("utf-8"),
        "chain.pem": cvm.chain_pem().encode("ascii"),
        "app-compose.json": cvm.shown_compose,
        # exactly as dcap-qvl writes it, like the shared corpus
        "collateral.json": cvm.collateral.to_json().encode("utf-8"),
        "trust-root.der": cvm.pki.root_der,
    }
    files["expected.json"] = _json(expected(case, cvm, sorted(files)))
    return files


_README_HEAD = """\
# Forged fixtures (TEST ONLY: not real hardware)

Everything in this directory is **forged test evidence**, signed by a test root CA that
`verifier.testing.forge` derives from a seed. Nothing here comes from Intel, Phala or real
hardware: the quotes verify only under `trust-root.der` (`--trust-root`), and the verifier then
reports the non-Intel root (`quote.trust_root`, warning `trust_root`). Verified without
`--trust-root` (Intel's root), every quote here fails.

Generated by one deterministic command; do not edit by hand:

```sh
python -m verifier.testing.regen            # rewrite fixtures/ (this directory)
python -m verifier.testing.regen --check    # exit 1 if fixtures/ differs from a regeneration
```

Each folder has the layout of the shared real corpus (`../shared/fixtures/cases/<case>/`):
`attestation.json` (Phala Cloud `CvmAttestation`, with `tcb_info.app_compose`), `chain.pem`
(the RA-TLS chain, leaf first), `app-compose.json` (the exact compose bytes the API shows),
`collateral.json` (dcap-qvl `QuoteCollateralV3.to_json()`), `trust-root.der` (the test root CA,
the same in every folder) and `expected.json` (the forge inputs and what the verifier must say,
with the keys of the shared corpus's expected.json that apply, plus `trust_root`, `knobs`,
`pck_cert`, `invalid_event_preimages`).

All folders are verified at **{at}**. The test PKI, collateral and certificates are valid from
2021-01-01 to 2031-01-01 except where a case says otherwise. Every case is the demo with the
knobs listed below (and in `knobs` of its expected.json) turned, and is otherwise authentic, so
only the named defect shows. Under the baseline policy every report also warns `policy` and
`trust_root`.

Verify one:

```sh
cvm-verifier verify fixtures/demo/attestation.json --collateral fixtures/demo/collateral.json \\
    --chain fixtures/demo/chain.pem --trust-root fixtures/demo/trust-root.der --at {at}
```

| folder | how it was made (forge knobs) | dcap-qvl says | verdict | failing finding | warnings \
(besides policy, trust_root) |
|---|---|---|---|---|---|
"""


def _dcap_says(expected_json: dict[str, object]) -> str:
    error = expected_json["quote_error_detail"]
    if isinstance(error, str):
        lines = [line.strip() for line in error.splitlines() if line.strip()]
        text = lines[0].removeprefix("Verification failed: ")
        if len(lines) > 1:
            text += f": {lines[-1]}"
        return f"`{text}`"
    advisories = expected_json["advisory_ids"]
    suffix = (
        f" ({', '.join(map(str, advisories))})"
        if isinstance(advisories, list) and advisories
        else ""
    )
    return f"{expected_json['quote_status']}{suffix}"


def readme(expectations: dict[str, dict[str, object]]) -> bytes:
    """fixtures/README.md: for each folder, how it was made and what the verifier must say."""
    at = rfc3339(VERIFY_AT)
    lines = [_README_HEAD.replace("{at}", at)]
    for case in FIXTURES:
        made = "; ".join(f"`{k}`" for k in knobs(case.options, DEMO)) or "demo defaults"
        failed = ", ".join(f"`{f}`" for f in case.failed) or "none"
        extra = ", ".join(f"`{w}`" for w in case.extra_warnings) or "none"
        lines.append(
            f"| `{case.folder}/` | {case.description} Knobs: {made}. "
            f"| {_dcap_says(expectations[case.name])} | **{case.verdict}** | {failed} | {extra} |\n"
        )
    lines.append("\nNotes:\n\n")
    for case in FIXTURES:
        for note in case.notes:
            lines.append(f"- `{case.name}`: {note}\n")
    return "".join(lines).encode("utf-8")


def render_all() -> dict[str, bytes]:
    """Every fixture file, by path relative to fixtures/."""
    out: dict[str, bytes] = {}
    expectations: dict[str, dict[str, object]] = {}
    for case in FIXTURES:
        files = render(case)
        expectations[case.name] = json.loads(files["expected.json"])
        for name, data in files.items():
            out[f"{case.folder}/{name}"] = data
    out["README.md"] = readme(expectations)
    return out


__all__ = [
    "FIXTURES",
    "VERIFY_AT",
    "FixtureCase",
    "expected",
    "fixture",
    "knobs",
    "readme",
    "render",
    "render_all",
]
