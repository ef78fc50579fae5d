"""Limits of every network request, in one object (python-tuf style)."""

from __future__ import annotations

from dataclasses import dataclass

from .. import __version__


@dataclass(frozen=True)
class FetchConfig:
    """Timeouts, retries, backoff and size limits of the fetcher.

    ``retries`` counts the attempts after the first one; only connection failures, 429 and
    502/503/504 are retried, with exponential backoff (``backoff_base * 2**n``, at most
    ``backoff_max``) and jitter, never less than the server's ``Retry-After``. A ``Retry-After``
    longer than ``max_retry_after`` is not waited for: the fetch fails at once and says so.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 10.0
    max_retry_after: float = 60.0
    #: bodies are read up to this size; real attestations are ~100 KiB, collateral ~20 KiB
    max_body_bytes: int = 16 * 1024 * 1024
    #: honour HTTP(S)_PROXY / NO_PROXY from the environment
    trust_env: bool = True
    user_agent: str = f"cvm-verifier/{__version__}"

    def __post_init__(self) -> None:
        for name in ("connect_timeout", "read_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("retries", "backoff_base", "backoff_max", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be positive")
