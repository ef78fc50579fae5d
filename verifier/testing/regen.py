"""``python -m verifier.testing.regen``: write or check the committed forged fixtures.

    python -m verifier.testing.regen              # write fixtures/ at the repository root
    python -m verifier.testing.regen --out DIR    # write elsewhere
    python -m verifier.testing.regen --check      # exit 1 if fixtures/ differs from a fresh run

Regeneration is deterministic (seeded keys, RFC 6979 signatures, fixed times): the same code
gives the same bytes. Files are written atomically; files of the managed folders (``demo/``,
``cases/``) that the generator no longer makes are removed.
Exit codes: 0 done / no drift, 1 drift, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ..atomicfile import write_atomic
from .fixtures import render_all

#: The repository checkout this module lives in (fixtures/ sits at its root).
REPO = Path(__file__).resolve().parents[2]
MANAGED = ("demo", "cases")
EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2


def default_out() -> Path | None:
    """``fixtures/`` of the checkout, or ``None`` when not running from a checkout."""
    return REPO / "fixtures" if (REPO / "pyproject.toml").is_file() else None


def _existing(out: Path) -> set[str]:
    found: set[str] = set()
    if (out / "README.md").is_file():
        found.add("README.md")
    for folder in MANAGED:
        root = out / folder
        if root.is_dir():
            found |= {p.relative_to(out).as_posix() for p in root.rglob("*") if p.is_file()}
    return found


def write(out: Path, files: dict[str, bytes]) -> list[str]:
    """Write ``files`` under ``out`` (only when changed); return what changed or was removed."""
    changed: list[str] = []
    for relative, data in sorted(files.items()):
        target = out / relative
        if target.is_file() and target.read_bytes() == data:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)
        target.chmod(0o644)  # a checkout's mode, not the temporary file's 0600
        changed.append(relative)
    for stale in sorted(_existing(out) - set(files)):
        (out / stale).unlink()
        changed.append(f"{stale} (removed)")
    for folder in MANAGED:
        root = out / folder
        if root.is_dir():
            for directory in sorted(root.rglob("*"), reverse=True):
                if directory.is_dir() and not any(directory.iterdir()):
                    directory.rmdir()
    return changed


def drift(out: Path, files: dict[str, bytes]) -> list[str]:
    """How ``out`` differs from ``files``: one line per missing, different or extra file."""
    problems = []
    for relative, data in sorted(files.items()):
        target = out / relative
        if not target.is_file():
            problems.append(f"missing: {relative}")
        elif target.read_bytes() != data:
            problems.append(f"differs: {relative}")
    problems += [f"extra: {p}" for p in sorted(_existing(out) - set(files))]
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m verifier.testing.regen",
        description="Regenerate the forged test fixtures (deterministic).",
    )
    parser.add_argument("--out", metavar="DIR", help="target directory (default: <repo>/fixtures)")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the target differs from a fresh regeneration",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    out = Path(args.out) if args.out else default_out()
    if out is None:
        print("regen: not in a checkout; give --out DIR", file=sys.stderr)
        return EXIT_USAGE
    files = render_all()
    if args.check:
        problems = drift(out, files)
        for line in problems:
            print(line)
        if problems:
            print(
                f"regen: {out} differs from a fresh regeneration "
                f"({len(problems)} files); run: python -m verifier.testing.regen",
                file=sys.stderr,
            )
            return EXIT_DRIFT
        print(f"regen: {out} is up to date ({len(files)} files)")
        return EXIT_OK
    changed = write(out, files)
    print(f"regen: wrote {out} ({len(files)} files, {len(changed)} changed)")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
