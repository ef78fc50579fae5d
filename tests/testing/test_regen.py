"""``python -m verifier.testing.regen``: regenerates fixtures/ byte for byte, and --check catches
every kind of drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus import FORGED_DIR, REPO
from verifier.testing import regen


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    assert regen.main(["--out", str(out)]) == 0
    return out


def test_regeneration_into_tmp_equals_the_committed_fixtures(fresh: Path) -> None:
    committed, regenerated = _tree(FORGED_DIR), _tree(fresh)
    assert sorted(regenerated) == sorted(committed)
    for name, data in regenerated.items():
        assert committed[name] == data, name


def test_check_passes_on_the_committed_fixtures(capsys: pytest.CaptureFixture[str]) -> None:
    assert regen.main(["--check"]) == 0
    assert "is up to date" in capsys.readouterr().out


def test_default_target_is_the_repository_fixtures() -> None:
    assert regen.default_out() == REPO / "fixtures"


def test_check_reports_a_changed_a_missing_and_an_extra_file(
    fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fixtures"
    for name, data in _tree(fresh).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    attestation = out / "demo" / "attestation.json"
    attestation.write_bytes(
        attestation.read_bytes().replace(b'"is_online": true', b'"is_online": false')
    )
    (out / "cases" / "debug-td" / "chain.pem").unlink()
    (out / "cases" / "debug-td" / "notes.txt").write_text("stale")
    capsys.readouterr()
    assert regen.main(["--check", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "missing: cases/debug-td/chain.pem",
        "differs: demo/attestation.json",
        "extra: cases/debug-td/notes.txt",
    ]
    assert "3 files" in captured.err
    # writing repairs it: the changed and missing files are rewritten, the stale one removed
    assert regen.main(["--out", str(out)]) == 0
    assert "3 changed" in capsys.readouterr().out
    assert _tree(out) == _tree(fresh)


def test_writing_twice_changes_nothing(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert regen.main(["--out", str(fresh)]) == 0
    assert "0 changed" in capsys.readouterr().out


def test_check_of_an_empty_directory_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert regen.main(["--check", "--out", str(tmp_path)]) == 1
    assert "missing: demo/attestation.json" in capsys.readouterr().out


def test_unknown_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert regen.main(["--bogus"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_written_files_are_readable_by_everyone(fresh: Path) -> None:
    assert {p.stat().st_mode & 0o777 for p in fresh.rglob("*") if p.is_file()} == {0o644}


def test_module_entry_point_checks(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "verifier.testing.regen", "--check"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert str(FORGED_DIR) in result.stdout
