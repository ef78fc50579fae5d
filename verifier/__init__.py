"""cvm-verifier: offline attestation verification of Phala Cloud confidential VMs.

Typical use, before trusting a CVM::

    from verifier import Collateral, load_evidence, verify

    report = verify(load_evidence(evidence_bytes), collateral=Collateral.from_json(text),
                    at=datetime.now(UTC), policy=load_policy(toml_bytes, source="policy.toml"))
    if not report.passed:
        raise RuntimeError([f.reason for f in report.failures()])
"""

from __future__ import annotations

__version__ = "0.1.0"

from .bundle import BUNDLE_SCHEMA, Bundle, load_bundle
from .collateral import Collateral
from .errors import InputError, VerifierError
from .evidence import Evidence, EvidenceFormat, load_evidence
from .findings import CHECKS, Finding, Status
from .policy import BASELINE, BaselinePolicy, Policy
from .policy_file import FilePolicy, load_policy
from .quote_verification import INTEL_ROOT, TrustRoot
from .render import render_text
from .report import REPORT_SCHEMA, Report, Verdict
from .verification import verify

__all__ = [
    "BASELINE",
    "BUNDLE_SCHEMA",
    "CHECKS",
    "INTEL_ROOT",
    "REPORT_SCHEMA",
    "BaselinePolicy",
    "Bundle",
    "Collateral",
    "Evidence",
    "EvidenceFormat",
    "FilePolicy",
    "Finding",
    "InputError",
    "Policy",
    "Report",
    "Status",
    "TrustRoot",
    "Verdict",
    "VerifierError",
    "__version__",
    "load_bundle",
    "load_evidence",
    "load_policy",
    "render_text",
    "verify",
]
