"""The benchmarks still run (one timed run each); their figures are read by people, not asserted."""

from __future__ import annotations

import pytest

from benchmarks import bench_verify


def test_bench_verify_prints_every_row_with_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_verify.main(["--runs", "1", "--case", "app-uptodate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("app-uptodate")
    assert len(lines) == 5  # header + dcap-qvl + three verify rows (the case has a chain)
    assert all(line.rstrip().endswith("x") for line in lines[1:])


def test_bench_verify_refuses_an_unknown_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_verify.main(["--runs", "1", "--case", "no-such-case"]) == 2
    assert "no corpus case" in capsys.readouterr().err
