"""Test setup: the real evidence corpus must be there, or the run fails (it never skips).

The corpus comes from other projects and is never copied into this repository.
"""

from __future__ import annotations

import pytest

from tests.corpus import CASES_DIR


def pytest_configure(config: pytest.Config) -> None:
    if not (CASES_DIR.is_dir() and any(CASES_DIR.iterdir())):
        raise pytest.UsageError(
            f"the real evidence corpus is missing: {CASES_DIR} (set CVM_VERIFIER_FIXTURES)"
        )
