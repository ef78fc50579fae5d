"""cvm-verifier: offline attestation verification of Phala Cloud confidential VMs.

Typical use, before trusting a CVM::

    from verifier import Collateral, load_evidence, verify

    report = verify(load_evidence(evidence_bytes), collateral=Collateral.from_json(text),
                    at=datetime.now(UTC))
    if not report.passed:
        raise RuntimeError([f.reason for f in report.failures()])
"""

from __future__ import annotations

__version__ = "0.1.0"
