"""``cvm-verifier policy init|check`` and ``verify --policy`` in-process: the CI gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.runner import one_error_line, run_cli
from tests.corpus import case

KMS = case("kms-uptodate")
KMS_OLD = case("kms-outofdate")


def test_init_then_verify_gates_on_the_pinned_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "policy.toml"
    code, out, err = run_cli(capsys, "policy", "init", *KMS.cli_args(), "-o", str(policy))
    assert (code, out) == (0, "")
    assert "wrote" in err
    code, out, _ = run_cli(capsys, "verify", *KMS.cli_args(), "--policy", str(policy))
    assert code == 0
    assert "✔ policy.os" in out
    # Same CVM, but its platform is now OutOfDate: the gate closes with exit 1.
    code, out, _ = run_cli(capsys, "verify", *KMS_OLD.cli_args(), "--policy", str(policy))
    assert code == 1
    assert any(line.startswith("✘ policy.tcb") for line in out.splitlines())


def test_init_refuses_failing_evidence_with_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "policy.toml"
    code, out, err = run_cli(
        capsys, "policy", "init", *case("compose-tampered").cli_args(), "-o", str(target)
    )
    assert code == 1 and out == ""
    assert "refusing to pin" in one_error_line(err)
    assert not target.exists()


def test_check_prints_the_normalised_policy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    e = KMS.expected
    policy = tmp_path / "p.toml"
    policy.write_text(
        f'version = 1\n[app]\ncompose_hash = "0x{e["compose_hash_event"].upper()}"\n'
        "require_compose_text = false\n"
    )
    code, out, err = run_cli(capsys, "policy", "check", str(policy))
    assert code == 0 and err == ""
    assert f'compose_hash = ["{e["compose_hash_event"]}"]' in out
    assert 'accept = ["UpToDate"]' in out  # defaults spelled out


def test_check_of_a_bad_policy_exits_2_naming_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("version = 1\nunpinned = true\n[tcb]\naccept = ['UpToDat']\n")
    code, out, err = run_cli(capsys, "policy", "check", str(policy))
    assert code == 2 and out == ""
    line = one_error_line(err)
    assert f"{policy}:4" in line and "UpToDat" in line


def test_verify_with_a_bad_policy_exits_2_before_verifying(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text("version = 1\n")
    code, out, err = run_cli(capsys, "verify", *KMS.cli_args(), "--policy", str(policy))
    assert code == 2 and out == ""
    assert "pins no OS" in one_error_line(err)


def test_a_missing_policy_file_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", *KMS.cli_args(), "--policy", "/nonexistent/p.toml")
    assert code == 2
    assert "cannot read policy" in one_error_line(err)
