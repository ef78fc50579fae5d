"""The evidence corpora, read-only: the real one (``../shared/fixtures`` or
``$CVM_VERIFIER_FIXTURES``) and this repository's forged ``fixtures/`` (same folder layout, plus a
``trust-root.der`` per folder)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(os.environ.get("CVM_VERIFIER_FIXTURES", REPO.parent / "shared" / "fixtures"))
CASES_DIR = FIXTURES / "cases"
RAW_DIR = FIXTURES / "raw"
#: The forged fixtures this project generates (python -m verifier.testing.regen).
FORGED_DIR = REPO / "fixtures"


@dataclass(frozen=True)
class Case:
    """One case of the corpus: its files and its expected.json."""

    name: str
    path: Path
    expected: dict[str, Any]

    @property
    def evidence_path(self) -> Path:
        name = "attestation.json" if (self.path / "attestation.json").exists() else "getquote.json"
        return self.path / name

    @property
    def evidence(self) -> bytes:
        return self.evidence_path.read_bytes()

    @property
    def collateral(self) -> bytes:
        return (self.path / "collateral.json").read_bytes()

    def optional(self, name: str) -> bytes | None:
        path = self.path / name
        return path.read_bytes() if path.exists() else None

    @property
    def chain(self) -> bytes | None:
        return self.optional("chain.pem")

    @property
    def compose(self) -> bytes | None:
        return self.optional("app-compose.json")

    @property
    def trust_root(self) -> bytes | None:
        """The test root CA a forged case verifies under (None: Intel's)."""
        return self.optional("trust-root.der")

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.expected["verify_at"])

    def cli_args(self) -> list[str]:
        args = [
            str(self.evidence_path),
            "--collateral",
            str(self.path / "collateral.json"),
            "--at",
            self.expected["verify_at"],
        ]
        if self.chain is not None:
            args += ["--chain", str(self.path / "chain.pem")]
        if self.compose is not None:
            args += ["--compose", str(self.path / "app-compose.json")]
        if self.trust_root is not None:
            args += ["--trust-root", str(self.path / "trust-root.der")]
        return args


def load_cases(directory: Path = CASES_DIR) -> list[Case]:
    if not directory.is_dir():
        return []
    return [
        Case(p.name, p, json.loads((p / "expected.json").read_text()))
        for p in sorted(directory.iterdir())
        if (p / "expected.json").exists()
    ]


def load_forged() -> list[Case]:
    """fixtures/demo and every fixtures/cases/<name>."""
    demo = FORGED_DIR / "demo"
    head = [Case("demo", demo, json.loads((demo / "expected.json").read_text()))]
    return head + load_cases(FORGED_DIR / "cases")


CASES = load_cases()
FORGED = load_forged()


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def forged(name: str) -> Case:
    return next(c for c in FORGED if c.name == name)
