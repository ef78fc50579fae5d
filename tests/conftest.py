"""Test setup: the real evidence corpus must be there, or the run fails (it never skips).

The corpus comes from other projects and is never copied into this repository.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.corpus import CASES_DIR, case
from tests.fetch.emulators import API_KEY, PccsEmulator, PhalaCloudEmulator
from tests.mutations import TALLIES


def pytest_configure(config: pytest.Config) -> None:
    if not (CASES_DIR.is_dir() and any(CASES_DIR.iterdir())):
        raise pytest.UsageError(
            f"the real evidence corpus is missing: {CASES_DIR} (set CVM_VERIFIER_FIXTURES)"
        )


# --- emulator servers of the fetch tests (real HTTP on 127.0.0.1, one per test) ---------------


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # The emulators are on 127.0.0.1: a proxy from the environment must not intercept them.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def phala() -> Iterator[PhalaCloudEmulator]:
    """The Phala Cloud API emulator; knows API_KEY and serves app-uptodate as a CVM."""
    emulator = PhalaCloudEmulator(API_KEY, cvms={"app-uptodate": case("app-uptodate").evidence})
    emulator.server.start()
    yield emulator
    emulator.server.stop()


@pytest.fixture
def pccs() -> Iterator[PccsEmulator]:
    """A PCCS emulator serving app-uptodate's collateral (FMSPC 20A06F)."""
    emulator = PccsEmulator(case("app-uptodate").collateral)
    emulator.server.start()
    yield emulator
    emulator.server.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the tamper matrix and the fuzzers tried (tests/mutations.py tallies)."""
    lines = [t.line() for t in TALLIES.values() if t.tried]
    if lines:
        terminalreporter.section("mutations and fuzzing")
        for line in lines:
            terminalreporter.write_line(line)
