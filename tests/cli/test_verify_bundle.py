"""``cvm-verifier verify BUNDLE``: a bundle's parts as the inputs, ``--at fetched``, overrides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.runner import one_error_line, run_cli
from tests.corpus import CASES, Case, case, forged
from verifier.bundle import BundleSource, make_bundle

APP = case("app-uptodate")
KMS = case("kms-uptodate")


def _write_bundle(path: Path, c: Case, *, collateral: bool = True) -> Path:
    bundle = make_bundle(
        c.evidence,
        fetched_at=c.at,
        source=BundleSource(cvm_id=c.name),
        collateral=c.collateral if collateral else None,
        chain=c.chain,
        compose=c.compose,
    )
    path.write_text(bundle.to_json())
    return path


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_verify_bundle_at_fetched_equals_verifying_the_files(
    c: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _write_bundle(tmp_path / "b.json", c)
    direct = run_cli(capsys, "verify", *c.cli_args(), "--format", "json")
    code, out, err = run_cli(capsys, "verify", str(bundle), "--at", "fetched", "--format", "json")
    assert (code, out, err) == direct
    assert code == (0 if c.expected["verdict"] == "pass" else 1)


def test_a_bundle_is_also_verified_at_another_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _write_bundle(tmp_path / "b.json", APP)
    code, out, _ = run_cli(capsys, "verify", str(bundle), "--at", "2025-10-03T07:03:51Z")
    assert code == 1
    assert any(line.startswith("✘ collateral_expired") for line in out.splitlines())


def test_explicit_collateral_replaces_the_bundles(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _write_bundle(tmp_path / "b.json", APP)
    wrong = case("collateral-wrong-fmspc").path / "collateral.json"
    code, out, _ = run_cli(
        capsys, "verify", str(bundle), "--at", "fetched", "--collateral", str(wrong)
    )
    assert code == 1
    assert any(line.startswith("✘ collateral_fmspc_mismatch") for line in out.splitlines())


def test_a_bundle_without_collateral_needs_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = _write_bundle(tmp_path / "b.json", APP, collateral=False)
    code, _, err = run_cli(capsys, "verify", str(bundle), "--at", "fetched")
    assert code == 2
    assert "--collateral: --collateral FILE is required" in one_error_line(err)
    assert "no-collateral" in err
    args = ("--collateral", str(APP.path / "collateral.json"))
    code, out, _ = run_cli(capsys, "verify", str(bundle), "--at", "fetched", *args)
    assert code == 0, out


def test_plain_evidence_still_needs_collateral(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", str(APP.evidence_path), "--at", "2025-09-15T00:00:00Z")
    assert code == 2
    assert "--collateral FILE is required" in one_error_line(err)


def test_at_fetched_needs_a_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    args = APP.cli_args()
    args[args.index("--at") + 1] = "fetched"
    code, _, err = run_cli(capsys, "verify", *args)
    assert code == 2
    assert "--at: 'fetched'" in one_error_line(err)


def test_an_altered_bundle_is_an_input_error_naming_the_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bundle(tmp_path / "b.json", APP)
    document = json.loads(path.read_text())
    document["attestation"]["text"] = document["attestation"]["text"].replace(
        '"is_online": true', '"is_online": false'
    )
    path.write_text(json.dumps(document))
    code, out, err = run_cli(capsys, "verify", str(path), "--at", "fetched")
    assert code == 2
    assert out == ""
    assert f"{path}: attestation.sha256: does not match" in one_error_line(err)


def test_a_bundle_with_a_trust_root_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bundle(tmp_path / "b.json", APP)
    document = json.loads(path.read_text())
    document["trust_root"] = {"sha256": "0" * 64, "text": "x"}
    path.write_text(json.dumps(document))
    code, _, err = run_cli(capsys, "verify", str(path), "--at", "fetched")
    assert code == 2
    assert "trust_root" in one_error_line(err)


def test_a_forged_bundle_needs_the_explicit_trust_root(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo = forged("demo")
    path = _write_bundle(tmp_path / "b.json", demo)
    code, _, _ = run_cli(capsys, "verify", str(path), "--at", "fetched")
    assert code == 1
    root = str(demo.path / "trust-root.der")
    code, _, _ = run_cli(capsys, "verify", str(path), "--at", "fetched", "--trust-root", root)
    assert code == 0


def test_malformed_evidence_inside_a_bundle_names_the_bundle_and_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = json.loads(APP.evidence)
    del document["tcb_info"]["mrtd"]
    bundle = make_bundle(json.dumps(document), fetched_at=APP.at, collateral=APP.collateral)
    path = tmp_path / "b.json"
    path.write_text(bundle.to_json())
    code, _, err = run_cli(capsys, "verify", str(path), "--at", "fetched")
    assert code == 2
    assert f"{path}: attestation.text: tcb_info.mrtd" in one_error_line(err)


def test_policy_init_reads_a_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write_bundle(tmp_path / "b.json", KMS)
    code, out, _ = run_cli(capsys, "policy", "init", str(path), "--at", "fetched")
    assert code == 0
    assert "65b0da4cc194cab003552e6fdf5e14dacd0ff761" in out  # the KMS's measured app id
