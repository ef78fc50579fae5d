"""The real evidence corpus (``../shared/fixtures`` or ``$CVM_VERIFIER_FIXTURES``), read-only."""

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
        return args


def load_cases() -> list[Case]:
    if not CASES_DIR.is_dir():
        return []
    return [
        Case(p.name, p, json.loads((p / "expected.json").read_text()))
        for p in sorted(CASES_DIR.iterdir())
        if (p / "expected.json").exists()
    ]


CASES = load_cases()


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)
