"""The benchmarks still run (one timed run each); their figures are read by people, not asserted."""

from __future__ import annotations

import pytest

from benchmarks import bench_fleet, bench_verify


def test_bench_verify_prints_every_row_with_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_verify.main(["--runs", "1", "--case", "app-uptodate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("app-uptodate")
    assert len(lines) == 5  # header + dcap-qvl + three verify rows (the case has a chain)
    assert all(line.rstrip().endswith("x") for line in lines[1:])


def test_bench_verify_refuses_an_unknown_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_verify.main(["--runs", "1", "--case", "no-such-case"]) == 2
    assert "no corpus case" in capsys.readouterr().err


def test_bench_fleet_prints_both_throughputs_their_ratio_and_peak_rss(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert bench_fleet.main(["--items", "4", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "fleet of 4 items (corpus case app-uptodate, replicated), median of 1 rounds"
    assert lines[1].split()[:2] == ["1", "process"] and lines[1].endswith("1.00x")
    assert lines[2].split()[:2] == ["2", "processes"] and "items/s" in lines[2]
    assert lines[2].endswith("x (target >= 1.8x)")
    assert [line.split()[:5] for line in lines[3:]] == [
        ["peak", "RSS", "after", "4", "items:"],
        ["peak", "RSS", "after", "16", "items:"],
    ]


def test_bench_fleet_forges_a_fleet(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_fleet.main(["--items", "2", "--rounds", "1", "--forged"]) == 0
    assert "forged CVMs" in capsys.readouterr().out.splitlines()[0]


def test_bench_fleet_refuses_an_unknown_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_fleet.main(["--items", "2", "--case", "no-such-case"]) == 2
    assert "no corpus case" in capsys.readouterr().err
