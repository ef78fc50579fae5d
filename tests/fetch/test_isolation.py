"""Only verifier.fetch talks to the network: no other module imports an HTTP client, and
verifying (library or CLI, evidence or bundle) never loads httpx or verifier.fetch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.corpus import REPO

PACKAGE = REPO / "verifier"
FETCH = PACKAGE / "fetch"
HTTP_CLIENTS = ("httpx", "requests", "urllib.request", "http.client", "aiohttp", "urllib3")


def _http_imports(path: Path) -> list[str]:
    """Import statements of ``path`` that name an HTTP client module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if any(name == c or name.startswith(c + ".") for c in HTTP_CLIENTS):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}")
    return found


def test_no_module_outside_verifier_fetch_imports_an_http_client() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if FETCH not in path.parents
        for hit in _http_imports(path)
    ]
    assert offenders == []


def test_the_scan_finds_the_fetchers_import() -> None:
    assert any("httpx" in hit for hit in _http_imports(FETCH / "http.py"))


def test_verifying_never_loads_httpx(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
import verifier, verifier.cli, verifier.bundle
from tests.corpus import case
c = case("app-uptodate")
report = verifier.verify(c.evidence, collateral=c.collateral, at=c.at, chain_pem=c.chain)
bundle = verifier.bundle.make_bundle(c.evidence, fetched_at=c.at, collateral=c.collateral)
path = Path({str(tmp_path / "b.json")!r})
path.write_text(bundle.to_json())
assert verifier.cli.main(["verify", str(path), "--at", "fetched", "-o", str(path) + ".txt"]) == 0
assert verifier.cli.main(["policy", "check", "/nonexistent"]) == 2
verifier.cli.main(["--version"])
loaded = [m for m in sys.modules if m.split(".")[0] == "httpx" or m.startswith("verifier.fetch")]
print(sorted(loaded))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
