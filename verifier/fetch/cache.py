"""On-disk cache of collateral per (PCCS URL, FMSPC, CA), reused only while valid.

Each entry is the dcap-qvl collateral JSON itself (so an entry is also a valid ``--collateral``
file), written atomically. An entry is used only when it parses, is for the FMSPC asked for, and
the fetch time is inside its validity window; anything else (corrupt, expired, not yet valid) is
ignored and refetched, never an error.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

from ..atomicfile import write_atomic
from ..collateral import Collateral, validity_window
from ..errors import InputError

_SAFE = re.compile(r"[0-9A-F]{12}")


class CollateralCache:
    """A directory of collateral entries (created on the first write)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"CollateralCache({str(self.directory)!r})"

    def path(self, pccs_url: str, fmspc: str, ca: str) -> Path:
        fmspc = fmspc.upper()
        if not _SAFE.fullmatch(fmspc) or ca not in ("platform", "processor"):
            raise ValueError("FMSPC must be 12 hex digits and CA platform or processor")
        server = hashlib.sha256(pccs_url.encode()).hexdigest()[:16]
        return self.directory / f"{fmspc}-{ca}-{server}.json"

    def get(self, pccs_url: str, fmspc: str, ca: str, *, at: datetime) -> str | None:
        """The cached collateral JSON if it is usable at ``at``, else ``None``."""
        try:
            text = self.path(pccs_url, fmspc, ca).read_text(encoding="utf-8")
            collateral = Collateral.from_json(text)
        except (OSError, UnicodeDecodeError, InputError):
            return None
        if collateral.fmspc != fmspc.upper():
            return None
        window = validity_window(collateral)
        if window is None or not window[0] <= at < window[1]:
            return None
        return text

    def put(self, pccs_url: str, fmspc: str, ca: str, text: str) -> bool:
        """Store an entry atomically; ``False`` if the directory is not writable (no error)."""
        target = self.path(pccs_url, fmspc, ca)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, text)
        except OSError:
            return False
        return True
