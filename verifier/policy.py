"""Policies: what the user accepts, on top of what the evidence proves.

The core (:func:`verifier.verify`) establishes what the signed evidence shows and checks its
consistency; a policy then *validates* that against the user's expectations and adds its own
findings (crypto ``verify`` separate from policy ``validate``, as in go-tdx-guest). A policy is
any object with a ``name``, a ``sha256`` (of its source, or ``None``) and ``validate``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .findings import Finding
from .report import Report


@runtime_checkable
class Policy(Protocol):
    """Judges a draft report (core findings only) and returns the policy's own findings."""

    @property
    def name(self) -> str: ...

    @property
    def sha256(self) -> str | None: ...

    def validate(self, report: Report) -> Sequence[Finding]: ...


@dataclass(frozen=True)
class BaselinePolicy:
    """The policy in force when the user gives none.

    It accepts every TCB status but Revoked (non-UpToDate is a ``tcb_status`` warning from the
    core), pins no measurement, app or key provider, and says so in a ``policy`` warning: authentic
    evidence of *some* CVM is not yet evidence of *your* CVM.
    """

    name: str = "baseline"
    sha256: str | None = None

    def validate(self, report: Report) -> Sequence[Finding]:
        return [
            Finding.warned(
                "policy",
                "baseline policy: any TCB status but Revoked; no OS, app or key provider pinned",
                expected="a policy file pinning the OS measurements and the app",
                actual="baseline",
            )
        ]


BASELINE = BaselinePolicy()
