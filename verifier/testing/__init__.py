"""Forged test evidence for cvm-verifier. TEST ONLY: nothing here is real hardware evidence.

- :mod:`verifier.testing.forge`: a test PKI from a seed (root CA, PCK Platform CA, PCK leaf with
  the SGX extension, TCB-signing certificate, both CRLs), signed TCB info and QE identity as
  dcap-qvl collateral, and TDX v4 quotes with every TD report field chosen.
- :mod:`verifier.testing.simulator`: a dstack CVM on that platform: event log (V1 or V2), RTMR
  replay, the matching quote, the RA-TLS chain and the Phala Cloud ``CvmAttestation`` / dstack
  ``GetQuote`` JSON, with one knob per defect (:class:`~verifier.testing.simulator.Defects`).
- :mod:`verifier.testing.fixtures` and ``python -m verifier.testing.regen``: the committed
  ``fixtures/`` (a passing demo and one negative case per defect).

Production code never imports this package (a test enforces it); quotes forged here verify only
under their own root (``--trust-root``), and the verifier then warns ``trust_root``.
"""

from __future__ import annotations

from .forge import (
    CollateralOptions,
    ForgedCollateral,
    ForgedPki,
    PkiOptions,
    PlatformTcb,
    QeOptions,
    TcbLevel,
    TdReport,
    Validity,
    forge_pki,
)
from .simulator import CvmOptions, Defects, SimulatedCvm, simulate

__all__ = [
    "CollateralOptions",
    "CvmOptions",
    "Defects",
    "ForgedCollateral",
    "ForgedPki",
    "PkiOptions",
    "PlatformTcb",
    "QeOptions",
    "SimulatedCvm",
    "TcbLevel",
    "TdReport",
    "Validity",
    "forge_pki",
    "simulate",
]
