"""``verify``: the pure verification core (no network, no clock: the time is an argument).

Order of trust (ATTESTATION-FACTS §1): the quote is the only signed evidence. dcap-qvl verifies
it; the event log is then replayed against its RTMRs; only then do the runtime events (app id,
compose hash, key provider) say something; ``tcb_info`` and the API's certificate fields are
claims compared with what is proven. Every check yields a finding, failures never stop the other
checks, and an exception inside a check is a failing finding, never a pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

from . import __version__, decoding
from .app_binding import check_compose_hash, check_compose_texts, check_mr_config_id
from .certificates import (
    PemChain,
    check_api_chain,
    check_api_validity,
    check_extensions,
    check_fingerprints,
    check_kms_root,
    check_metadata,
    check_report_data,
    check_signatures,
    leaf_app_id,
    load_pem_chain,
)
from .collateral import Collateral
from .errors import InputError
from .eventlog import RuntimeIdentity, runtime_identity
from .evidence import Evidence, EvidenceFormat, load_evidence
from .findings import Finding
from .issuer_chains import check_issuer_chains
from .measurement_checks import (
    check_claims,
    check_event_digests,
    check_event_log_parse,
    check_identity_events,
    check_quote_body,
    check_replay,
    check_report_data_claim,
)
from .policy import BASELINE, Policy
from .quote import QuoteFormatError, TdQuote, parse_td_quote
from .quote_verification import INTEL_ROOT, QuoteOutcome, TrustRoot, quote_fmspc, verify_quote
from .report import (
    AppIdentity,
    EvidenceInfo,
    KeyProvider,
    Measurements,
    PolicyInfo,
    QuoteInfo,
    Report,
    ToolInfo,
    TrustRootInfo,
    verdict_of,
)


def _dcap_qvl_version() -> str:
    try:
        return version("dcap-qvl")
    except PackageNotFoundError:  # pragma: no cover - dcap-qvl is a hard dependency
        return "unknown"


_TOOL = ToolInfo(version=__version__, dcap_qvl=_dcap_qvl_version())


def verify(
    evidence: Evidence | bytes | str,
    *,
    collateral: Collateral | bytes | str,
    at: datetime,
    policy: Policy = BASELINE,
    chain_pem: bytes | str | None = None,
    compose: bytes | None = None,
    trust_root: TrustRoot | None = None,
) -> Report:
    """Verify one evidence document at time ``at`` and return the :class:`Report`.

    ``evidence`` is an :class:`Evidence` or the raw JSON (CvmAttestation or dstack GetQuote).
    ``collateral`` is Intel collateral for the quote's FMSPC. ``chain_pem`` is the app's RA-TLS
    certificate chain, leaf first; ``compose`` the exact bytes of the app compose (overrides the
    evidence's own). ``trust_root`` defaults to Intel's root CA.

    Bad evidence gives a failing report; misuse raises: ``at`` must be timezone-aware.
    """
    moment = _verification_time(at)
    if compose is not None and not isinstance(compose, bytes):
        raise TypeError("compose must be bytes: the compose hash covers its exact bytes")
    return _Verification(moment, policy, trust_root or INTEL_ROOT).run(
        evidence, collateral, chain_pem, compose
    )


def unusable_input_report(
    finding_id: str,
    reason: str,
    *,
    at: datetime,
    policy: Policy = BASELINE,
    trust_root: TrustRoot | None = None,
    evidence_sha256: str,
) -> Report:
    """The failing report of an input that could not even be handed to :func:`verify`.

    For callers that read the inputs themselves (fleet verification): a file that cannot be read,
    evidence without any collateral. ``finding_id`` is ``evidence_parse`` or ``collateral_parse``
    and is the only core finding; the policy still adds its own, as for any other failure.
    """
    if finding_id not in ("evidence_parse", "collateral_parse"):
        raise ValueError(f"not an input finding id: {finding_id!r}")
    run = _Verification(_verification_time(at), policy, trust_root or INTEL_ROOT)
    run.findings.append(Finding.failed(finding_id, reason))
    return run._report(EvidenceInfo(format=None, sha256=evidence_sha256))


def _verification_time(at: datetime) -> datetime:
    """``at`` in UTC, whole seconds (dcap-qvl's resolution); misuse raises."""
    if not isinstance(at, datetime):
        raise TypeError("at must be a datetime")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be timezone-aware (e.g. datetime.now(UTC)); got a naive datetime")
    return datetime.fromtimestamp(int(at.timestamp()), UTC)


class _Verification:
    """One run of the checks; collects findings in a fixed order."""

    def __init__(self, at: datetime, policy: Policy, trust_root: TrustRoot) -> None:
        self.at = at
        self.policy = policy
        self.trust_root = trust_root
        self.findings: list[Finding] = []

    def add(self, finding_id: str, check: Callable[[], Finding | list[Finding]]) -> None:
        """Run one check; an exception inside it is a failing finding (fail closed)."""
        try:
            result = check()
        except Exception as exc:
            result = Finding.failed(
                finding_id, f"internal error in the check: {type(exc).__name__}: {exc}"
            )
        self.findings.extend(result if isinstance(result, list) else [result])

    # -- assembling the report ------------------------------------------------------------

    def run(
        self,
        evidence_in: Evidence | bytes | str,
        collateral_in: Collateral | bytes | str,
        chain_in: bytes | str | None,
        compose: bytes | None,
    ) -> Report:
        if isinstance(evidence_in, Evidence):
            evidence = evidence_in
        else:
            try:
                evidence = load_evidence(evidence_in)
            except InputError as exc:
                raw = (
                    evidence_in.encode("utf-8", "surrogatepass")
                    if isinstance(evidence_in, str)
                    else evidence_in
                )
                self.findings.append(
                    Finding.failed("evidence_parse", f"not usable evidence: {exc}")
                )
                digest = hashlib.sha256(raw).hexdigest()
                return self._report(EvidenceInfo(format=None, sha256=digest))
        collateral: Collateral | None = None
        try:
            collateral = (
                collateral_in
                if isinstance(collateral_in, Collateral)
                else (Collateral.from_json(collateral_in))
            )
        except InputError as exc:
            self.findings.append(Finding.failed("collateral_parse", f"unusable collateral: {exc}"))
        chain: PemChain | None = None
        if chain_in is not None:
            try:
                chain = load_pem_chain(chain_in)
            except InputError as exc:
                self.findings.append(Finding.failed("cert_signature", f"unusable chain: {exc}"))
        return self._verify(evidence, collateral, chain, compose, chain_in is not None)

    def _report(
        self,
        info: EvidenceInfo,
        quote: QuoteInfo | None = None,
        measurements: Measurements | None = None,
        app: AppIdentity | None = None,
    ) -> Report:
        draft = Report(
            verdict=verdict_of(self.findings),
            verified_at=self.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            tool=_TOOL,
            policy=PolicyInfo(name=self.policy.name, sha256=self.policy.sha256),
            evidence=info,
            quote=quote or QuoteInfo(trust_root=self._trust_root_info()),
            measurements=measurements or Measurements(),
            app=app or AppIdentity(),
            findings=tuple(self.findings),
        )
        try:
            extra = list(self.policy.validate(draft))
        except Exception as exc:
            extra = [
                Finding.failed(
                    "policy", f"internal error in the policy: {type(exc).__name__}: {exc}"
                )
            ]
        return draft.with_findings(extra)

    def _trust_root_info(self) -> TrustRootInfo:
        return TrustRootInfo(
            intel=self.trust_root.is_intel,
            subject=self.trust_root.subject,
            sha256=self.trust_root.sha256,
        )

    # -- the checks -----------------------------------------------------------------------

    def _verify(
        self,
        evidence: Evidence,
        collateral: Collateral | None,
        chain: PemChain | None,
        compose_override: bytes | None,
        chain_given: bool,
    ) -> Report:
        compose = compose_override if compose_override is not None else evidence.compose
        if compose is None and evidence.compose_file is not None:
            # compose_file is a compose text too: with no app_compose it is the one to hash.
            compose = _utf8_text(evidence.compose_file)
        info = EvidenceInfo(
            format=evidence.format.value,
            sha256=evidence.sha256,
            collateral_sha256=collateral.sha256 if collateral else None,
            chain_sha256=chain.sha256 if chain else None,
            compose_sha256=hashlib.sha256(compose).hexdigest() if compose is not None else None,
        )

        # 1. The quote: present, a TDX quote, and genuine (dcap-qvl).
        quote: TdQuote | None = None
        if evidence.quote is None:
            why = f" (API error: {evidence.error})" if evidence.error else ""
            self.findings.append(
                Finding.failed(
                    "quote_parse",
                    f"the evidence carries no quote{why}",
                    expected=f"a quote at {evidence.quote_location}",
                    actual="none",
                )
            )
        else:
            try:
                quote = parse_td_quote(evidence.quote)
            except QuoteFormatError as exc:
                self.findings.append(
                    Finding.failed(
                        "quote_parse",
                        f"not a TDX quote: {exc}",
                        actual=f"{len(evidence.quote)} bytes",
                    )
                )
        outcome: QuoteOutcome | None = None
        if quote is not None and evidence.quote is not None:
            if collateral is not None:
                at_secs = int(self.at.timestamp())
                outcome = verify_quote(evidence.quote, collateral, at_secs, self.trust_root)
            # dcap-qvl parses deeper than the TD report (signature data, certification data):
            # when it cannot, its failure is the quote_parse finding, not a second one.
            if outcome is None or outcome.error_class != "quote_parse":
                self.findings.append(
                    Finding.passed(
                        "quote_parse", f"TDX quote v{quote.version}, {len(evidence.quote)} bytes"
                    )
                )
            if outcome is not None:
                self._quote_findings(outcome, quote)
        if quote is None or outcome is None:
            self.findings.append(Finding.skipped("tcb_status", "the quote was not verified"))
        self.add("trust_root", self._check_trust_root)
        if quote is not None and collateral is not None:
            pem, chains = quote.pck_chain_pem, collateral
            root = self.trust_root.certificate_sha256
            self.add("issuer_chains", lambda: check_issuer_chains(pem, chains.issuer_chains, root))

        # 2. The event log against the quote's RTMRs.
        log = evidence.decoded_log
        identity = runtime_identity(log.events)
        key_provider = _key_provider(identity)
        if not evidence.events:
            self.findings.append(
                Finding.warned(
                    "quote_only",
                    "the event log is empty: only the quote was checked, not the OS or app",
                )
            )
        else:
            self.add("event_log_parse", lambda: check_event_log_parse(log, len(evidence.events)))
            self.add("event_digest", lambda: check_event_digests(log.events))
            if quote is not None:
                q = quote
                self.add("rtmr_replay", lambda: check_replay(log, q))
            else:
                self.findings.append(Finding.skipped("rtmr_replay", "no usable quote to replay to"))
            self.add("duplicate_event", lambda: check_identity_events(identity))
        if quote is not None:
            q = quote
            rootfs = identity.get("rootfs-hash")
            self.add("tcb_info_mismatch", lambda: check_claims(evidence.claims, q, rootfs))
            if evidence.report_data is not None:
                claim = evidence.report_data
                self.add("report_data_mismatch", lambda: check_report_data_claim(claim, q))

        # 3. The app: compose text against the measured compose hash and MRCONFIGID.
        measured_compose = identity.get("compose-hash")
        if evidence.events:
            self.add("compose_hash", lambda: check_compose_hash(compose, measured_compose))
            if compose is None:
                self.findings.append(
                    Finding.warned(
                        "compose_not_available",
                        "no compose text: the app's compose binding was not checked",
                        expected=measured_compose.hex() if measured_compose else None,
                    )
                )
        texts = _compose_texts(evidence, compose_override)
        self.add("compose_file", lambda: check_compose_texts(texts))
        if quote is not None:
            q = quote
            self.add("mr_config_id", lambda: check_mr_config_id(q.mr_config_id, measured_compose))

        # 4. Certificates: the API's description, and the PEM chain when given.
        self._certificate_findings(evidence, quote, chain, chain_given, identity, key_provider)

        fmspc = None
        if outcome is not None and outcome.verified and collateral is not None:
            fmspc = collateral.fmspc  # dcap-qvl checked it equals the PCK certificate's
        elif evidence.quote is not None:
            fmspc = quote_fmspc(evidence.quote)
        quote_info = QuoteInfo(
            status=outcome.status if outcome else None,
            advisory_ids=outcome.advisory_ids if outcome else (),
            fmspc=fmspc,
            td_attributes=quote.td_attributes.hex() if quote else None,
            xfam=quote.xfam.hex() if quote else None,
            mr_seam=quote.mr_seam.hex() if quote else None,
            tee_tcb_svn=quote.tee_tcb_svn.hex() if quote else None,
            trust_root=self._trust_root_info(),
            error=outcome.error if outcome else None,
            tcb_date=outcome.tcb_date if outcome else None,
        )
        measurements = Measurements()
        if quote is not None:
            measurements = Measurements(
                mrtd=quote.mr_td.hex(),
                rtmr0=quote.rtmr[0].hex(),
                rtmr1=quote.rtmr[1].hex(),
                rtmr2=quote.rtmr[2].hex(),
                rtmr3=quote.rtmr[3].hex(),
                mr_config_id=quote.mr_config_id.hex(),
                report_data=quote.report_data.hex(),
            )
        app = AppIdentity(
            app_id=_hex_or_none(identity.get("app-id")),
            compose_hash=_hex_or_none(measured_compose),
            instance_id=_hex_or_none(identity.get("instance-id")),
            key_provider=KeyProvider(**key_provider) if key_provider else None,
            os_image_hash=_hex_or_none(identity.get("os-image-hash")),
            events_after_ready=identity.after_ready,
        )
        return self._report(info, quote_info, measurements, app)

    def _quote_findings(self, outcome: QuoteOutcome, quote: TdQuote) -> None:
        dcap: Finding | None = None
        if outcome.verified:
            self.findings.append(
                Finding.passed(
                    "quote_verification",
                    f"dcap-qvl verified the quote: {outcome.status}",
                    actual=outcome.status,
                )
            )
            if outcome.status == "UpToDate":
                self.findings.append(
                    Finding.passed("tcb_status", "TCB is UpToDate", actual="UpToDate")
                )
            else:
                advisories = ", ".join(outcome.advisory_ids) or "no advisories"
                self.findings.append(
                    Finding.warned(
                        "tcb_status",
                        f"TCB is {outcome.status} ({advisories})",
                        expected="UpToDate",
                        actual=f"{outcome.status} {advisories}",
                    )
                )
        else:
            error = outcome.error or ""
            first_line = error.splitlines()[0] if error else "verification failed"
            dcap = Finding.failed(
                outcome.error_class or "quote_verification", f"dcap-qvl: {first_line}", actual=error
            )
            self.findings.append(dcap)
            if dcap.id != "tcb_status":
                self.findings.append(Finding.skipped("tcb_status", "the quote did not verify"))
        for finding in check_quote_body(quote):
            if dcap is None or finding.id != dcap.id:
                self.findings.append(finding)

    def _check_trust_root(self) -> Finding:
        if self.trust_root.is_intel:
            return Finding.passed(
                "trust_root",
                "Intel SGX Root CA (built into dcap-qvl)",
                actual=self.trust_root.subject,
            )
        return Finding.warned(
            "trust_root",
            "verified under a NON-INTEL root CA: test evidence, not real hardware",
            expected="Intel SGX Root CA",
            actual=f"{self.trust_root.subject} sha256={self.trust_root.sha256}",
        )

    def _certificate_findings(
        self,
        evidence: Evidence,
        quote: TdQuote | None,
        chain: PemChain | None,
        chain_given: bool,
        identity: RuntimeIdentity,
        key_provider: dict[str, str] | None,
    ) -> None:
        certs = evidence.certificates
        api_leaf = next(
            (
                c
                for i, c in enumerate(certs)
                if (c.position_in_chain if c.position_in_chain is not None else i) == 0
            ),
            None,
        )
        if certs:
            self.add("cert_chain", lambda: check_api_chain(certs))
            self.add("cert_validity", lambda: check_api_validity(certs, self.at))
        if chain is not None:
            pem = chain
            self.add("cert_signature", lambda: check_signatures(pem))
            self.add("cert_fingerprint", lambda: check_fingerprints(pem, certs))
            self.add("cert_metadata", lambda: check_metadata(pem, certs, evidence.quote))
            self.add(
                "cert_extension_mismatch",
                lambda: check_extensions(pem, evidence.quote, _raw_events(evidence), api_leaf),
            )
            if quote is not None:
                q = quote
                self.add("report_data_binding", lambda: check_report_data(pem, q.report_data))
            self.add("kms_root_binding", lambda: check_kms_root(pem, key_provider))
        elif evidence.format is EvidenceFormat.PHALA_CVM_ATTESTATION and not chain_given:
            self.findings.append(
                Finding.warned(
                    "chain_not_available",
                    "no PEM chain given (--chain): certificate signatures and "
                    "the report_data binding were not checked",
                )
            )
        cert_app = leaf_app_id(chain, api_leaf)
        measured = identity.get("app-id")
        if cert_app is not None and measured is not None:
            if cert_app == measured.hex():
                self.findings.append(
                    Finding.passed(
                        "app_id_mismatch",
                        "the certificate's app id is the measured app id",
                        actual=cert_app,
                    )
                )
            else:
                self.findings.append(
                    Finding.failed(
                        "app_id_mismatch",
                        "the certificate's app id is not the app-id event",
                        expected=measured.hex(),
                        actual=cert_app,
                    )
                )


def _raw_events(evidence: Evidence) -> list[object]:
    return [
        e.model_dump(include={"imr", "event_type", "digest", "event", "event_payload"})
        for e in evidence.events
    ]


def _compose_texts(evidence: Evidence, override: bytes | None) -> dict[str, bytes]:
    texts: dict[str, bytes] = {}
    if evidence.compose is not None:
        texts["tcb_info.app_compose"] = evidence.compose
    if evidence.compose_file is not None:
        texts["compose_file"] = _utf8_text(evidence.compose_file)
    if override is not None:
        texts["--compose"] = override
    return texts


def _utf8_text(text: str) -> bytes:
    """UTF-8 of a JSON string; a lone surrogate is kept (as no real compose could hash to it)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


def _key_provider(identity: RuntimeIdentity) -> dict[str, str] | None:
    payload = identity.get("key-provider")
    if payload is None:
        return None
    try:
        decoded = decoding.json_loads(payload)
    except ValueError:  # not JSON, not UTF-8, too deep, a number too long
        return None
    if not isinstance(decoded, dict):
        return None
    name, ident = decoded.get("name"), decoded.get("id")
    if not isinstance(name, str) or not isinstance(ident, str):
        return None
    return {"name": name, "id": ident}


def _hex_or_none(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None
