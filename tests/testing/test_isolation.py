"""verifier.testing is test-only: no production module imports it, and using the verifier (library
or CLI) never loads it."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.corpus import REPO

PACKAGE = REPO / "verifier"
TESTING = PACKAGE / "testing"


def _imports_testing(path: Path) -> list[str]:
    """Import statements of ``path`` that reach verifier.testing (absolute or relative)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1]  # the package a relative import starts from
    found = []
    for node in ast.walk(tree):
        targets: list[str] = []
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
        hits = [t for t in targets if t == "verifier.testing" or t.startswith("verifier.testing.")]
        if hits:
            found.append(f"{path.relative_to(REPO)}:{node.lineno}: {hits[0]}")
    return found


def test_no_module_outside_verifier_testing_imports_it() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if TESTING not in path.parents
        for hit in _imports_testing(path)
    ]
    assert offenders == []


def test_the_import_scan_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    # The scan must be able to fail: try it on the testing package itself, which imports itself.
    assert _imports_testing(TESTING / "__init__.py")
    assert any("verifier.testing.fixtures" in hit for hit in _imports_testing(TESTING / "regen.py"))


def test_using_the_verifier_never_loads_verifier_testing() -> None:
    code = (
        "import sys, verifier, verifier.cli, verifier.verification, verifier.quote_verification\n"
        "verifier.cli.main(['--version'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('verifier.testing')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
