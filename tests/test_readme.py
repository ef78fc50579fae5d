"""The README's commands and library example are the ones that work."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests.corpus import REPO, case, forged
from tests.fetch.emulators import API_KEY, PccsEmulator, PhalaCloudEmulator
from verifier.cli import main

README = (REPO / "README.md").read_text()
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", README, flags=re.DOTALL)


def test_readme_opens_with_the_run_and_the_test_commands() -> None:
    (lang1, run), (lang2, test) = BLOCKS[0], BLOCKS[1]
    assert (lang1, lang2) == ("sh", "sh")
    assert "cvm-verifier verify" in run
    assert "pytest" in test


def test_first_command_verifies_the_demo_offline_naming_the_test_root(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = BLOCKS[0][1].strip()
    assert "../shared" not in run  # a fresh clone has only this repository
    *setup, command = [part.strip() for part in run.split("&&")]
    assert setup == ["python3 -m venv .venv", ".venv/bin/pip install -q -e ."]
    program, *args = shlex.split(command)
    assert program == ".venv/bin/cvm-verifier"
    assert args[args.index("--at") + 1] == forged("demo").expected["verify_at"]
    monkeypatch.chdir(REPO)
    assert main(args) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert last.startswith("verdict: PASS")
    assert f"NON-INTEL TEST ROOT {forged('demo').expected['trust_root']['subject']}" in last


def test_forge_example_runs() -> None:
    example = next(code for lang, code in BLOCKS if lang == "python" and "verifier.testing" in code)
    exec(compile(example, "README.md", "exec"), {})


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    test_command = BLOCKS[1][1].strip()
    assert test_command in (REPO / ".ci" / "run").read_text()


def test_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = next(code for lang, code in BLOCKS if lang == "python")
    source = case("app-uptodate")
    for name in ("attestation.json", "collateral.json", "chain.pem"):
        (tmp_path / name).write_bytes((source.path / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    # The example verifies "now"; the corpus collateral is valid at the case's time.
    example = example.replace(
        "datetime.now(UTC)", f"datetime.fromisoformat({source.expected['verify_at']!r})"
    )
    namespace: dict[str, object] = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["report"].passed  # type: ignore[attr-defined]


def test_policy_example_is_a_valid_policy_that_passes_its_cvm() -> None:
    from verifier import load_policy, verify

    text = next(code for lang, code in BLOCKS if lang == "toml")
    source = case("app-uptodate")
    report = verify(
        source.evidence,
        collateral=source.collateral,
        at=source.at,
        chain_pem=source.chain,
        policy=load_policy(text.encode(), source="README.md"),
    )
    assert report.passed, [f.reason for f in report.failures()]
    assert {f.id for f in report.findings} >= {"policy.tcb", "policy.os", "policy.app"}


def test_from_a_cvm_id_example_runs_against_the_emulators(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    phala: PhalaCloudEmulator,
    pccs: PccsEmulator,
) -> None:
    example = next(code for lang, code in BLOCKS if lang == "python" and "fetch_cvm_bundle" in code)
    monkeypatch.setenv("PHALA_CLOUD_API_KEY", API_KEY)
    monkeypatch.setenv("PHALA_CLOUD_API_PREFIX", phala.prefix)
    monkeypatch.setenv("PCCS_URL", pccs.url)
    monkeypatch.chdir(tmp_path)
    # The example fetches "now"; the emulated PCCS serves collateral valid at the case's time.
    call = 'fetch_cvm_bundle("app-uptodate", api=api, pccs=pccs)'
    assert call in example
    example = example.replace(call, call[:-1] + ", clock=lambda: AT)")
    namespace: dict[str, object] = {"AT": case("app-uptodate").at}
    exec(compile(example, "README.md", "exec"), namespace)
    assert namespace["report"].passed  # type: ignore[attr-defined]
    assert API_KEY.encode() not in (tmp_path / "cvm.bundle.json").read_bytes()


def test_finding_table_lists_every_check() -> None:
    from verifier import CHECKS

    table = README.split("### Finding ids", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    listed = {name for cell in rows for name in re.findall(r"`([a-z_.]+)`", cell)}
    core = {name for name in listed if not name.startswith("policy.")}
    assert core == set(CHECKS)
