"""``cvm-verifier verify`` in-process: exit codes, one-line errors, outputs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.cli.runner import one_error_line, run_cli
from tests.corpus import case

APP = case("app-uptodate")
BITFLIP = case("quote-bitflip")


def test_passing_evidence_exits_0_with_the_verdict_last(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "verify", *APP.cli_args())
    assert code == 0
    assert out.splitlines()[-1].startswith("verdict: PASS")
    assert err == ""


def test_failing_evidence_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "verify", *BITFLIP.cli_args())
    assert code == 1
    assert out.splitlines()[-1].startswith("verdict: FAIL")
    assert any(line.startswith("✘ quote_signature") for line in out.splitlines())


def test_json_report_is_the_library_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "verify", *APP.cli_args(), "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["schema"] == "cvm-verifier.report/1"
    assert report["verified_at"] == APP.expected["verify_at"]
    assert report["verdict"] == "pass"


def test_output_file_is_written_and_stdout_stays_empty(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "report.json"
    code, out, _ = run_cli(capsys, "verify", *APP.cli_args(), "--format", "json", "-o", str(target))
    assert code == 0
    assert out == ""
    assert json.loads(target.read_text())["verdict"] == "pass"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left behind


def test_output_into_a_missing_directory_is_an_input_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "report.json"
    code, _, err = run_cli(capsys, "verify", *APP.cli_args(), "-o", str(target))
    assert code == 2
    assert str(target) in one_error_line(err)


def test_evidence_from_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    args = APP.cli_args()
    args[0] = "-"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(APP.evidence)))
    code, _, _ = run_cli(capsys, "verify", *args)
    assert code == 0


def test_missing_evidence_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = APP.cli_args()
    args[0] = str(tmp_path / "nope.json")
    code, _, err = run_cli(capsys, "verify", *args)
    assert code == 2
    assert "nope.json" in one_error_line(err)


def test_evidence_that_is_a_directory(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = APP.cli_args()
    args[0] = str(tmp_path)
    code, _, err = run_cli(capsys, "verify", *args)
    assert code == 2
    one_error_line(err)


def test_malformed_evidence_names_the_file_and_the_json_path(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    document = json.loads(APP.evidence)
    del document["tcb_info"]["rtmr2"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    args = APP.cli_args()
    args[0] = str(bad)
    code, _, err = run_cli(capsys, "verify", *args)
    line = one_error_line(err)
    assert code == 2
    assert "bad.json" in line and "tcb_info.rtmr2" in line


def test_malformed_collateral(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "collateral.json"
    bad.write_text("[]")
    code, _, err = run_cli(
        capsys,
        "verify",
        str(APP.evidence_path),
        "--collateral",
        str(bad),
        "--at",
        "2025-09-15T00:00Z",
    )
    assert code == 2
    assert "collateral.json" in one_error_line(err)


def test_malformed_chain(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "chain.pem"
    bad.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    args = [*APP.cli_args()[: APP.cli_args().index("--chain")], "--chain", str(bad)]
    code, _, err = run_cli(capsys, "verify", *args)
    assert code == 2
    assert "chain.pem" in one_error_line(err)


def test_trust_root_that_is_not_der(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "root.der"
    bad.write_bytes(b"not a certificate")
    code, _, err = run_cli(capsys, "verify", *APP.cli_args(), "--trust-root", str(bad))
    assert code == 2
    assert "root.der" in one_error_line(err)


@pytest.mark.parametrize("at", ["yesterday", "2025-09-15T00:00:00", "2025-13-01T00:00:00Z"])
def test_bad_time(capsys: pytest.CaptureFixture[str], at: str) -> None:
    args = APP.cli_args()
    args[args.index("--at") + 1] = at
    code, _, err = run_cli(capsys, "verify", *args)
    assert code == 2
    assert "--at" in one_error_line(err)


def test_missing_required_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", str(APP.evidence_path))
    assert code == 2
    assert "--collateral" in one_error_line(err)


def test_unknown_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "verify", *APP.cli_args(), "--format", "yaml")
    assert code == 2
    one_error_line(err)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys)
    assert code == 2
    one_error_line(err)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.startswith("cvm-verifier ")


def test_an_error_quoting_a_line_break_is_still_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Found by the fuzzer: a policy key with a line break (here U+0085) split the error.
    policy = tmp_path / "policy.toml"
    policy.write_bytes(b'version = 1\nunpinned = true\n[tcb]\n"a\\u0085\\nb" = 1\n')
    code, out, err = run_cli(capsys, "verify", *APP.cli_args(), "--policy", str(policy))
    assert code == 2 and out == ""
    assert one_error_line(err).endswith(": tcb.a\\x85\\nb: unknown key")


def test_a_library_warning_about_the_input_does_not_reach_stderr(tmp_path: Path) -> None:
    # Found by the long fuzz run: cryptography warns (UserWarning, two lines with a source line)
    # on a certificate name of the wrong length; the command's stderr carries its own lines only,
    # in verify-many's worker processes too.
    import base64
    import subprocess
    import sys

    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs = x509.load_pem_x509_certificates(APP.chain or b"")
    der = certs[1].public_bytes(Encoding.DER)
    organization, country = bytes.fromhex("060355040a"), bytes.fromhex("0603550406")
    assert der.count(organization) >= 1
    odd = base64.b64encode(der.replace(organization, country, 1))  # O=Dstack becomes C=Dstack
    block = b"".join(odd[i : i + 64] + b"\n" for i in range(0, len(odd), 64))
    item = tmp_path / "item"
    item.mkdir()
    for name in ("attestation.json", "collateral.json"):
        (item / name).write_bytes((APP.path / name).read_bytes())
    chain = item / "chain.pem"
    chain.write_bytes(
        certs[0].public_bytes(Encoding.PEM)
        + b"-----BEGIN CERTIFICATE-----\n"
        + block
        + b"-----END CERTIFICATE-----\n"
        + certs[2].public_bytes(Encoding.PEM)
    )
    args = APP.cli_args()
    args[args.index("--chain") + 1] = str(chain)
    result = subprocess.run(
        [sys.executable, "-m", "verifier", "verify", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1  # the App CA's signature no longer verifies
    assert result.stderr == ""
    # verify-many's worker processes too (the text summary goes to stdout)
    many = [sys.executable, "-m", "verifier", "verify-many", str(tmp_path), "--jobs", "2"]
    at = ["--at", APP.expected["verify_at"]]
    result = subprocess.run([*many, *at], capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "FAIL" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "github"])
def test_a_lone_surrogate_in_the_evidence_is_reported_escaped_in_every_format(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    # JSON allows "\ud800"; quoted back in a finding it is not encodable as UTF-8.
    document = json.loads(APP.evidence)
    document["app_certificates"][0]["subject"]["common_name"] = "\ud800demo"
    evidence = tmp_path / "attestation.json"
    evidence.write_text(json.dumps(document))
    args = [str(evidence), *APP.cli_args()[1:]]
    summary = tmp_path / "summary.md"
    code, out, err = run_cli(capsys, "verify", *args, "--format", fmt, "--summary", str(summary))
    assert (code, err) == (1, "")
    out.encode("utf-8")
    summary.read_text(encoding="utf-8")
    if fmt == "json":
        metadata = next(f for f in json.loads(out)["findings"] if f["id"] == "cert_metadata")
        assert metadata["status"] == "fail"
        assert metadata["actual"] == "\ud800demo"  # the JSON escape reads back as it was given


def test_a_report_with_a_lone_surrogate_is_still_utf8_json() -> None:
    from verifier import verify

    document = json.loads(APP.evidence)
    document["app_certificates"][0]["subject"]["common_name"] = "\udc00"
    report = verify(json.dumps(document), collateral=APP.collateral, at=APP.at, chain_pem=APP.chain)
    text = report.to_json()
    text.encode("utf-8")
    assert "\\udc00" in text
    assert json.loads(text) == report.to_dict()


@pytest.mark.parametrize("option", ["--collateral", "--chain", "--trust-root"])
def test_an_unreadable_input_file_is_named_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, option: str
) -> None:
    missing = str(tmp_path / "missing")
    args = [str(APP.evidence_path), "--collateral", str(APP.path / "collateral.json"), option]
    code, _, err = run_cli(capsys, "verify", *args, missing, "--at", APP.expected["verify_at"])
    assert code == 2
    line = one_error_line(err)
    assert line.count(missing) == 1, line
    assert "cannot read" in line
