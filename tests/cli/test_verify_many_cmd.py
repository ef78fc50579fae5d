"""``cvm-verifier verify-many`` in-process: the same reports as single ``verify`` runs, in input
order whatever ``--jobs``; exit codes; bad items among good ones; the summary; outputs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.cli.runner import one_error_line, run_cli
from tests.corpus import CASES, FORGED, FORGED_DIR, Case, case, forged
from verifier.bundle import make_bundle
from verifier.cli import main
from verifier.cli.verify_many_cmd import Progress

ROOT = str(FORGED_DIR / "demo" / "trust-root.der")
DEMO = forged("demo")
FORGED_AT = DEMO.expected["verify_at"]


def _single_json(capsys: pytest.CaptureFixture[str], c: Case, *extra: str) -> tuple[int, str]:
    code, out, _ = run_cli(capsys, "verify", *c.cli_args(), "--format", "json", *extra)
    return code, out


def _lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def _canonical(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


def _by_time(cases: list[Case]) -> dict[str, list[Case]]:
    groups: dict[str, list[Case]] = defaultdict(list)
    for c in cases:
        groups[c.expected["verify_at"]].append(c)
    return groups


# --- the same verdicts and bytes as single runs ----------------------------------------------


@pytest.mark.parametrize("at", sorted(_by_time(CASES)))
def test_real_corpus_gives_the_single_verify_reports_byte_for_byte(
    capsys: pytest.CaptureFixture[str], at: str
) -> None:
    cases = _by_time(CASES)[at]
    code, out, _ = run_cli(
        capsys, "verify-many", *(str(c.path) for c in cases), "--at", at, "--format", "jsonl"
    )
    lines = _lines(out)
    assert [line["path"] for line in lines] == [str(c.path) for c in cases]
    single_codes = []
    for c, line in zip(cases, lines, strict=True):
        single_code, single = _single_json(capsys, c)
        single_codes.append(single_code)
        assert _canonical(line["report"]) == single, c.name
        assert line["report"]["verdict"] == c.expected["verdict"]
    assert code == max(single_codes)


def test_real_corpus_bundles_at_their_fetch_times_give_the_single_reports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Each case frozen into a bundle fetched at its verify_at: one run, every case at its own time.
    for c in CASES:
        bundle = make_bundle(
            c.evidence,
            fetched_at=c.at,
            collateral=c.collateral,
            chain=c.chain,
            compose=c.compose,
        )
        (tmp_path / f"{c.name}.json").write_text(bundle.to_json())
    code, out, _ = run_cli(
        capsys, "verify-many", str(tmp_path), "--at", "fetched", "--format", "jsonl"
    )
    by_path = {line["path"]: line["report"] for line in _lines(out)}
    assert sorted(by_path) == sorted(str(tmp_path / f"{c.name}.json") for c in CASES)
    for c in CASES:
        _, single = _single_json(capsys, c)
        assert _canonical(by_path[str(tmp_path / f"{c.name}.json")]) == single, c.name
    assert code == 1  # the corpus has failing cases


def test_forged_fixtures_under_the_test_root_give_the_single_reports(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run_cli(
        capsys, "verify-many", str(FORGED_DIR), "--trust-root", ROOT, "--at", FORGED_AT,
        "--format", "jsonl", "--jobs", "2",
    )  # fmt: skip
    assert code == 1
    by_path = {line["path"]: line["report"] for line in _lines(out)}
    assert sorted(by_path) == sorted(str(c.path) for c in FORGED)
    for c in FORGED:
        _, single = _single_json(capsys, c)
        assert _canonical(by_path[str(c.path)]) == single, c.name
        failed = sorted(f["id"] for f in by_path[str(c.path)]["findings"] if f["status"] == "fail")
        assert failed == sorted(c.expected["failed_checks"])


def test_no_trust_root_is_read_from_the_evidence_directories(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Every forged folder holds a trust-root.der; only --trust-root may say which root to use.
    code, out, _ = run_cli(
        capsys, "verify-many", str(FORGED_DIR), "--at", FORGED_AT, "--format", "jsonl"
    )
    assert code == 1
    for line in _lines(out):
        report = line["report"]
        assert report["verdict"] == "fail"
        assert report["quote"]["trust_root"]["intel"] is True
        assert "quote_signature" in {f["id"] for f in report["findings"] if f["status"] == "fail"}


def test_a_plain_evidence_file_with_the_default_collateral(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [str(DEMO.evidence_path), "--collateral", str(DEMO.path / "collateral.json")]
    args += ["--trust-root", ROOT, "--at", FORGED_AT]
    code, out, _ = run_cli(capsys, "verify-many", *args, "--format", "jsonl")
    single_code, single, _ = run_cli(capsys, "verify", *args, "--format", "json")
    assert code == single_code == 0
    (line,) = _lines(out)
    assert _canonical(line["report"]) == single


def test_the_policy_reaches_every_worker(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    app, kms = case("app-uptodate"), case("kms-uptodate")
    policy = tmp_path / "app.toml"
    assert main(["policy", "init", *app.cli_args(), "-o", str(policy)]) == 0
    at = app.expected["verify_at"]  # kms-uptodate's collateral is valid then too
    code, out, _ = run_cli(
        capsys, "verify-many", str(app.path), str(kms.path), "--policy", str(policy),
        "--at", at, "--format", "jsonl", "--jobs", "2",
    )  # fmt: skip
    assert code == 1
    app_line, kms_line = _lines(out)
    for c, line in ((app, app_line), (kms, kms_line)):
        args = c.cli_args()
        args[args.index("--at") + 1] = at
        _, single, _ = run_cli(capsys, "verify", *args, "--format", "json", "--policy", str(policy))
        assert _canonical(line["report"]) == single
    assert app_line["report"]["verdict"] == "pass"
    # Another app: the pinned policy refuses it, and says so.
    failed = {f["id"] for f in kms_line["report"]["findings"] if f["status"] == "fail"}
    assert {"policy.os", "policy.app"} <= failed
    assert kms_line["report"]["policy"] == app_line["report"]["policy"]
    assert app_line["report"]["policy"]["sha256"] is not None


# --- order, jobs, exit codes -----------------------------------------------------------------


def _mixed_fleet(tmp_path: Path) -> list[str]:
    bad = tmp_path / "bad.json"
    bad.write_text('{"quote": "zz"}')
    return [str(DEMO.path), str(bad), str(FORGED_DIR / "cases"), str(forged("tcb-outofdate").path)]


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_one_and_two_jobs_give_identical_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, fmt: str
) -> None:
    common = [*_mixed_fleet(tmp_path), "--trust-root", ROOT, "--at", FORGED_AT, "--format", fmt]
    one = run_cli(capsys, "verify-many", *common, "--jobs", "1")
    two = run_cli(capsys, "verify-many", *common, "--jobs", "2")
    assert one == two
    assert one[0] == 1


def test_results_follow_the_order_of_the_paths(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(c.path) for c in reversed(FORGED)]
    _, out, _ = run_cli(
        capsys, "verify-many", *paths, "--trust-root", ROOT, "--at", FORGED_AT, "--jobs", "2"
    )
    listed = [line.split()[1] for line in out.split("\n\n")[0].splitlines()]
    assert listed == paths


def test_all_passing_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(
        capsys, "verify-many", str(DEMO.path), str(forged("tcb-outofdate").path),
        "--trust-root", ROOT, "--at", FORGED_AT,
    )  # fmt: skip
    assert code == 0
    assert out.splitlines()[:2] == [f"PASS {DEMO.path}", f"PASS {forged('tcb-outofdate').path}"]
    assert out.splitlines()[3].startswith("summary: PASS 2 items: 2 passed, 0 failed")
    assert err == ""  # stderr is no terminal: no progress bar


def test_a_malformed_item_among_good_ones_fails_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    paths = _mixed_fleet(tmp_path)
    code, out, err = run_cli(
        capsys, "verify-many", *paths, "--trust-root", ROOT, "--at", FORGED_AT, "--format", "jsonl"
    )
    assert code == 1
    lines = _lines(out)
    assert len(lines) == 2 + len(FORGED)  # demo, bad, every forged case, tcb-outofdate again
    bad = lines[1]
    assert bad["path"] == paths[1]
    assert [f["id"] for f in bad["report"]["findings"] if f["status"] == "fail"] == [
        "evidence_parse"
    ]
    assert lines[0]["report"]["verdict"] == "pass"
    assert lines[-1]["report"]["verdict"] == "pass"
    # The summary is on stderr (stdout is JSON Lines only) and names the bad item.
    summary = err.splitlines()
    assert summary[0].startswith(f"summary: FAIL {len(lines)} items: 3 passed, ")
    assert any(s.split()[0] == "evidence_parse" and paths[1] in s for s in summary[2:])


def test_the_text_summary_groups_failures_by_finding_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run_cli(
        capsys, "verify-many", *_mixed_fleet(tmp_path), "--trust-root", ROOT, "--at", FORGED_AT
    )
    assert code == 1
    items, summary = out.split("\n\n")
    failing = [line for line in items.splitlines() if line.startswith("FAIL ")]
    head, title, *groups = summary.splitlines()
    assert head == (
        f"summary: FAIL {len(items.splitlines())} items: 3 passed, {len(failing)} failed "
        f"(policy baseline; at {FORGED_AT})"
    )
    assert title == "failures by finding id:"
    counts = {g.split()[0]: int(g.split()[1]) for g in groups}
    assert counts["duplicate_event"] == 2  # duplicate-identity-event and identity-after-ready
    assert counts["evidence_parse"] == 1
    assert sum(counts.values()) == sum(len(line.split("  ")[1].split(", ")) for line in failing)
    assert list(counts.values()) == sorted(counts.values(), reverse=True)


def test_markdown_summary_and_output_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file, summary_file = tmp_path / "out" / "fleet.jsonl", tmp_path / "summary.md"
    out_file.parent.mkdir()
    summary_file.write_text("earlier step\n")
    code, out, err = run_cli(
        capsys, "verify-many", str(FORGED_DIR), "--trust-root", ROOT, "--at", FORGED_AT,
        "--format", "jsonl", "-o", str(out_file), "--summary", str(summary_file),
    )  # fmt: skip
    assert code == 1
    assert out == ""
    assert err.startswith("summary: FAIL 15 items: 2 passed, 13 failed")
    assert len(_lines(out_file.read_text())) == 15
    assert os.listdir(out_file.parent) == ["fleet.jsonl"]  # no temporary file left
    markdown = summary_file.read_text()
    assert markdown.startswith("earlier step\n### cvm-verifier verify-many: FAIL\n")
    assert f"| `td_debug` | 1 | `{forged('debug-td').path}` |" in markdown


def test_interrupt_exits_130_and_leaves_no_output(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from verifier import fleet

    real_add = fleet.FleetSummary.add

    def add_then_interrupt(self: fleet.FleetSummary, result: fleet.ItemResult) -> None:
        real_add(self, result)
        if self.total == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(fleet.FleetSummary, "add", add_then_interrupt)
    target = tmp_path / "fleet.jsonl"
    code, _, err = run_cli(
        capsys, "verify-many", str(FORGED_DIR), "--trust-root", ROOT, "--at", FORGED_AT,
        "--jobs", "2", "-o", str(target),
    )  # fmt: skip
    assert code == 130
    assert "interrupted" in one_error_line(err)
    assert os.listdir(tmp_path) == []


def test_ctrl_c_stops_a_real_parallel_run_with_130_and_one_line() -> None:
    # A real process and a real SIGINT to its process group, as a terminal sends it: the
    # workers and the fork server must not print tracebacks, and no process may stay behind.
    command = [sys.executable, "-m", "verifier", "verify-many", *[str(FORGED_DIR)] * 20]
    command += ["--trust-root", ROOT, "--at", FORGED_AT, "--jobs", "2", "--format", "jsonl"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert process.stdout is not None
    assert json.loads(process.stdout.readline())["path"]  # running; the full pipe holds it there
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.decode() == "cvm-verifier: error: interrupted\n"
    deadline = time.monotonic() + 10
    while _alive_in_group(process.pid):  # the fork server and workers exit with their parent
        assert time.monotonic() < deadline, "processes of the interrupted run are still alive"
        time.sleep(0.05)


def _alive_in_group(group: int) -> list[int]:
    """Processes of a process group that are still running (zombies wait for init to reap them)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # gone meanwhile
            state, pgrp = fields[0], int(fields[2])
            if pgrp == group and state not in ("Z", "X"):
                alive.append(int(entry.name))
    return alive


# --- usage errors: exit 2, one line ----------------------------------------------------------


def test_bad_policy_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text("version = 1\n")  # pins nothing, not unpinned: refused
    code, out, err = run_cli(capsys, "verify-many", str(DEMO.path), "--policy", str(policy))
    assert (code, out) == (2, "")
    assert "bad.toml" in one_error_line(err)


def test_no_items_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing to verify")
    code, _, err = run_cli(capsys, "verify-many", str(tmp_path))
    assert code == 2
    assert "no evidence found" in one_error_line(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["MISSING"],
        [str(DEMO.path), "--jobs", "0"],
        [str(DEMO.path), "--jobs", "many"],
        [str(DEMO.path), "--at", "2026-01-01T00:00:00"],
        [str(DEMO.path), "--collateral", str(DEMO.evidence_path)],
        [str(DEMO.path), "--trust-root", str(DEMO.path / "chain.pem")],
        [str(DEMO.path), "--format", "json"],
        [str(DEMO.path), "-o", "MISSING/out.txt"],
        [],
    ],
)
def test_bad_options_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    argv = [a.replace("MISSING", str(tmp_path / "missing")) for a in argv]
    code, out, err = run_cli(capsys, "verify-many", *argv)
    assert (code, out) == (2, "")
    one_error_line(err)


# --- the progress bar ------------------------------------------------------------------------


def test_progress_bar_renders_counts_and_rate() -> None:
    import io

    ticks = iter([0.0, 2.0, 2.05, 4.0, 4.0])
    stream = io.StringIO()
    progress = Progress(stream, 8, active=True, clock=lambda: next(ticks))
    progress.update(4, 1)  # t=2: drawn
    progress.update(5, 1)  # t=2.05: throttled
    progress.update(8, 2)  # t=4: the last one is always drawn
    progress.close()
    assert stream.getvalue() == (
        "\r\x1b[K[############............] 4/8  1 failed  2.0/s"
        "\r\x1b[K[########################] 8/8  2 failed  2.0/s"
        "\r\x1b[K"
    )


def test_progress_is_silent_when_inactive() -> None:
    import io

    stream = io.StringIO()
    progress = Progress(stream, None, active=False)
    progress.update(1, 0)
    progress.close()
    assert stream.getvalue() == ""
